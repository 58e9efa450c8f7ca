"""The conformance kit's checks: each drives a runtime and raises :class:`CheckFailed`.

Every check gets the runtime (its ``hello`` already received) and the kit's
module sources in the runtime's language (see :data:`.conformance.MODULES`),
and loads its modules under ids of its own, so that the checks run one after
the other in one runtime process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from .runtime_process import RuntimeProcess
from .wire import Frame, pack_items, unpack_items

__all__ = ["CHECKS", "PACKAGE", "PACKAGE_VALUE", "Check", "CheckFailed"]

Check = Callable[[RuntimeProcess, Mapping[str, str]], Awaitable[None]]

#: The prefix of the sources that are the files of the package that ``packaged`` imports:
#: ``PACKAGE + relative path`` is a file, written into the directory the load's paths name.
PACKAGE = "packaged/"
#: The value that the ``packaged`` module sends, which it has from the package.
PACKAGE_VALUE = "conformance-pkg 1.0"


class CheckFailed(Exception):
    """A check saw something the protocol does not allow."""


async def _next(runtime: RuntimeProcess, *kinds: str) -> Frame:
    """The next frame of one of ``kinds``, skipping ``log`` and ``ctx.set`` frames."""
    while True:
        frame = await runtime.receive()
        if frame.type in kinds:
            return frame
        if frame.type not in ("log", "ctx.set"):
            raise CheckFailed(f"expected {' or '.join(kinds)}, got {frame.header}")


async def _ping(runtime: RuntimeProcess, _: Mapping[str, str]) -> None:
    runtime.send({"t": "ping", "id": "p1"})
    pong = await _next(runtime, "pong")
    if pong.header.get("id") != "p1":
        raise CheckFailed(f"pong for {pong.header.get('id')!r}, not 'p1'")


async def _unknown(runtime: RuntimeProcess, _: Mapping[str, str]) -> None:
    runtime.send({"t": "no-such-frame"})
    runtime.send({"t": "ping", "id": "p2"})
    await _next(runtime, "pong")


async def _load(
    runtime: RuntimeProcess,
    module: str,
    source: str,
    context: object,
    *,
    is_async: bool = False,
    paths: list[str] | None = None,
) -> None:
    """Load ``module``; its ``loaded`` must say whether its ``handle`` is ``is_async``."""
    spec: dict[str, object] = {"source": source, "context": context}
    if paths is not None:
        spec["paths"] = paths
    runtime.send({"t": "load", "module": module}, orjson.dumps(spec))
    frame = await _next(runtime, "loaded", "error")
    if frame.type == "error":
        raise CheckFailed(f"{module} did not load: {frame.body.decode(errors='replace')}")
    said = _body(frame)
    if said != {"async": is_async}:
        raise CheckFailed(f"loaded {module} says {said!r}, not {{'async': {is_async}}}")


def _body(frame: Frame) -> Any:
    """A frame's decoded body (None if empty); a body that is not JSON fails the check."""
    try:
        return orjson.loads(frame.body) if frame.body else None
    except orjson.JSONDecodeError as exc:
        raise CheckFailed(f"{frame.header} has a body that is not JSON: {exc}") from None


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
            raise CheckFailed(f"emit {number} out of order or changed: {emit.header}")
        done = await _next(runtime, "done")
        if done.header.get("id") != f"e{number}":
            raise CheckFailed(f"done for {done.header.get('id')!r}, expected 'e{number}'")


async def _failure(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "fail", sources["fail"], {})
    _invoke(runtime, "fail", "f1", None)
    runtime.send({"t": "ping", "id": "after-failure"})
    error = await _next(runtime, "error", "done")
    if error.type != "error" or error.header.get("id") != "f1":
        raise CheckFailed(f"expected an error for f1, got {error.header}")
    line = orjson.loads(error.body).get("line")
    if line != 3:
        raise CheckFailed(f"the error names line {line!r}, not 3")
    done = await _next(runtime, "done", "pong")
    if done.type != "done" or done.header.get("id") != "f1":
        raise CheckFailed(f"expected done for f1 after its error, got {done.header}")
    await _next(runtime, "pong")


async def _context(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "count", sources["count"], {"count": 41})
    _invoke(runtime, "count", "c1", None)
    written = await runtime.receive()
    if written.type != "ctx.set" or orjson.loads(written.body) != {"key": "count", "value": 42}:
        raise CheckFailed(f"expected ctx.set count=42 first, got {written.header} {written.body!r}")
    emit = await _next(runtime, "emit")
    if orjson.loads(emit.body) != 42:
        raise CheckFailed(f"the count sent is {emit.body!r}, not 42")
    await _next(runtime, "done")


#: Source text that compiles in no language.
NOT_A_MODULE = ")(\n"


def _source(sources: Mapping[str, str], module: str) -> str:
    if module not in sources:
        raise CheckFailed(f"no {module} module given (--modules DIR, file {module}.*)")
    return sources[module]


def _expect(frame: Frame, body: object, **header: str) -> None:
    """``frame`` has the header fields ``header`` and the body ``body``."""
    for key, value in header.items():
        if frame.header.get(key) != value:
            raise CheckFailed(f"expected {key} {value!r} in {frame.header}")
    if _body(frame) != body:
        raise CheckFailed(f"{frame.header} has the body {frame.body!r}, expected {body!r}")


