"""Keeping one runtime process alive while the core needs it (runner side, Trio).

A :class:`RuntimeKeeper` starts its runtime when asked, feeds the core every
frame it sends, tells the core when it exits, and starts it again (after a
backoff, reset by a run that lasted) for as long as the core asks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial

import trio

from ..process.backoff import Backoff
from .errors import RuntimeExited, RuntimeStartFailed
from .runtime_process import Hello, ReplySweep, RuntimeProcess, open_runtime
from .wire import Frame, FrameError

__all__ = ["RuntimeCallbacks", "RuntimeKeeper"]


class RuntimeCallbacks:
    """What a keeper reports; the runner implements it by calling its core."""

    def started(self, name: str, hello: Hello) -> None:
        raise NotImplementedError

    def frames(self, name: str, frames: list[Frame]) -> None:
        raise NotImplementedError

    def exited(self, name: str, reason: str) -> None:
        raise NotImplementedError

    def failed(self, name: str, reason: str) -> None:
        raise NotImplementedError


class RuntimeKeeper:
    """One runtime: its command, its process while it runs, and its restarts."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        callbacks: RuntimeCallbacks,
        *,
        hello_timeout: float,
        grace_period: float,
        backoff: Callable[[], Backoff],
        sweep: ReplySweep,
    ) -> None:
        self.name = name
        self.command = tuple(command)
        self.process: RuntimeProcess | None = None
        self._callbacks = callbacks
        self._hello_timeout = hello_timeout
        self._grace_period = grace_period
        self._backoff = backoff()
        self._sweep = sweep
        self._wanted = False
        self._running = False
        self._scope: trio.CancelScope | None = None
        self._stop_reason = ""
        self._stopping = False

    def start(self, nursery: trio.Nursery) -> None:
        """Run the runtime (again, after the backoff, if it just ended)."""
        self._wanted = True
        if not self._running:
            self._running = True
            nursery.start_soon(self._keep)

    def stop(self, reason: str) -> None:
        """Stop the runtime's process; the keeper then reports it exited with ``reason``."""
        self._stop_reason = reason
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()

    def send(self, data: bytes) -> None:
        """Frames for the runtime; dropped if it is not running (the core knows it is not)."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(RuntimeExited):
            process.send_bytes(data)

    async def _keep(self) -> None:
        try:
            while self._wanted:
                self._wanted = False
                stopped = await self._run_once()
                if self._wanted and not stopped:  # a crash, not a stop asked for
                    await trio.sleep(self._backoff.next_delay())
        finally:
            self._running = False

    async def _run_once(self) -> bool:
        """Run the runtime once; whether it ended because it was asked to stop."""
        self._stop_reason = ""
        self._stopping = False
        started_at = trio.current_time()
        try:
            async with open_runtime(
                self.command,
                name=self.name,
                hello_timeout=self._hello_timeout,
                grace_period=self._grace_period,
                sweep=self._sweep,
            ) as process:
                reason = await self._serve(process)
        except RuntimeStartFailed as exc:
            self._callbacks.failed(self.name, str(exc))
            return False
        finally:
            self.process = None
        if trio.current_time() - started_at >= 10.0:
            self._backoff.reset()
        self._callbacks.exited(self.name, self._stop_reason or reason)
        return self._stopping

    async def _serve(self, process: RuntimeProcess) -> str:
        assert process.hello is not None
        self.process = process
        self._callbacks.started(self.name, process.hello)
        with trio.CancelScope() as self._scope:
            if self._stopping:  # stopped while it started
                self._scope.cancel()
            try:
                process.deliver_to(partial(self._callbacks.frames, self.name))
                await process.receive_all()  # returns only at the end: raises
            except RuntimeExited:
                return f"it exited ({process.exited})"
            except FrameError as exc:
                return f"it sent bytes that are not a frame ({exc.reason})"
            finally:
                self._scope = None
        return "it was stopped"
