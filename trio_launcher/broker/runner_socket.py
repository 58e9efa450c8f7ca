"""One runner's WebSocket on the broker: reader and writer in one nursery, pings on the beat."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import trio

from ..mailbox import Mailbox
from ..protocol import Message, RemoteProtocolError, decode, encode
from ..protocol.broker import DisconnectCause
from ..protocol.reasons import CLOSE_PROTOCOL_ERROR
from ..transport.websocket import Close, ConnectionClosed, WebSocket

__all__ = ["RunnerSocket"]

log = logging.getLogger(__name__)


class RunnerSocket:
    """Carries messages between one runner's WebSocket and the broker core.

    Outgoing messages are queued without blocking (the core's outputs are
    applied synchronously) and written in order by one writer task, all that
    is queued in one write. The broker calls :meth:`heartbeat` every interval
    for all its runners (one task, not one per runner). A missed heartbeat
    pong or a protocol violation closes only this connection.
    """

    def __init__(
        self, connection: int, ws: WebSocket, *, on_message: Callable[[int, Message], None]
    ) -> None:
        self.connection = connection
        self._ws = ws
        self._on_message = on_message
        self._outbox: Mailbox[str | Close] = Mailbox()
        self._nursery: trio.Nursery | None = None
        self._ping_unanswered = False
        self._missed_heartbeat = False
        self.cause = DisconnectCause.CLOSED

    def send(self, message: Message) -> None:
        """Queue ``message`` for the runner."""
        self._outbox.put(encode(message))

    def close(self, code: int, reason: str, cause: DisconnectCause | None = None) -> None:
        """Queue a close frame; nothing sent after it."""
        if cause is not None:
            self.cause = cause
        self._outbox.put(Close(code, reason))

    async def run(self) -> DisconnectCause:
        """Serve the connection until either side closes it; return why it ended."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                nursery.start_soon(self._write, nursery.cancel_scope)
                await self._read(nursery.cancel_scope)  # in this task: one task less per runner
            finally:
                self._nursery = None  # no ping may start once the nursery is closing
        return self.cause

    def heartbeat(self) -> None:
        """A beat: close if the last ping has had no pong since the last beat, else ping."""
        if self._nursery is None or self._missed_heartbeat:
            return
        if self._ping_unanswered:
            self._missed_heartbeat = True
            log.warning("runner connection %d missed a heartbeat", self.connection)
            self.close(CLOSE_PROTOCOL_ERROR, "missed heartbeat", DisconnectCause.HEARTBEAT)
            return
        self._ping_unanswered = True
        self._nursery.start_soon(self._ping)

    async def _read(self, done: trio.CancelScope) -> None:
        try:
            while True:
                frame = await self._ws.get_message()
                try:
                    message = decode(frame)
                    self._on_message(self.connection, message)
                except RemoteProtocolError as exc:
                    log.warning("runner connection %d: %s", self.connection, exc.reason)
                    self.close(exc.close_code, exc.reason[:120], DisconnectCause.PROTOCOL_ERROR)
                    return
        except ConnectionClosed:
            done.cancel()

    async def _write(self, done: trio.CancelScope) -> None:
        await self._ws.send_queued(self._outbox)
        done.cancel()

    async def _ping(self) -> None:
        """One ping, in a task that lives until its pong (or the connection's end)."""
        with contextlib.suppress(ConnectionClosed):
            await self._ws.ping()
            self._ping_unanswered = False