async def _loaded_sync(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "a.echo", sources["echo"], {}, is_async=False)


async def _failed_reload(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "r.count", sources["count"], {"count": 5})
    body = orjson.dumps({"source": NOT_A_MODULE, "context": {}})
    runtime.send({"t": "load", "module": "r.count"}, body)
    error = await _next(runtime, "error", "loaded")
    if error.type != "error" or "id" in error.header:
        raise CheckFailed(f"source {NOT_A_MODULE!r} should be a load error, got {error.header}")
    _invoke(runtime, "r.count", "r1", None)
    emit = await _next(runtime, "emit")
    _expect(emit, 6, id="r1", module="r.count")  # the old module, with its context
    _expect(await _next(runtime, "done"), None, id="r1")


async def _ctx_put(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "p.count", sources["count"], {"count": 1})
    put = orjson.dumps({"context": {"count": 100}})
    runtime.send({"t": "ctx.put", "module": "p.count"}, put)
    _invoke(runtime, "p.count", "p1", None)
    _expect(await _next(runtime, "emit"), 101, id="p1")
    _expect(await _next(runtime, "done"), None, id="p1")


async def _drain_sync(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "d.echo", sources["echo"], {})
    _invoke(runtime, "d.echo", "d1", "x")
    runtime.send({"t": "drain", "module": "d.echo"})
    _expect(await _next(runtime, "emit"), "x", id="d1")
    _expect(await _next(runtime, "done"), None, id="d1")
    _expect(await _next(runtime, "drained"), None, module="d.echo")


async def _async_pipelined(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "s.sleepy", _source(sources, "sleepy"), {}, is_async=True)
    expected = {f"s{number}": {"n": number} for number in range(10)}
    for invocation, message in expected.items():
        _invoke(runtime, "s.sleepy", invocation, message)
    emitted: set[str] = set()
    done: set[str] = set()
    while len(done) < len(expected):
        frame = await _next(runtime, "emit", "done")
        invocation = str(frame.header.get("id"))
        if invocation not in expected or invocation in done:
            raise CheckFailed(f"{frame.header}: not an invocation in flight")
        if frame.type == "emit":
            _expect(frame, expected[invocation], module="s.sleepy", port="out")
            emitted.add(invocation)
        elif invocation not in emitted:
            raise CheckFailed(f"done for {invocation} before its emit")
        else:
            done.add(invocation)


async def _drain_async(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "da.sleepy", _source(sources, "sleepy"), {}, is_async=True)
    _invoke(runtime, "da.sleepy", "da1", "x")
    runtime.send({"t": "drain", "module": "da.sleepy"})
    _expect(await _next(runtime, "emit"), "x", id="da1")
    _expect(await _next(runtime, "done"), None, id="da1")
    _expect(await _next(runtime, "drained"), None, module="da.sleepy")


async def _wire(runtime: RuntimeProcess, module: str, target: str, fence: str | None) -> None:
    ports = {"out": {"local": [[target, "in"]], "runner": False}}
    runtime.send({"t": "wire", "module": module}, orjson.dumps({"ports": ports, "fence": fence}))
    _expect(await _next(runtime, "wired"), {"fence": fence}, module=module)


async def _local_edge(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "l.echo", sources["echo"], {})
    await _load(runtime, "l.count", sources["count"], {})
    await _wire(runtime, "l.echo", "l.count", None)
    _invoke(runtime, "l.echo", "l1", "x")
    _expect(await _next(runtime, "emit"), 1, id="l1", module="l.count", port="out")
    _expect(await _next(runtime, "done"), None, id="l1")


