"""WebSocket connections on wsproto and Trio streams, for both ends.

The broker takes runner connections over with :func:`accept`; the runner and
the launcher open theirs with :func:`connect`. Either way the result is a
:class:`WebSocketConnection`: one reader task, which answers pings while its
owner is busy (as the broker's heartbeat requires), and writes that put every
message of a batch into one system call.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
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
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from .exception_groups import unwrap_lone_exception
from .mailbox import Mailbox

__all__ = [
    "CloseReason",
    "WebSocketClosed",
    "WebSocketConnection",
    "WebSocketRejected",
    "accept",
    "connect",
]

RECEIVE_SIZE = 64 * 1024
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
ABNORMAL_CLOSURE = 1006
#: How long leaving :func:`connect` or :func:`accept` waits to send the close frame.
CLOSE_TIMEOUT = 1.0


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


class WebSocketConnection:
    """One open WebSocket; use :func:`connect` or :func:`accept`."""

    def __init__(self, stream: trio.abc.Stream, ws: WSConnection, max_message_size: int) -> None:
        self._stream = stream
        self._ws = ws
        self._max = max_message_size
        self._send_lock = trio.Lock()
        self._inbox: deque[str | bytes] = deque()
        self._inbox_ready = trio.Event()
        self._parts: list[Any] = []  # the fragments of one message, all str or all bytes
        self._size = 0
        #: How the connection closed, once it has.
        self.closed: CloseReason | None = None
        #: Pongs received so far: a heartbeat compares it before and after a ping.
        self.pongs = 0

    async def get_message(self) -> str | bytes:
        """The next whole message; :class:`WebSocketClosed` once none can come."""
        if self._inbox:
            await trio.lowlevel.checkpoint()
        while not self._inbox:
            if self.closed is not None:
                raise WebSocketClosed(self.closed)
            await self._inbox_ready.wait()
            self._inbox_ready = trio.Event()
        return self._inbox.popleft()

    async def send_message(self, message: str) -> None:
        """Send one text message."""
        await self.send_messages((message,))

    async def send_messages(self, messages: Iterable[str]) -> None:
        """Send text messages, in order, in one write (none: nothing is written)."""
        events = [TextMessage(data=message) for message in messages]
        if events:
            await self._send(events)

    async def send_queued(self, outbox: Mailbox[str | CloseReason]) -> None:
        """Send what is put in ``outbox``, all that waits in one write, until a close.

        A :class:`CloseReason` in the queue closes the connection with it
        (nothing after it is sent). Returns after that close, or as soon as a
        write finds the connection closed; until then it waits for more, so
        the owner cancels it when the peer has closed.
        """
        try:
            while True:
                messages: list[str] = []
                for item in await outbox.get_all():
                    if isinstance(item, CloseReason):
                        await self.send_messages(messages)
                        await self.aclose(item.code, item.reason)
                        return
                    messages.append(item)
                await self.send_messages(messages)
        except WebSocketClosed:
            pass

    async def ping(self, payload: bytes = b"") -> None:
        """Send a ping; the pong, when it comes, adds one to :attr:`pongs`."""
        await self._send([Ping(payload=payload)])

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` (the reader finishes the close handshake)."""
        if self.closed is None and self._ws.state is ConnectionState.OPEN:
            await self._send([CloseConnection(code=code, reason=reason)])
            self._finish(CloseReason(code, reason))

    async def _send(self, events: Sequence[Event]) -> None:
        if self._ws.state is not ConnectionState.OPEN:
            raise WebSocketClosed(self.closed or CloseReason(ABNORMAL_CLOSURE))
        data = b"".join([self._ws.send(event) for event in events])
        if not await self._send_raw(data):
            raise WebSocketClosed(self.closed or CloseReason(ABNORMAL_CLOSURE))

    async def _send_raw(self, data: bytes) -> bool:
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._finish(CloseReason(ABNORMAL_CLOSURE, "connection lost"))
                return False
        return True

    async def _read(self) -> None:
        try:
            await self._handle_events()  # frames that came with the handshake
            while self._ws.state is not ConnectionState.CLOSED:
                data = await self._stream.receive_some(RECEIVE_SIZE)
                if not data:
                    break
                self._ws.receive_data(bytes(data))
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
            elif isinstance(event, Pong):
                self.pongs += 1
            elif isinstance(event, CloseConnection):
                self._finish(CloseReason(event.code, event.reason or ""))
                if self._ws.state is not ConnectionState.CLOSED:
                    await self._send_raw(self._ws.send(event.response()))

    async def _collect(self, event: TextMessage | BytesMessage) -> None:
        if self.closed is not None:
            return  # closing: whatever still comes is dropped
        self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
        self._size += len(event.data)
        if self._size > self._max:
            self._parts, self._size = [], 0
            await self.aclose(MESSAGE_TOO_BIG, "message too big")
            return
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            whole = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
            self._inbox.append(whole)
            self._inbox_ready.set()

    def _finish(self, reason: CloseReason) -> None:
        if self.closed is None:
            self.closed = reason
        self._inbox_ready.set()


