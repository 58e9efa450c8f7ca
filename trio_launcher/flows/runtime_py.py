"""The shipped Python runtime: ``python -m trio_launcher.flows.runtime_py IN_FIFO OUT_FIFO``.

This runs in the runtime process, not in the runner. It uses the standard
library and orjson only (no Trio, no attrs): ``os.read`` on IN and blocking
``os.write`` on OUT, of which it is the only writer. It sends ``hello``
first, then handles the runner's frames in the order they come, from one
run queue (no thread or task per module), and exits 0 at EOF of IN.

A module's source defines ``handle(message, context, send)``: ``send(port,
message)`` emits, ``context`` writes every change through to the runner,
returning ends the invocation and raising reports an ``error`` with the line
of the module's source. An ``async def handle`` runs as an asyncio task, many
at once: the first such module to load imports asyncio and moves the read
loop onto an asyncio event loop (sync-only use never pays for asyncio).

A load's ``paths`` go to the front of ``sys.path`` before its source runs,
so that the module imports its dependencies from them: one process serves
modules of one set of paths (an interpreter holds one version of a package).

Messages sent on an output port that the runner wired to local targets are
delivered to them here, as local invocations on the run queue, within the
invocation id of the runner's ``invoke`` (a *cascade*, which ends with one
``done``).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections import deque
from collections.abc import Callable, Coroutine

import orjson

from trio_launcher import __version__
from trio_launcher.flows.runtime_py_module import (
    Context,
    ModuleError,
    compile_module,
    filename_of,
    module_error,
    use_paths,
)
from trio_launcher.flows.runtime_py_output import FrameWriter, Output
from trio_launcher.flows.wire import Frame, FrameReader, encode_frame, unpack_items

TYPE_CHECKING = False  # keep `typing` out of the runtime
if TYPE_CHECKING:
    import asyncio
    from typing import Any

    #: A local target: (module, input port).
    Target = tuple[str, str]
    #: A message on its way to a local target, within a cascade.
    Delivery = tuple[Target, object, "_Cascade"]
    #: An output port's routing: local targets, whether the runner gets it too, and
    #: per target the fence holding its deliveries (None once released, or unfenced).
    Route = tuple[tuple[Target, ...], bool, tuple[deque[Delivery] | None, ...]]

__all__ = ["Runtime", "main"]

PROTOCOL = 0
CAPABILITIES = ["sync-modules", "async-modules", "local-edges", "batches", "packages"]
_READ_SIZE = 1 << 16


class _Cascade:
    """The invocations rooted at one ``invoke`` of the runner; ``done`` when none is left."""

    __slots__ = ("id", "pending")

    def __init__(self, invocation: str) -> None:
        self.id = invocation
        self.pending = 1


class _Module:
    """One loaded module: its ``handle``, its context, and (if sync) its ``send``."""

    def __init__(
        self,
        name: str,
        handle: Callable[..., object],
        context: Context,
        send: Callable[[str, object], None] | None,
    ) -> None:
        self.name = name
        self.handle = handle
        self.context = context
        self.send = send
        self.filename = filename_of(name)


class Runtime:
    """Turns the runner's frames into calls of module functions, and results into frames.

    ``write(data)`` is given every frame the runtime sends, encoded; ``flush()``
    is called after each step of an async invocation that produced frames.
    Once an async module has loaded, :attr:`loop` is the asyncio event loop
    its invocations run on, and the caller must run it.
    """

    def __init__(self, write: Callable[[bytes], None], flush: Callable[[], None]) -> None:
        self._writer = FrameWriter(write, flush, batches=False)
        self._modules: dict[str, _Module] = {}
        self._routes: dict[str, dict[str, Route]] = {}
        self._fences: dict[str, deque[Delivery]] = {}
        self._frames: deque[Frame] = deque()
        self._local: deque[Delivery] = deque()
        self._cascade: _Cascade | None = None  # the sync invocation running
        self._tasks: dict[str, int] = {}  # async invocations running, per module
        self._running: set[asyncio.Task[None]] = set()
        self._drains: list[str] = []  # modules whose drain is not answered yet
        self._woken = False
        #: The asyncio loop, once the first async module has loaded.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._handlers: dict[str, Callable[[Frame], None]] = {
            "load": self._load,
            "unload": self._unload,
            "invoke": self._invoke,
            "wire": self._wire,
            "release": self._release,
            "drain": self._drain,
            "ctx.put": self._ctx_put,
            "ping": self._ping,
            "batches": self._batches,
        }

    def hello(self) -> None:
        """Send the ``hello`` frame, the first of every runtime."""
        body = {
            "protocol": PROTOCOL,
            "runtime": "python",
            "name": "trio-launcher-python",
            "version": __version__,
            "pid": os.getpid(),
            "capabilities": CAPABILITIES,
        }
        self._send({"t": "hello"}, body)

    def flush(self) -> None:
        """Write every frame that waits (batched or buffered) now."""
        self._writer.flush()

    def queue(self, frames: list[Frame]) -> None:
        """Add frames to the run queue."""
        self._frames.extend(frames)

    def run(self) -> None:
        """Handle every queued frame, oldest first, each followed by its local invocations."""
        self._run_local()
        while self._frames:
            frame = self._frames.popleft()
            handler = self._handlers.get(frame.type)
            if handler is None:
                self._log("", "warning", f"unknown frame type {frame.type!r} ignored")
                continue
            try:
                handler(frame)
            except KeyError as exc:
                self._log("", "warning", f"{frame.type!r} frame without {exc} ignored")
            except (ValueError, TypeError, AttributeError) as exc:
                self._log("", "warning", f"{frame.type!r} frame with a bad body ignored: {exc}")
            self._run_local()
        if self._drains:
            self._answer_drains()
        self._writer.close()  # what a batch holds is written by the end of each run

    def _send(self, header: dict[str, Any], body: object = None) -> None:
        self._writer.frame(encode_frame(header, b"" if body is None else orjson.dumps(body)))

    def _error(self, module: str, error: ModuleError, invocation: str | None = None) -> None:
        header: dict[str, Any] = {"t": "error", "module": module}
        if invocation is not None:
            header["id"] = invocation
        self._send(header, {"message": str(error), "line": error.line})

    def _log(self, module: str, level: str, message: str) -> None:
        self._send({"t": "log", "module": module}, {"level": level, "message": message})

    def _printed(self, module: str) -> Callable[[str], None]:
        return lambda text: self._log(module, "info", text)

    # -- modules ------------------------------------------------------------------------

    def _load(self, frame: Frame) -> None:
        name = frame.header["module"]
        try:
            spec = orjson.loads(frame.body)
            use_paths(spec.get("paths", []))
            handle = compile_module(name, spec["source"], self._printed(name))
        except ModuleError as exc:
            self._error(name, exc)
            return
        except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
            self._error(name, ModuleError(f"bad load body: {exc!r}", None))
            return
        is_async = inspect.iscoroutinefunction(handle)
        if is_async and self.loop is None:
            self.loop = _new_event_loop()
        context = Context(dict(spec.get("context") or {}), self._context_writer(name))
        send = None if is_async else self._module_sender(name)
        self._modules[name] = _Module(name, handle, context, send)
        self._send({"t": "loaded", "module": name}, {"async": is_async})

    def _unload(self, frame: Frame) -> None:
        name = frame.header["module"]
        self._modules.pop(name, None)
        self._routes.get(name, {}).clear()
        for routes in self._routes.values():
            for port, (targets, runner, holds) in list(routes.items()):
                if any(target[0] == name for target in targets):
                    kept = [(t, h) for t, h in zip(targets, holds, strict=True) if t[0] != name]
                    routes[port] = (tuple(t for t, _ in kept), runner, tuple(h for _, h in kept))

    def _ctx_put(self, frame: Frame) -> None:
        module = self._modules.get(frame.header["module"])
        context = orjson.loads(frame.body)["context"]
        if module is not None:
            module.context.restore(dict(context))

    def _context_writer(self, module: str) -> Callable[[str, object], None]:
        def write_through(key: str, value: object) -> None:
            self._send({"t": "ctx.set", "module": module}, {"key": key, "value": value})

        return write_through

    # -- invocations --------------------------------------------------------------------

    def _invoke(self, frame: Frame) -> None:
        header = frame.header
        if "n" not in header:
            self._invoke_one(header["module"], header["id"], frame.body)
            return
        first = int(header["id"])  # a batch: invocations id, id + 1, ... of one module
        for offset, body in enumerate(unpack_items(frame.body)):
            self._invoke_one(header["module"], str(first + offset), body)
            self._run_local()

    def _invoke_one(self, name: str, invocation: str, body: bytes) -> None:
        cascade = _Cascade(invocation)
        try:
            message = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            self._error(name, ModuleError(f"the message is not JSON: {exc}", None), cascade.id)
            self._end(cascade)
            return
        self._call(name, message, cascade)

    def _run_local(self) -> None:
        """Run the local invocations queued, oldest first, until none is left."""
        local = self._local
        while local:
            (name, _port), message, cascade = local.popleft()
            self._call(name, message, cascade)

    def _call(self, name: str, message: object, cascade: _Cascade) -> None:
        """Invoke module ``name``, one invocation of ``cascade``."""
        module = self._modules.get(name)
        if module is None:
            self._error(name, ModuleError(f"no module {name!r} is loaded", None), cascade.id)
        elif module.send is None:
            self._start(module, message, cascade)
            return
        else:
            self._cascade = cascade
            try:
                module.handle(message, module.context, module.send)
            except Exception as exc:
                self._error(name, module_error(exc, module.filename), cascade.id)
        self._end(cascade)

    def _end(self, cascade: _Cascade) -> None:
        """One invocation of ``cascade`` ended: ``done`` if it was the last."""
        cascade.pending -= 1
        if not cascade.pending:
            self._writer.done(cascade.id)

    def _start(self, module: _Module, message: object, cascade: _Cascade) -> None:
        """Start an async invocation as a task of the event loop."""
        assert self.loop is not None
        try:
            coroutine: Any = module.handle(
                message, module.context, self._task_sender(module, cascade)
            )
        except Exception as exc:
            self._error(module.name, module_error(exc, module.filename), cascade.id)
            self._end(cascade)
            return
        self._tasks[module.name] = self._tasks.get(module.name, 0) + 1
        task = self.loop.create_task(self._finish(module, coroutine, cascade))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _finish(
        self, module: _Module, coroutine: Coroutine[Any, Any, object], cascade: _Cascade
    ) -> None:
        from asyncio import CancelledError

        try:
            await coroutine
        except (Exception, CancelledError) as exc:
            self._error(module.name, module_error(exc, module.filename), cascade.id)
        self._end(cascade)
        self._tasks[module.name] -= 1
        self._wake()

    def _wake(self) -> None:
        """A task step produced work: run it, and flush, once the step is over."""
        if not self._woken:
            self._woken = True
            assert self.loop is not None
            self.loop.call_soon(self._after_step)

    def _after_step(self) -> None:
        self._woken = False
        self.run()
        self._writer.flush()

    # -- sending and routing ------------------------------------------------------------

    def _module_sender(self, name: str) -> Callable[[str, object], None]:
        """A sync module's ``send``: the invocation is the one running."""
        routes = self._routes.setdefault(name, {})

        def send(port: str, message: object) -> None:
            cascade = self._cascade
            assert cascade is not None
            route = routes.get(port)
            if route is None:
                self._emit(cascade.id, name, port, orjson.dumps(message))
            else:
                self._route(route, cascade, name, port, message)

        return send

    def _task_sender(self, module: _Module, cascade: _Cascade) -> Callable[[str, object], None]:
        """An async invocation's ``send``, valid after any await."""
        name = module.name
        routes = self._routes.setdefault(name, {})

        def send(port: str, message: object) -> None:
            route = routes.get(port)
            if route is None:
                self._emit(cascade.id, name, port, orjson.dumps(message))
            else:
                self._route(route, cascade, name, port, message)
            self._wake()

        return send

    def _emit(self, invocation: str, module: str, port: str, data: bytes) -> None:
        self._writer.emit(invocation, module, port, data)

    def _route(
        self, route: Route, cascade: _Cascade, name: str, port: str, message: object
    ) -> None:
        """Deliver ``message`` to the route's local targets (the first gets the object)."""
        targets, runner, holds = route
        if runner or len(targets) > 1:
            data = orjson.dumps(message)
            if runner:
                self._emit(cascade.id, name, port, data)
        local = self._local
        for index, target in enumerate(targets):
            cascade.pending += 1
            hold = holds[index]
            queue = local if hold is None else hold
            queue.append((target, orjson.loads(data) if index else message, cascade))

    def _wire(self, frame: Frame) -> None:
        name = frame.header["module"]
        body = orjson.loads(frame.body)
        fence = body["fence"]
        held = None if fence is None else self._fences.setdefault(str(fence), deque())
        current = self._routes.setdefault(name, {})
        routes: dict[str, Route] = {}
        for port, spec in body["ports"].items():
            targets = tuple((str(module), str(into)) for module, into in spec["local"])
            before = current.get(port)
            kept = dict(zip(before[0], before[2], strict=True)) if before else {}
            holds = tuple(kept.get(target, held) for target in targets)
            routes[port] = (targets, bool(spec["runner"]), holds)
        current.update(routes)
        self._send({"t": "wired", "module": name}, {"fence": fence})

    def _release(self, frame: Frame) -> None:
        fence = orjson.loads(frame.body)["fence"]
        held = self._fences.pop(fence, None)
        if held is None:
            self._log("", "warning", f"release of unknown fence {fence!r} ignored")
            return
        self._local.extend(held)
        for routes in self._routes.values():
            for port, (targets, runner, holds) in list(routes.items()):
                if any(hold is held for hold in holds):
                    free = tuple(None if hold is held else hold for hold in holds)
                    routes[port] = (targets, runner, free)

    # -- drain and ping -----------------------------------------------------------------

    def _drain(self, frame: Frame) -> None:
        name = frame.header["module"]
        if self._idle(name):
            self._send({"t": "drained", "module": name})
        else:
            self._drains.append(name)

    def _idle(self, name: str) -> bool:
        """Whether no invocation of ``name`` runs or waits (the local queue is empty)."""
        if self._tasks.get(name):
            return False
        return not any(target[0] == name for held in self._fences.values() for target, *_ in held)

    def _answer_drains(self) -> None:
        waiting, self._drains = self._drains, []
        for name in waiting:
            if self._idle(name):
                self._send({"t": "drained", "module": name})
            else:
                self._drains.append(name)

    def _batches(self, frame: Frame) -> None:
        """The runner takes batched ``emit`` and ``done`` frames from now on."""
        del frame
        self._writer.batches = True

    def _ping(self, frame: Frame) -> None:
        self._send({"t": "pong", "id": frame.header["id"]})


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop of async modules; asyncio is imported here, the first time one loads."""
    import asyncio

    return asyncio.new_event_loop()


def main(argv: list[str]) -> int:
    """Serve the runner over the FIFOs named by the last two arguments until EOF of IN."""
    if len(argv) < 2:
        sys.stderr.write("usage: python -m trio_launcher.flows.runtime_py IN_FIFO OUT_FIFO\n")
        return 2
    in_path, out_path = argv[-2:]
    output = Output(os.open(out_path, os.O_WRONLY))
    in_fd = os.open(in_path, os.O_RDONLY)
    runtime = Runtime(output.write, output.flush)
    runtime.hello()
    runtime.flush()
    reader = FrameReader()

    def handle(data: bytes) -> None:
        runtime.queue(reader.feed(data))
        runtime.run()
        runtime.flush()

    while runtime.loop is None:
        data = os.read(in_fd, max(_READ_SIZE, reader.missing))
        if not data:
            return 0
        handle(data)
    _serve_on(runtime.loop, in_fd, handle, lambda: max(_READ_SIZE, reader.missing))
    return 0


def _serve_on(
    loop: asyncio.AbstractEventLoop,
    in_fd: int,
    handle: Callable[[bytes], None],
    read_size: Callable[[], int],
) -> None:
    """Read IN from ``loop`` (``add_reader``) until EOF; an error in a callback ends it."""
    failures: list[BaseException] = []

    def fail(_: object, context: dict[str, Any]) -> None:
        failures.append(context.get("exception") or RuntimeError(context["message"]))
        loop.stop()

    def readable() -> None:
        data = os.read(in_fd, read_size())
        if data:
            handle(data)
        else:
            loop.stop()

    loop.set_exception_handler(fail)
    loop.add_reader(in_fd, readable)
    loop.run_forever()
    if failures:
        raise failures[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
