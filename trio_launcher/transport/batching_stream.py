"""The stream under a WebSocket: writes held and sent as one, and a watch on its end.

trio-websocket writes each frame with its own ``send_all``. On loopback TCP
every write also runs the receiver's side of the stack, so the messages a
writer has queued are cheaper sent in one system call: between
:meth:`BatchingStream.hold` and :meth:`BatchingStream.flush`, whatever the
WebSocket writes is kept, and the flush sends it at once. The stream also tells when its
peer ended it or it was closed (:meth:`BatchingStream.wait_ended`), which is
how a handshake that will never complete is noticed at once.
"""

from __future__ import annotations

import trio

from ..pulse import Pulse

__all__ = ["BatchingStream"]


class BatchingStream(trio.abc.Stream):
    """Wraps ``stream``: holds writes on request, and notes how the stream ended."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._held: list[bytes] = []
        self._holders = 0
        self._send_lock = trio.StrictFIFOLock()
        #: Who waits for the end, made only while someone does (a runner's life is long).
        self._end_waiters: Pulse | None = None
        #: Why the stream ended (end of stream, a broken connection, a close), once it has.
        self.end_reason: str | None = None

    def hold(self) -> None:
        """Keep what is written from now on, until the matching :meth:`flush`.

        Holds may nest (or overlap, from several tasks): what they keep goes
        out when the last one is flushed.
        """
        self._holders += 1

    async def flush(self) -> None:
        """End a :meth:`hold`; the last one sends what was kept, in one write.

        Raises :class:`trio.BrokenResourceError` or :class:`trio.ClosedResourceError`
        if the stream cannot take it.
        """
        self._holders -= 1
        if not self._holders and self._held:
            data = b"".join(self._held)
            self._held.clear()
            await self._send(data)

    async def wait_ended(self) -> None:
        """Return once the peer ended the stream, it broke, or it was closed."""
        if self.end_reason is not None:
            await trio.lowlevel.checkpoint()
            return
        waiters = self._end_waiters = self._end_waiters or Pulse()
        try:
            await waiters.wait()
        finally:
            if not waiters.waiting():
                self._end_waiters = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``, or keep it while a :meth:`hold` is open (then without a checkpoint)."""
        if self._holders:
            self._held.append(bytes(data))
            return
        await self._send(data)

    async def _send(self, data: bytes | bytearray | memoryview) -> None:
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._end(f"the connection broke ({exc.__cause__ or exc})")
                raise

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self._stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._end(f"the connection broke ({exc.__cause__ or exc})")
            raise
        if not data:
            self._end("the peer closed the connection")
        return data

    async def aclose(self) -> None:
        self._end("the connection was closed")
        await self._stream.aclose()

    def _end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        if self._end_waiters is not None:
            self._end_waiters.fire()
