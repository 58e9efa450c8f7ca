"""One runner's WebSocket on the broker: reader, writer and heartbeat, in one nursery."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..mailbox import Mailbox
from ..protocol import Message, RemoteProtocolError, decode, encode
from ..protocol.broker import DisconnectCause
from ..protocol.reasons import CLOSE_PROTOCOL_ERROR
from ..websocket import CloseReason, WebSocketClosed, WebSocketConnection

__all__ = ["RunnerSocket"]

log = logging.getLogger(__name__)


class RunnerSocket:
    """Carries messages between one runner's WebSocket and the broker core.

    Outgoing messages are queued without blocking (the core's outputs are
    applied synchronously) and written in order by one writer task, all that
    is queued in one write. A missed heartbeat pong or a protocol violation
    closes only this connection.
    """

    def __init__(
        self,
        connection: int,
        ws: WebSocketConnection,
        *,
        on_message: Callable[[int, Message], None],
        heartbeat_interval: float,
    ) -> None:
        self.connection = connection
        self._ws = ws
        self._on_message = on_message
        self._heartbeat_interval = heartbeat_interval
        self._outbox: Mailbox[str | CloseReason] = Mailbox()
        self.cause = DisconnectCause.CLOSED

    def send(self, message: Message) -> None:
        """Queue ``message`` for the runner."""
        self._outbox.put(encode(message))

    def close(self, code: int, reason: str, cause: DisconnectCause | None = None) -> None:
        """Queue a close frame; nothing sent after it."""
        if cause is not None:
            self.cause = cause
        self._outbox.put(CloseReason(code, reason))

    async def run(self) -> DisconnectCause:
        """Serve the connection until either side closes it; return why it ended."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read, nursery.cancel_scope)
            nursery.start_soon(self._write, nursery.cancel_scope)
            nursery.start_soon(self._heartbeat)
        return self.cause

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
        except WebSocketClosed:
            done.cancel()

    async def _write(self, done: trio.CancelScope) -> None:
        await self._ws.send_queued(self._outbox)
        done.cancel()

    async def _heartbeat(self) -> None:
        """Ping every interval; close if no pong came since the previous ping."""
        pongs = -1  # nothing asked yet
        while True:
            await trio.sleep(self._heartbeat_interval)
            if self._ws.pongs == pongs:
                log.warning("runner connection %d missed a heartbeat", self.connection)
                self.close(CLOSE_PROTOCOL_ERROR, "missed heartbeat", DisconnectCause.HEARTBEAT)
                return
            pongs = self._ws.pongs
            try:
                await self._ws.ping()
            except WebSocketClosed:
                return