@asynccontextmanager
async def connect(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    max_message_size: int = 2**32 - 1,
    handshake_timeout: float = math.inf,
) -> AsyncIterator[WebSocketConnection]:
    """Open a ``ws://`` connection for the duration of the block, then close it.

    Raises :class:`WebSocketRejected` if the server answers with a status,
    :class:`OSError` if it cannot be reached, breaks the connection or
    answers with something that is not HTTP during the handshake, and
    :class:`TimeoutError` (an :class:`OSError`) if the connection and the
    upgrade take longer than ``handshake_timeout`` seconds.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=parts.netloc,
        target=target or "/",
        extra_headers=[(k.encode(), v.encode()) for k, v in headers],
    )
    with trio.move_on_after(handshake_timeout) as deadline:
        stream = await _open_upgraded(parts.hostname or "127.0.0.1", parts.port or 80, ws, request)
    if deadline.cancelled_caught:
        raise TimeoutError(f"no answer to the WebSocket upgrade within {handshake_timeout} s")
    async with stream, _open(stream, ws, max_message_size) as connection:
        yield connection


async def _open_upgraded(
    host: str, port: int, ws: WSConnection, request: Request
) -> trio.SocketStream:
    """A stream the server accepted the upgrade on; :class:`OSError` for any other end."""
    stream = await trio.open_tcp_stream(host, port)
    try:
        await stream.send_all(ws.send(request))
        answer = await _next_handshake_event(stream, ws)
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        raise ConnectionResetError(
            f"the connection broke during the WebSocket handshake: {exc.__cause__ or exc}"
        ) from None
    except RemoteProtocolError as exc:
        await trio.aclose_forcefully(stream)
        raise ConnectionError(f"the answer to the WebSocket upgrade is not HTTP: {exc}") from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    if isinstance(answer, RejectConnection):
        await trio.aclose_forcefully(stream)
        raise WebSocketRejected(answer.status_code)
    return stream


@asynccontextmanager
async def accept(
    stream: trio.abc.Stream, *, max_message_size: int = 2**32 - 1
) -> AsyncIterator[WebSocketConnection]:
    """Take over ``stream``, which starts with a WebSocket upgrade request, for the block.

    The caller has checked the request (path, credentials); this answers it
    with 101, or with 400 if it is not a valid upgrade (then
    :class:`~wsproto.utilities.RemoteProtocolError` is raised). An exception
    out of the block closes the connection with 1011 before it propagates.
    """
    ws = WSConnection(ConnectionType.SERVER)
    try:
        await _next_handshake_event(stream, ws)
    except RemoteProtocolError as exc:
        if isinstance(exc.event_hint, RejectConnection):
            await stream.send_all(ws.send(exc.event_hint))
        raise
    await stream.send_all(ws.send(AcceptConnection()))
    async with _open(stream, ws, max_message_size) as connection:
        try:
            yield connection
        except Exception:
            with trio.move_on_after(CLOSE_TIMEOUT), trio.CancelScope(shield=True):
                await _close_quietly(connection, INTERNAL_ERROR, "internal error")
            raise


@asynccontextmanager
async def _open(
    stream: trio.abc.Stream, ws: WSConnection, max_message_size: int
) -> AsyncIterator[WebSocketConnection]:
    connection = WebSocketConnection(stream, ws, max_message_size)
    with unwrap_lone_exception():  # the reader task is ours: raise the owner's error as is
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection._read)
            try:
                yield connection
            finally:
                with trio.move_on_after(CLOSE_TIMEOUT), trio.CancelScope(shield=True):
                    await connection.aclose()
                nursery.cancel_scope.cancel()


async def _close_quietly(connection: WebSocketConnection, code: int, reason: str) -> None:
    """Close unless the connection is already lost."""
    with suppress(WebSocketClosed):
        await connection.aclose(code, reason)


async def _next_handshake_event(stream: trio.abc.Stream, ws: WSConnection) -> Event:
    """The handshake's event: the request (server) or the server's answer (client)."""
    while True:
        data = await stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise OSError("the peer closed the connection during the WebSocket handshake")
        ws.receive_data(bytes(data))
        for event in ws.events():
            if isinstance(event, Request | AcceptConnection | RejectConnection):
                return event