async def _fence(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    await _load(runtime, "f.echo", sources["echo"], {})
    await _load(runtime, "f.count", sources["count"], {})
    await _wire(runtime, "f.echo", "f.count", "F1")
    _invoke(runtime, "f.echo", "f1", "held")
    runtime.send({"t": "ping", "id": "fenced"})
    await _next(runtime, "pong")  # nothing of f1 comes before the release
    _invoke(runtime, "f.count", "f2", "forwarded before the release")
    runtime.send({"t": "release"}, orjson.dumps({"fence": "F1"}))
    _expect(await _next(runtime, "emit"), 1, id="f2", module="f.count")
    _expect(await _next(runtime, "done"), None, id="f2")
    _expect(await _next(runtime, "emit"), 2, id="f1", module="f.count")
    _expect(await _next(runtime, "done"), None, id="f1")


async def _fence_adds_only(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    """A fence holds the targets its wire adds; a target wired before is not held."""
    for name in ("fa.echo", "fa.count", "fa.added"):
        await _load(runtime, name, sources["echo" if name == "fa.echo" else "count"], {})
    await _wire(runtime, "fa.echo", "fa.count", None)
    ports = {"out": {"local": [["fa.count", "in"], ["fa.added", "in"]], "runner": False}}
    runtime.send({"t": "wire", "module": "fa.echo"}, orjson.dumps({"ports": ports, "fence": "F"}))
    _expect(await _next(runtime, "wired"), {"fence": "F"}, module="fa.echo")
    _invoke(runtime, "fa.echo", "fa1", "x")
    _expect(await _next(runtime, "emit"), 1, id="fa1", module="fa.count")
    runtime.send({"t": "ping", "id": "fenced"})
    await _next(runtime, "pong")  # fa.added's delivery waits for the release
    runtime.send({"t": "release"}, orjson.dumps({"fence": "F"}))
    _expect(await _next(runtime, "emit"), 1, id="fa1", module="fa.added")
    _expect(await _next(runtime, "done"), None, id="fa1")


async def _batches(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    """After ``batches``: a batched invoke of 50 runs 50 invocations, emits and dones in order."""
    await _load(runtime, "echo", sources["echo"], {})
    runtime.send({"t": "batches"})
    items = [orjson.dumps({"n": number}) for number in range(50)]
    header = {"t": "invoke", "id": "1000", "module": "echo", "port": "in", "n": 50}
    runtime.send(header, pack_items(items))
    emitted: list[bytes] = []
    done: list[int] = []
    while len(done) < 50:
        frame = await _next(runtime, "emit", "done")
        count = frame.header.get("n", 1)
        if frame.type == "emit":
            emitted += unpack_items(frame.body) if count > 1 else [frame.body]
        else:
            first = int(frame.header["id"])
            done += range(first, first + count)
    if [orjson.loads(body) for body in emitted] != [{"n": number} for number in range(50)]:
        raise CheckFailed(f"a batch of 50 sent {len(emitted)} messages, or out of order")
    if done != list(range(1000, 1050)):
        raise CheckFailed(f"a batch of 50 was done as {done[:5]}..., not 1000 to 1049 in order")


def _write_package(folder: Path, sources: Mapping[str, str]) -> None:
    """Write the package's files of ``sources`` (see :data:`PACKAGE`) into ``folder``."""
    files = {
        name.removeprefix(PACKAGE): text
        for name, text in sources.items()
        if name.startswith(PACKAGE)
    }
    if not files:
        raise CheckFailed(f"no package given (--modules DIR, folder {PACKAGE})")
    for name, text in files.items():
        file = folder / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")


async def _packages(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    """A module loaded with ``paths`` imports, at the top of its source, a package there."""
    source = _source(sources, "packaged")
    with tempfile.TemporaryDirectory(prefix="trio-launcher-conformance-") as folder:
        _write_package(Path(folder), sources)
        await _load(runtime, "pk.packaged", source, {}, paths=[folder])
        _invoke(runtime, "pk.packaged", "pk1", None)
        emit = await _next(runtime, "emit")
        _expect(emit, PACKAGE_VALUE, id="pk1", module="pk.packaged", port="out")
        _expect(await _next(runtime, "done"), None, id="pk1")


async def _bad_paths(runtime: RuntimeProcess, sources: Mapping[str, str]) -> None:
    """A load whose ``paths`` is not a list of paths fails; the runtime goes on serving."""
    body = orjson.dumps({"source": sources["echo"], "context": {}, "paths": 7})
    runtime.send({"t": "load", "module": "bp.echo"}, body)
    error = await _next(runtime, "error", "loaded")
    if error.type != "error" or "id" in error.header or error.header.get("module") != "bp.echo":
        raise CheckFailed(f"'paths': 7 should be a load error of bp.echo, got {error.header}")
    _invoke(runtime, "bp.echo", "bp1", "x")
    failed = await _next(runtime, "error", "emit", "done")
    if failed.type != "error" or failed.header.get("id") != "bp1":
        raise CheckFailed(f"bp.echo loaded with 'paths': 7 answered {failed.header}, not an error")
    _expect(await _next(runtime, "done"), None, id="bp1")


#: name, check, whether it loads modules (then it needs sources in the runtime's
#: language), and the capability it needs (None: every runtime).
CHECKS: tuple[tuple[str, Check, bool, str | None], ...] = (
    ("ping", _ping, False, None),
    ("unknown frame", _unknown, False, None),
    ("loaded says async false for a sync handle", _loaded_sync, True, None),
    ("load and invoke, in order", _echo_in_order, True, None),
    ("a failing invocation: error, then done", _failure, True, None),
    ("context", _context, True, None),
    ("a failing reload keeps the old module and its context", _failed_reload, True, None),
    ("ctx.put replaces the context", _ctx_put, True, None),
    ("drain of a sync module", _drain_sync, True, None),
    ("async module: 10 invocations at once", _async_pipelined, True, "async-modules"),
    ("drain waits for async invocations", _drain_async, True, "async-modules"),
    ("local edge echo -> count", _local_edge, True, "local-edges"),
    ("fence: deliveries held until release, in order", _fence, True, "local-edges"),
    ("fence: only the targets a wire adds are held", _fence_adds_only, True, "local-edges"),
    ("batches: a batched invoke, batched emits and dones", _batches, True, "batches"),
    ("packages: a module imports a package from its paths", _packages, True, "packages"),
    ("packages: a load with bad paths fails, the runtime goes on", _bad_paths, True, "packages"),
)
