"""``trio-launcher flows``: the flow runner's commands (so far: ``check-runtime``).

``check-runtime [--modules DIR] -- COMMAND...`` runs the pipe protocol's
conformance checks against a runtime command and prints one line per check;
it exits 0 if every check passed or was skipped (a capability the runtime
does not announce), 1 otherwise.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Actions."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check-runtime",
        help="run the pipe protocol's checks against a runtime command",
        description="Start COMMAND as the flow runner would (its two FIFOs appended) and "
        "check what docs/flow-runtime-protocol.md asks of it.",
    )
    check.add_argument(
        "--modules",
        metavar="DIR",
        help="the kit's modules in the runtime's language (echo.*, fail.*, count.*, and "
        "sleepy.* for async modules); not needed for Python and Node.js",
    )
    check.add_argument("runtime_command", nargs="+", metavar="COMMAND", help="after --")


def run(args: argparse.Namespace) -> int:
    """Print each check as ``PASS name``, ``FAIL name: why`` or ``SKIP name: why``; 0 if
    none failed."""
    from pathlib import Path

    import trio

    from ..flows.conformance import check_runtime, modules_from

    modules = None
    if args.modules:
        try:
            modules = modules_from(Path(args.modules))
        except OSError as exc:
            print(f"trio-launcher flows check-runtime: --modules: {exc}")
            return 2
    results = trio.run(lambda: check_runtime(args.runtime_command, modules=modules))
    for result in results:
        if result.passed:
            print(f"PASS {result.name}")
        else:
            print(f"{'SKIP' if result.skipped else 'FAIL'} {result.name}: {result.detail}")
    passed = sum(result.passed for result in results)
    skipped = sum(result.skipped for result in results)
    print(f"{passed} of {len(results)} checks passed" + (f", {skipped} skipped" * bool(skipped)))
    return 0 if passed + skipped == len(results) else 1
