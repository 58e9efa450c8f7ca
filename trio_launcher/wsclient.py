"""A lean WebSocket client on wsproto, for the runner's and the launcher's connections.

The runner and the launcher each keep one client connection to the broker.
This module does just that on wsproto and Trio streams, so their cold path
and idle memory carry nothing more (the broker's server side uses
trio-websocket). A reader task answers pings while the caller is busy, as the
broker's heartbeat requires.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

__all__ = ["CloseReason", "WebSocketClient", "WebSocketClosed", "WebSocketRejected", "connect"]

RECEIVE_SIZE = 64 * 1024
MESSAGE_TOO_BIG = 1009
ABNORMAL_CLOSURE = 1006


@attrs.frozen
class CloseReason:
    """Why the connection closed: the close code and reason."""

    code: int
    reason: str = ""


class WebSocketRejected(Exception):
    """The server answered the upgrade with an HTTP status instead of 101."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"the server refused the WebSocket with HTTP {status_code}")
        self.status_code = status_code


class WebSocketClosed(Exception):
    """The connection is closed; ``reason`` says how."""

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(f"WebSocket closed: {reason.code} {reason.reason}".rstrip())
        self.reason = reason


class WebSocketClient:
    """One client connection; use :func:`connect`."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection, max_message_size: int) -> None:
        self._stream = stream
        self._ws = ws
        self._max = max_message_size
        self._send_lock = trio.Lock()
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes](math.inf)
        self._parts: list[Any] = []  # the fragments of one message, all str or all bytes
        self._size = 0
        #: How the connection closed, once it has.
        self.closed: CloseReason | None = None

    async def get_message(self) -> str | bytes:
        """The next whole message; :class:`WebSocketClosed` once none can come."""
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise WebSocketClosed(self.closed or CloseReason(ABNORMAL_CLOSURE)) from None

    async def send_message(self, message: str) -> None:
        """Send one text message."""
        if self.closed is not None:
            raise WebSocketClosed(self.closed)
        await self._send(TextMessage(data=message))

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` (the close handshake is finished by the reader)."""
        if self.closed is None and self._ws.state is ConnectionState.OPEN:
            await self._send(CloseConnection(code=code, reason=reason))
            self._finish(CloseReason(code, reason))

    async def _send(self, event: TextMessage | CloseConnection | Ping) -> None:
        if self._ws.state is not ConnectionState.OPEN:
            raise WebSocketClosed(self.closed or CloseReason(ABNORMAL_CLOSURE))
        data = self._ws.send(event)
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._finish(CloseReason(ABNORMAL_CLOSURE, "connection lost"))
                raise WebSocketClosed(self.closed or CloseReason(ABNORMAL_CLOSURE)) from None

    async def _read(self) -> None:
        try:
            await self._handle_events()  # frames that came with the handshake's answer
            while self._ws.state is not ConnectionState.CLOSED:
                data = await self._stream.receive_some(RECEIVE_SIZE)
                if not data:
                    break
                self._ws.receive_data(data)
                await self._handle_events()
        except (trio.BrokenResourceError, trio.ClosedResourceError, RemoteProtocolError):
            pass
        finally:
            self._finish(CloseReason(ABNORMAL_CLOSURE, "connection lost"))

    async def _handle_events(self) -> None:
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                await self._collect(event)
            elif isinstance(event, Ping):
                await self._send_raw(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._finish(CloseReason(event.code, event.reason or ""))
                if self._ws.state is not ConnectionState.CLOSED:
                    await self._send_raw(self._ws.send(event.response()))

    async def _collect(self, event: TextMessage | BytesMessage) -> None:
        self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
        self._size += len(event.data)
        if self._size > self._max:
            await self.aclose(MESSAGE_TOO_BIG, "message too big")
            return
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            whole = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
            self._inbox_send.send_nowait(whole)

    async def _send_raw(self, data: bytes) -> None:
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._finish(CloseReason(ABNORMAL_CLOSURE, "connection lost"))

    def _finish(self, reason: CloseReason) -> None:
        if self.closed is None:
            self.closed = reason
        self._inbox_send.close()


@asynccontextmanager
async def connect(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    max_message_size: int = 2**32 - 1,
) -> AsyncIterator[WebSocketClient]:
    """Open a ``ws://`` connection for the duration of the block, then close it.

    Raises :class:`WebSocketRejected` if the server answers with a status,
    :class:`OSError` if it cannot be reached.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
    async with stream:
        ws = WSConnection(ConnectionType.CLIENT)
        request = Request(
            host=parts.netloc,
            target=target or "/",
            extra_headers=[(k.encode(), v.encode()) for k, v in headers],
        )
        await stream.send_all(ws.send(request))
        await _handshake(stream, ws)
        client = WebSocketClient(stream, ws, max_message_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._read)
            try:
                yield client
            finally:
                with trio.move_on_after(1), trio.CancelScope(shield=True):
                    await client.aclose()
                nursery.cancel_scope.cancel()


async def _handshake(stream: trio.SocketStream, ws: WSConnection) -> None:
    while True:
        data = await stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise OSError("the server closed the connection during the WebSocket handshake")
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return
            if isinstance(event, RejectConnection):
                raise WebSocketRejected(event.status_code)
