"""The runtime conformance kit: the pipe protocol's checks, run against any runtime command.

``trio-launcher flows check-runtime -- COMMAND...`` starts the runtime the way
the runner does (:func:`~.runtime_process.open_runtime`) and checks what
``docs/flow-runtime-protocol.md`` asks of it. The checks that load modules
need modules in the runtime's language (``echo``, ``fail``, ``count``, for a
runtime with async modules ``sleepy``, and for one with packages ``packaged``
and the package it imports; described in :data:`MODULES`); the kit has them
for the shipped languages, and takes them from a folder (``--modules DIR``,
files ``echo.*``, ``fail.*``, ``count.*``, ``sleepy.*``, ``packaged.*`` and
the folder ``packaged/``) for any other. A check of a capability that the
runtime's ``hello`` does not announce is skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import orjson
import trio

from .conformance_checks import CHECKS, PACKAGE, PACKAGE_VALUE, Check, CheckFailed
from .errors import RuntimeExited, RuntimeStartFailed
from .runtime_process import RuntimeProcess, open_runtime

__all__ = ["MODULES", "CheckResult", "check_runtime", "modules_from"]

#: What each module of the kit does, whatever its language.
MODULES = {
    "echo": "sends every message it gets on port 'out', unchanged",
    "fail": "raises on its third source line, whatever it gets",
    "count": "adds 1 to context['count'] (0 if absent) and sends the new count on 'out'",
    "sleepy": "async: awaits about 10 ms, then sends its message on 'out' "
    "(only for a runtime with the capability 'async-modules')",
    "packaged": "imports, at the top of its source, the package whose files are in the "
    f"folder {PACKAGE}, and sends the package's value, {PACKAGE_VALUE!r}, on 'out' "
    "(only for a runtime with the capability 'packages')",
}
#: The modules a runtime without async modules or packages can do without.
_OPTIONAL = {"sleepy", "packaged"}

_SHIPPED: Mapping[str, Mapping[str, str]] = {
    "python": {
        "echo": "def handle(message, context, send):\n    send('out', message)\n",
        "fail": "def handle(message, context, send):\n    x = 1\n    raise ValueError('no')\n",
        "count": (
            "def handle(message, context, send):\n"
            "    context['count'] = context.get('count', 0) + 1\n"
            "    send('out', context['count'])\n"
        ),
        "sleepy": (
            "import asyncio\n"
            "async def handle(message, context, send):\n"
            "    await asyncio.sleep(0.01)\n"
            "    send('out', message)\n"
        ),
        "packaged": (
            "import conformance_pkg\n\n"
            "def handle(message, context, send):\n"
            "    send('out', conformance_pkg.VALUE)\n"
        ),
        f"{PACKAGE}conformance_pkg/__init__.py": f"VALUE = {PACKAGE_VALUE!r}\n",
    },
    "node": {
        "echo": "function handle(message, context, send) {\n  send('out', message);\n}\n",
        "fail": "function handle(message, context, send) {\n  const x = 1;\n"
        "  throw new Error('no');\n}\n",
        "count": (
            "function handle(message, context, send) {\n"
            "  context.count = (context.count || 0) + 1;\n"
            "  send('out', context.count);\n}\n"
        ),
        "sleepy": (
            "async function handle(message, context, send) {\n"
            "  await new Promise((resolve) => setTimeout(resolve, 10));\n"
            "  send('out', message);\n}\n"
        ),
        "packaged": (
            "const pkg = require('conformance-pkg');\n"
            "function handle(message, context, send) {\n"
            "  send('out', pkg.value);\n}\n"
        ),
        f"{PACKAGE}node_modules/conformance-pkg/package.json": (
            '{"name": "conformance-pkg", "version": "1.0.0", "main": "index.js"}\n'
        ),
        f"{PACKAGE}node_modules/conformance-pkg/index.js": (
            f"module.exports = {{ value: {orjson.dumps(PACKAGE_VALUE).decode()} }};\n"
        ),
    },
}

#: Seconds any one answer may take.
ANSWER_TIMEOUT = 10.0


@attrs.frozen
class CheckResult:
    """One check: its name, whether it passed, and why not (or why it was skipped)."""

    name: str
    passed: bool
    detail: str = ""
    skipped: bool = False


def modules_from(folder: Path) -> dict[str, str]:
    """The kit's modules from ``folder`` (``echo.*``, ``fail.*``, ``count.*``, ...).

    The files of the folder ``packaged/`` in ``folder``, if any, are the
    package's (named ``packaged/`` and their path in it).

    Raises:
        FileNotFoundError: a module other than ``sleepy`` and ``packaged`` has no file.
    """
    found = {}
    for name in MODULES:
        matches = sorted(folder.glob(f"{name}.*"))
        if matches:
            found[name] = matches[0].read_text(encoding="utf-8")
        elif name not in _OPTIONAL:
            raise FileNotFoundError(f"{folder}: no {name}.* ({MODULES[name]})")
    return found | _package_from(folder / PACKAGE)


def _package_from(package: Path) -> dict[str, str]:
    """The files under ``package``, as sources named :data:`PACKAGE` and their path."""
    files = sorted(file for file in package.rglob("*") if file.is_file())
    return {
        f"{PACKAGE}{file.relative_to(package).as_posix()}": file.read_text(encoding="utf-8")
        for file in files
    }


async def check_runtime(
    command: Sequence[str], *, modules: Mapping[str, str] | None = None
) -> list[CheckResult]:
    """Run every check against a fresh process of ``command``; one result per check."""
    try:
        async with open_runtime(command) as runtime:
            assert runtime.hello is not None
            sources = modules or _SHIPPED.get(runtime.hello.runtime)
            capabilities = set(runtime.hello.capabilities)
            results = [CheckResult("hello", True)]
            for name, check, needs_modules, capability in CHECKS:
                if capability is not None and capability not in capabilities:
                    detail = f"the runtime does not announce the capability {capability!r}"
                    results.append(CheckResult(name, False, detail, skipped=True))
                elif needs_modules and sources is None:
                    detail = "no modules for this runtime's language: give --modules DIR"
                    results.append(CheckResult(name, False, detail))
                else:
                    results.append(await _run(name, check, runtime, sources or {}))
            return results
    except RuntimeStartFailed as exc:
        return [CheckResult("hello", False, str(exc))]


async def _run(
    name: str, check: Check, runtime: RuntimeProcess, sources: Mapping[str, str]
) -> CheckResult:
    try:
        with trio.fail_after(ANSWER_TIMEOUT):
            await check(runtime, sources)
    except CheckFailed as exc:
        return CheckResult(name, False, str(exc))
    except trio.TooSlowError:
        return CheckResult(name, False, f"no answer within {ANSWER_TIMEOUT:g} s")
    except RuntimeExited as exc:
        return CheckResult(name, False, f"the runtime exited: {exc}")
    return CheckResult(name, True)
