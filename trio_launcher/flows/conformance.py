"""The runtime conformance kit: the pipe protocol's checks, run against any runtime command.

``trio-launcher flows check-runtime -- COMMAND...`` starts the runtime the way
the runner does (:func:`~.runtime_process.open_runtime`) and checks what
``docs/flow-runtime-protocol.md`` asks of it. The checks that load modules
need three modules in the runtime's language (``echo``, ``fail``, ``count``,
described in :data:`MODULES`); the kit has them for the shipped languages, and
takes them from a folder (``--modules DIR``, files ``echo.*``, ``fail.*``,
``count.*``) for any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import attrs
import orjson
import trio

from .errors import RuntimeExited, RuntimeStartFailed
from .runtime_process import RuntimeProcess, open_runtime
from .wire import Frame

__all__ = ["MODULES", "CheckResult", "check_runtime", "modules_from"]

#: What each module of the kit does, whatever its language.
MODULES = {
    "echo": "sends every message it gets on port 'out', unchanged",
    "fail": "raises on its third source line, whatever it gets",
    "count": "adds 1 to context['count'] (0 if absent) and sends the new count on 'out'",
}

_SHIPPED: Mapping[str, Mapping[str, str]] = {
    "python": {
        "echo": "def handle(message, context, send):\n    send('out', message)\n",
        "fail": "def handle(message, context, send):\n    x = 1\n    raise ValueError('no')\n",
        "count": (
            "def handle(message, context, send):\n"
            "    context['count'] = context.get('count', 0) + 1\n"
            "    send('out', context['count'])\n"
        ),
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
    },
}

#: Seconds any one answer may take.
ANSWER_TIMEOUT = 10.0


@attrs.frozen
class CheckResult:
    """One check: its name, whether it passed, and why not."""

    name: str
    passed: bool
    detail: str = ""


class _Failed(Exception):
    """A check saw something the protocol does not allow."""


def modules_from(folder: Path) -> dict[str, str]:
    """The kit's modules from ``folder`` (``echo.*``, ``fail.*``, ``count.*``)."""
    found = {}
    for name in MODULES:
        matches = sorted(folder.glob(f"{name}.*"))
        if not matches:
            raise FileNotFoundError(f"{folder}: no {name}.* ({MODULES[name]})")
        found[name] = matches[0].read_text(encoding="utf-8")
    return found


async def check_runtime(
    command: Sequence[str], *, modules: Mapping[str, str] | None = None
) -> list[CheckResult]:
    """Run every check against a fresh process of ``command``; one result per check."""
    try:
        async with open_runtime(command) as runtime:
            assert runtime.hello is not None
            sources = modules or _SHIPPED.get(runtime.hello.runtime)
            results = [CheckResult("hello", True)]
            for name, check, needs_modules in _CHECKS:
                if needs_modules and sources is None:
                    detail = "no modules for this runtime's language: give --modules DIR"
                    results.append(CheckResult(name, False, detail))
                else:
                    results.append(await _run(name, check, runtime, sources or {}))
            return results
    except RuntimeStartFailed as exc:
        return [CheckResult("hello", False, str(exc))]


Check = Callable[[RuntimeProcess, Mapping[str, str]], Awaitable[None]]


async def _run(
    name: str, check: Check, runtime: RuntimeProcess, sources: Mapping[str, str]
) -> CheckResult:
    try:
        with trio.fail_after(ANSWER_TIMEOUT):
            await check(runtime, sources)
    except _Failed as exc:
        return CheckResult(name, False, str(exc))
    except trio.TooSlowError:
        return CheckResult(name, False, f"no answer within {ANSWER_TIMEOUT:g} s")
    except RuntimeExited as exc:
        return CheckResult(name, False, f"the runtime exited: {exc}")
    return CheckResult(name, True)


async def _next(runtime: RuntimeProcess, *kinds: str) -> Frame:
    """The next frame of one of ``kinds``, skipping ``log`` and ``ctx.set`` frames."""
    while True:
        frame = await runtime.receive()
        if frame.type in kinds:
            return frame
        if frame.type not in ("log", "ctx.set"):
            raise _Failed(f"expected {' or '.join(kinds)}, got {frame.header}")


async def _ping(runtime: RuntimeProcess, _: Mapping[str, str]) -> None:
    runtime.send({"t": "ping", "id": "p1"})
    pong = await _next(runtime, "pong")
    if pong.header.get("id") != "p1":
        raise _Failed(f"pong for {pong.header.get('id')!r}, not 'p1'")


async def _unknown(runtime: RuntimeProcess, _: Mapping[str, str]) -> None:
    runtime.send({"t": "no-such-frame"})
    runtime.send({"t": "ping", "id": "p2"})
    await _next(runtime, "pong")


async def _load(runtime: RuntimeProcess, module: str, source: str, context: object) -> None:
    body = orjson.dumps({"source": source, "context": context})
    runtime.send({"t": "load", "module": module}, body)
    frame = await _next(runtime, "loaded", "error")
    if frame.type == "error":
        raise _Failed(f"{module} did not load: {frame.body.decode(errors='replace')}")


def _invoke(runtime: RuntimeProcess, module: str, invocation: str, message: object) -> None:
    header = {"t": "invoke", "id": invocation, "module": module, "port": "in"}
    runtime.send(header, orjson.dumps(message))


async def _echo_in_order(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "echo", sources["echo"], {})
    for number in range(100):
        _invoke(runtime, "echo", f"e{number}", {"n": number})
    for number in range(100):
        emit = await _next(runtime, "emit")
        if emit.header.get("id") != f"e{number}" or orjson.loads(emit.body) != {"n": number}:
            raise _Failed(f"emit {number} out of order or changed: {emit.header}")
        done = await _next(runtime, "done")
        if done.header.get("id") != f"e{number}":
            raise _Failed(f"done for {done.header.get('id')!r}, expected 'e{number}'")


async def _failure(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "fail", sources["fail"], {})
    _invoke(runtime, "fail", "f1", None)
    runtime.send({"t": "ping", "id": "after-failure"})
    error = await _next(runtime, "error", "done")
    if error.type != "error" or error.header.get("id") != "f1":
        raise _Failed(f"expected an error for f1, got {error.header}")
    line = orjson.loads(error.body).get("line")
    if line != 3:
        raise _Failed(f"the error names line {line!r}, not 3")
    pong = await _next(runtime, "pong", "done")
    if pong.type != "pong":
        raise _Failed("a failed invocation was followed by done")


async def _context(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "count", sources["count"], {"count": 41})
    _invoke(runtime, "count", "c1", None)
    written = await runtime.receive()
    if written.type != "ctx.set" or orjson.loads(written.body) != {"key": "count", "value": 42}:
        raise _Failed(f"expected ctx.set count=42 first, got {written.header} {written.body!r}")
    emit = await _next(runtime, "emit")
    if orjson.loads(emit.body) != 42:
        raise _Failed(f"the count sent is {emit.body!r}, not 42")
    await _next(runtime, "done")


#: name, check, whether it loads modules (then it needs sources in the runtime's language).
_CHECKS: tuple[tuple[str, Check, bool], ...] = (
    ("ping", _ping, False),
    ("unknown frame", _unknown, False),
    ("load and invoke, in order", _echo_in_order, True),
    ("a failing invocation", _failure, True),
    ("context", _context, True),
)
