"""``trio-launcher flows``: the flow runner's commands.

``serve`` runs a flow runner with its FBP endpoint (:mod:`.flows_serve`);
``runtimes``, ``ls``, ``deploy``, ``rm``, ``start``, ``stop``, ``break``,
``unbreak``, ``step``, ``send`` and ``tail`` talk to one (:mod:`.flows_client`).

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
    from . import flows_serve

    serve = actions.add_parser(
        "serve",
        help="run a flow runner and its FBP endpoint",
        description="Run a flow runner (the shipped runtimes) and serve it over the FBP "
        "network protocol on WebSocket, until SIGTERM or SIGINT.",
    )
    flows_serve.add_arguments(serve)
    from . import flows_client

    flows_client.add_parsers(actions)


def run(args: argparse.Namespace) -> int:
    """Run the action."""
    if args.action == "serve":
        from . import flows_serve

        return flows_serve.run(args)
    if args.action != "check-runtime":
        from . import flows_client

        return flows_client.run(args)
    return _check_runtime(args)


def _check_runtime(args: argparse.Namespace) -> int:
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
