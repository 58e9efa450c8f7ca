"""One runtime process, as the runner sees it (runner side, Trio).

:func:`open_runtime` makes the FIFO pair, starts the runtime with
:func:`~trio_launcher.process.run_child`, waits for its ``hello`` and hands
back a :class:`RuntimeProcess` to send frames to and receive frames from.
The runner holds both FIFOs open, so it never sees EOF: a runtime's death is
seen from its process exit. The runtimes of one runner share a
:class:`ReplySweep`, which reads a runtime's answer right after a frame was
written to it (waiting for it a little), without a round of Trio's scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from typing import Any

import attrs
import orjson
import trio

from ..exception_groups import unwrap_lone_exception
from ..mailbox import Mailbox
from ..process import ChildProcess, ExitStatus, SpawnError, run_child
from .errors import RuntimeExited, RuntimeStartFailed
from .fifos import FifoPair, open_fifo_pair
from .wire import Frame, FrameError, FrameReader, encode_frame

__all__ = ["Hello", "ReplySweep", "RuntimeProcess", "open_runtime"]

log = logging.getLogger("trio_launcher.runtime_output")

_READ_SIZE = 1 << 16
#: Rounds of a sweep: reading an answer may write to another runtime, and so on.
_SWEEP_ROUNDS = 8
#: How long a sweep waits for an answer that has not come yet, in seconds.
SPIN_SECONDS = 150e-6
#: Waits in vain after which sweeps mostly stop waiting.
_MISSES_BEFORE_REST = 3
#: Frames up to this size get an answer worth waiting for; larger ones take the runtime long.
_AWAITED_SIZE = 1 << 16
_STREAM_LEVELS = {"stdout": logging.INFO, "stderr": logging.WARNING}


@attrs.frozen(kw_only=True)
class Hello:
    """What a runtime says of itself in its first frame."""

    protocol: int
    runtime: str
    name: str
    version: str
    pid: int
    capabilities: tuple[str, ...]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Hello:
        """Read a ``hello`` body; raises ``KeyError``/``TypeError`` if a field is missing."""
        return cls(
            protocol=int(body["protocol"]),
            runtime=str(body["runtime"]),
            name=str(body["name"]),
            version=str(body["version"]),
            pid=int(body["pid"]),
            capabilities=tuple(str(item) for item in body["capabilities"]),
        )


class ReplySweep:
    """The runtimes written to since their FIFOs were last read: read them before waiting.

    A runtime written to often answers within microseconds. A reader that has
    handled its frames sweeps: it reads every runtime written to meanwhile, so
    an answer is handled now instead of after a round of the scheduler to
    learn that its FIFO is readable. If none has answered a small frame yet,
    it waits for one a little (:data:`SPIN_SECONDS`), reading those and its
    own runtime and giving the CPU away between reads (``sched_yield``: on one
    CPU that is the runtime's turn to answer), which spares the runner's own
    wake-up from ``epoll``. Sweeps that wait in vain stop the waiting for a
    while, so a slow runtime costs no spinning.
    """

    def __init__(self) -> None:
        self._due: dict[RuntimeProcess, None] = {}
        self._awaited = False  #: a small frame is among those written: worth waiting for
        self._misses = 0  #: waits in a row that saw no answer
        self._sweeps = 0

    def wrote(self, runtime: RuntimeProcess, size: int) -> None:
        """``size`` bytes of frames went to ``runtime``."""
        self._due[runtime] = None
        self._awaited = self._awaited or size <= _AWAITED_SIZE

    def sweep(self, reader: RuntimeProcess) -> None:
        """Read the runtimes written to, and those their answers wrote to, a few rounds.

        ``reader``: the runtime whose reader sweeps, read too while it waits.
        """
        self._sweeps += 1
        deadline = 0.0
        for _ in range(_SWEEP_ROUNDS):
            due, awaited = self._due, self._awaited
            if not due:
                return
            self._due, self._awaited = {}, False
            if _read_any(due):
                continue
            if not awaited or not self._may_wait():
                return
            deadline = deadline or time.perf_counter() + SPIN_SECONDS
            if not _wait_for_any([*due, reader], deadline):
                self._misses += 1
                return
            self._misses = 0

    def _may_wait(self) -> bool:
        """Whether waiting has paid lately; after misses, only one sweep in 64 tries again."""
        return self._misses < _MISSES_BEFORE_REST or self._sweeps % 64 == 0


def _read_any(runtimes: Iterable[RuntimeProcess]) -> bool:
    """Read each of ``runtimes``; whether one had something."""
    read = False
    for runtime in runtimes:
        read = runtime._read_available() or read
    return read


def _wait_for_any(runtimes: Iterable[RuntimeProcess], deadline: float) -> bool:
    """Read ``runtimes`` until one has something or ``deadline`` passes, yielding the CPU."""
    while time.perf_counter() < deadline:
        os.sched_yield()
        if _read_any(runtimes):
            return True
    return False


class RuntimeProcess:
    """A running runtime: frames to and from it, and how it ended.

    Valid inside the ``async with open_runtime(...)`` block only.
    """

    def __init__(self, fifos: FifoPair, child: ChildProcess, sweep: ReplySweep) -> None:
        self._fifos = fifos
        self._child = child
        self._sweep = sweep
        self._reader = FrameReader()
        self._read_fd = fifos.from_runtime.fileno()
        self._readable = False  #: while its reader runs: a sweep may read for it
        self._broken: FrameError | None = None
        self._outbox: Mailbox[bytes] = Mailbox()
        self._writing = False
        self._consumer: Callable[[list[Frame]], None] | None = None
        self._inbox: Mailbox[Frame | FrameError | ExitStatus] = Mailbox()
        self._reading = trio.CancelScope()
        self._exited = trio.Event()
        self._exited_process = trio.Event()
        self._status: ExitStatus | None = None
        #: The runtime's ``hello``, once :func:`open_runtime` has returned the handle.
        self.hello: Hello | None = None

    @property
    def pid(self) -> int:
        """The runtime's process id."""
        return self._child.pid

    @property
    def exited(self) -> ExitStatus | None:
        """How the runtime's process ended, or None while it runs."""
        return self._status

    async def wait_exited(self) -> ExitStatus:
        """Wait until the runtime's process has exited; how it ended."""
        await self._exited.wait()
        assert self._status is not None
        return self._status

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        """Queue one frame; the writer sends everything queued in one write.

        Raises:
            RuntimeExited: the runtime's process has exited.
            FrameError: the header has no type, or the frame is too large.
        """
        self.send_bytes(encode_frame(header, body))

    def send_bytes(self, data: bytes) -> None:
        """Queue whole frames, already encoded (see :func:`~.wire.encode_frame`).

        Raises:
            RuntimeExited: the runtime's process has exited.
        """
        if self._status is not None:
            raise RuntimeExited(f"runtime pid {self.pid} has exited ({self._status})")
        if self._writing or self._outbox.waiting():
            self._outbox.put(data)
            return
        try:
            written = os.write(self._fifos.to_runtime.fileno(), data)
        except BlockingIOError:
            written = 0
        if written < len(data):  # the FIFO is full: the writer task sends the rest
            self._outbox.put(data[written:])
        else:
            self._sweep.wrote(self, written)

    async def receive_all(self) -> list[Frame]:
        """Every frame the runtime sent that was not received yet, once there is one.

        Raises:
            RuntimeExited: the runtime's process has exited and every frame it
                sent has been received.
            FrameError: the runtime sent bytes that are not a frame (after the
                frames before them); leave the block, which stops it.
        """
        items = await self._inbox.get_all()
        frames: list[Frame] = []
        for item in items:
            if isinstance(item, FrameError):
                self._inbox.put(item)
                if frames:
                    return frames
                raise item
            if isinstance(item, ExitStatus):
                self._inbox.put(item)
                if frames:
                    return frames
                raise RuntimeExited(f"runtime pid {self.pid} has exited ({item})")
            frames.append(item)
        return frames

    async def receive(self) -> Frame:
        """The next frame from the runtime, in the order it sent them.

        Raises:
            RuntimeExited: the runtime's process has exited and every frame it
                sent has been received.
        """
        item = await self._inbox.get()
        if isinstance(item, FrameError):
            raise item
        if isinstance(item, ExitStatus):
            self._inbox.put(item)  # every later call raises too
            raise RuntimeExited(f"runtime pid {self.pid} has exited ({item})")
        return item

    async def _supervise(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            nursery.start_soon(self._write)
            await self._watch_exit(nursery.cancel_scope)

    async def _watch_exit(self, io_scope: trio.CancelScope) -> None:
        self._status = await self._child.wait()
        self._exited_process.set()
        self._reading.cancel()
        await self._exited.wait()
        io_scope.cancel()

    async def _read(self) -> None:
        fd = self._read_fd
        try:
            with self._reading:
                self._readable = True
                while self._readable:
                    await trio.lowlevel.wait_readable(fd)
                    self._read_available()  # a sweep may have read it first: then nothing
                    self._sweep.sweep(self)
                await trio.sleep_forever()  # out of step: _read_available cancelled this scope
            self._readable = False
            if self._broken is not None:
                raise self._broken
            self._received(self._reader.feed(_read_what_is_left(fd)))
        except FrameError as exc:
            self._received(exc.frames)
            self._inbox.put(exc)  # the stream is out of step: the owner stops the runtime
            await self._exited_process.wait()
        assert self._status is not None
        self._inbox.put(self._status)
        self._exited.set()

    def _read_available(self) -> bool:
        """Read what the runtime has sent and hand its frames on; nothing if none is there."""
        if not self._readable:
            return False
        try:
            data = os.read(self._read_fd, max(_READ_SIZE, self._reader.missing))
            frames = self._reader.feed(data)
        except BlockingIOError:
            return False
        except FrameError as exc:
            self._broken = exc
            self._readable = False
            self._reading.cancel()
            frames, exc.frames = exc.frames, []  # handed on here, not again by the reader
        self._received(frames)
        return True

    def _received(self, frames: list[Frame]) -> None:
        if self._consumer is not None:
            if frames:
                self._consumer(frames)
            return
        for frame in frames:
            self._inbox.put(frame)

    async def _write(self) -> None:
        stream = self._fifos.to_runtime
        while True:
            frames = await self._outbox.get_all()
            self._writing = True
            await stream.send_all(b"".join(frames))
            self._writing = False

    def deliver_to(self, consumer: Callable[[list[Frame]], None]) -> None:
        """Hand every frame read from now on to ``consumer``, as it is read, in order.

        Frames already received are handed over first. :meth:`receive_all` then
        waits only for the end: it raises :class:`RuntimeExited` or
        :class:`~.wire.FrameError`.
        """
        waiting = self._inbox.take_waiting()
        frames = [item for item in waiting if isinstance(item, Frame)]
        for item in waiting:
            if not isinstance(item, Frame):
                self._inbox.put(item)
        self._consumer = consumer
        if frames:
            consumer(frames)


def _read_what_is_left(fd: int) -> bytes:
    """What a dead runtime left in its FIFO (the runner holds it open: no EOF, no wait)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


@contextlib.asynccontextmanager
async def open_runtime(
    command: Sequence[str],
    *,
    name: str | None = None,
    hello_timeout: float = 10.0,
    grace_period: float = 2.0,
    sweep: ReplySweep | None = None,
) -> AsyncIterator[RuntimeProcess]:
    """Start a runtime, ``command`` plus the two FIFO paths, and wait for its ``hello``.

    Its output lines are logged with the prefix ``[runtime:NAME]`` (``name``
    defaults to the command's program name). Leaving the block stops the
    runtime: SIGTERM, ``grace_period`` seconds, SIGKILL. Runtimes that answer each
    other (through their owner) share a ``sweep``.

    Raises:
        RuntimeStartFailed: the command could not be started, exited, sent
            something else or nothing within ``hello_timeout`` seconds.
    """
    what = shlex.join(command)
    prefix = f"[runtime:{name or os.path.basename(command[0])}]"
    with unwrap_lone_exception():
        async with open_fifo_pair() as fifos, trio.open_nursery() as nursery:
            argv = [*command, fifos.to_runtime_path, fifos.from_runtime_path]
            child = await _start(nursery, argv, prefix, grace_period, what)
            runtime = RuntimeProcess(fifos, child, sweep or ReplySweep())
            nursery.start_soon(runtime._supervise)
            try:
                with trio.move_on_after(hello_timeout):
                    runtime.hello = await _receive_hello(runtime, what)
                if runtime.hello is None:
                    raise RuntimeStartFailed(
                        f"runtime {what} sent no hello within {hello_timeout:g} s"
                    )
                yield runtime
            finally:
                nursery.cancel_scope.cancel()


async def _start(
    nursery: trio.Nursery, argv: list[str], prefix: str, grace_period: float, what: str
) -> ChildProcess:
    def log_line(stream: str, line: str) -> None:
        log.log(_STREAM_LEVELS[stream], "%s %s", prefix, line)

    try:
        child: ChildProcess = await nursery.start(
            partial(run_child, argv, on_output=log_line, grace_period=grace_period)
        )
    except SpawnError as exc:
        raise RuntimeStartFailed(f"cannot start runtime {what}: {exc}") from None
    return child


async def _receive_hello(runtime: RuntimeProcess, what: str) -> Hello:
    try:
        frame = await runtime.receive()
    except RuntimeExited:
        raise RuntimeStartFailed(
            f"runtime {what} exited ({runtime.exited}) before its hello"
        ) from None
    if frame.type != "hello":
        raise RuntimeStartFailed(f"runtime {what} sent {frame.type!r} before its hello")
    try:
        return Hello.from_body(orjson.loads(frame.body))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeStartFailed(f"runtime {what} sent a bad hello: {exc!r}") from None
