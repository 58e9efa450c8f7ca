"""The shipped Python runtime: ``python -m trio_launcher.flows.runtime_py IN_FIFO OUT_FIFO``.

This runs in the runtime process, not in the runner. It uses the standard
library and orjson only (no Trio, no attrs): blocking ``os.read`` on IN and
``os.write`` on OUT, of which it is the only writer. It sends ``hello``
first, then handles the runner's frames in the order they come, from one
run queue (no thread or task per module), and exits 0 at EOF of IN.

A module's source defines ``handle(message, context, send)``: ``send(port,
message)`` emits, ``context`` writes every change through to the runner,
returning ends the invocation (``done``) and raising reports an ``error``
with the line of the module's source.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping

import orjson

from trio_launcher import __version__
from trio_launcher.flows.wire import Frame, FrameReader, encode_frame

TYPE_CHECKING = False  # keep `typing` out of the runtime
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Runtime", "main"]

PROTOCOL = 0
CAPABILITIES = ["sync-modules"]
_READ_SIZE = 1 << 20
_FLUSH_SIZE = 1 << 16


class ModuleError(Exception):
    """A module failed to load or to run; ``line`` is in its source, if known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class Context(MutableMapping[str, object]):
    """A module's context: a dict whose every change is written through to the runner."""

    def __init__(self, data: dict[str, object], write_through: Callable[[str, object], None]):
        self._data = data
        self._write_through = write_through

    def __getitem__(self, key: str) -> object:
        return self._data[key]

    def __setitem__(self, key: str, value: object) -> None:
        self._write_through(key, value)
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError("context keys cannot be deleted (protocol v0); set them to None")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class _Module:
    """One loaded module: its ``handle`` and its context."""

    def __init__(self, name: str, handle: Callable[..., object], context: Context) -> None:
        self.name = name
        self.handle = handle
        self.context = context
        self.filename = _filename(name)


def _filename(module: str) -> str:
    return f"<flow module {module}>"


class Runtime:
    """Turns the runner's frames into calls of module functions, and results into frames.

    ``write(data)`` is given every frame the runtime sends, encoded.
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._modules: dict[str, _Module] = {}
        self._queue: deque[Frame] = deque()
        self._handlers: dict[str, Callable[[Frame], None]] = {
            "load": self._load,
            "unload": self._unload,
            "invoke": self._invoke,
            "ping": self._ping,
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

    def queue(self, frames: list[Frame]) -> None:
        """Add frames to the run queue."""
        self._queue.extend(frames)

    def run(self) -> None:
        """Handle every queued frame, oldest first."""
        while self._queue:
            frame = self._queue.popleft()
            handler = self._handlers.get(frame.type)
            if handler is None:
                self._log("", "warning", f"unknown frame type {frame.type!r} ignored")
                continue
            try:
                handler(frame)
            except KeyError as exc:
                self._log("", "warning", f"{frame.type!r} frame without {exc} ignored")

    def _send(self, header: dict[str, Any], body: object = None) -> None:
        self._write(encode_frame(header, b"" if body is None else orjson.dumps(body)))

    def _error(self, module: str, error: ModuleError, invocation: str | None = None) -> None:
        header: dict[str, Any] = {"t": "error", "module": module}
        if invocation is not None:
            header["id"] = invocation
        self._send(header, {"message": str(error), "line": error.line})

    def _log(self, module: str, level: str, message: str) -> None:
        self._send({"t": "log", "module": module}, {"level": level, "message": message})

    def _load(self, frame: Frame) -> None:
        name = frame.header["module"]
        try:
            spec = orjson.loads(frame.body)
            handle = _compile(name, spec["source"])
        except ModuleError as exc:
            self._error(name, exc)
            return
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            self._error(name, ModuleError(f"bad load body: {exc!r}", None))
            return
        context = Context(dict(spec.get("context") or {}), self._context_writer(name))
        self._modules[name] = _Module(name, handle, context)
        self._send({"t": "loaded", "module": name})

    def _unload(self, frame: Frame) -> None:
        self._modules.pop(frame.header["module"], None)

    def _invoke(self, frame: Frame) -> None:
        header = frame.header
        invocation, name = header["id"], header["module"]
        module = self._modules.get(name)
        if module is None:
            self._error(name, ModuleError(f"no module {name!r} is loaded", None), invocation)
            return
        try:
            message = orjson.loads(frame.body) if frame.body else None
            module.handle(message, module.context, self._sender(module, invocation))
        except Exception as exc:
            self._error(name, _module_error(exc, module.filename), invocation)
            return
        self._send({"t": "done", "id": invocation})

    def _ping(self, frame: Frame) -> None:
        self._send({"t": "pong", "id": frame.header["id"]})

    def _sender(self, module: _Module, invocation: str) -> Callable[[str, object], None]:
        def send(port: str, message: object) -> None:
            header = {"t": "emit", "id": invocation, "module": module.name, "port": port}
            self._write(encode_frame(header, orjson.dumps(message)))

        return send

    def _context_writer(self, module: str) -> Callable[[str, object], None]:
        def write_through(key: str, value: object) -> None:
            self._send({"t": "ctx.set", "module": module}, {"key": key, "value": value})

        return write_through


def _compile(name: str, source: str) -> Callable[..., object]:
    """The ``handle`` function that ``source`` defines."""
    filename = _filename(name)
    namespace: dict[str, object] = {"__name__": f"flow_module_{name}"}
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise ModuleError(f"{type(exc).__name__}: {exc.msg}", exc.lineno) from None
    try:
        exec(code, namespace)
    except Exception as exc:
        raise _module_error(exc, filename) from None
    handle = namespace.get("handle")
    if not callable(handle):
        raise ModuleError("the module defines no function handle(message, context, send)", None)
    return handle


def _module_error(exc: Exception, filename: str) -> ModuleError:
    """``exc`` as a module error, with the innermost line of the module's source it passed."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return ModuleError(f"{type(exc).__name__}: {exc}", line)


class _Output:
    """Buffers the frames to send and writes them to OUT in as few writes as it can."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= _FLUSH_SIZE:
            self.flush()

    def flush(self) -> None:
        with memoryview(self._pending) as view:
            written = 0
            while written < len(view):
                written += os.write(self._fd, view[written:])
        self._pending.clear()


def main(argv: list[str]) -> int:
    """Serve the runner over the FIFOs named by the last two arguments until EOF of IN."""
    if len(argv) < 2:
        sys.stderr.write("usage: python -m trio_launcher.flows.runtime_py IN_FIFO OUT_FIFO\n")
        return 2
    in_path, out_path = argv[-2:]
    output = _Output(os.open(out_path, os.O_WRONLY))
    in_fd = os.open(in_path, os.O_RDONLY)
    runtime = Runtime(output.write)
    runtime.hello()
    output.flush()
    reader = FrameReader()
    while data := os.read(in_fd, _READ_SIZE):
        runtime.queue(reader.feed(data))
        runtime.run()
        output.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
