"""WebSocket ends on trio-websocket: the broker accepts, the runner and the launcher connect.

:func:`connect` opens a ``ws://`` or ``wss://`` connection, :func:`accept`
and :func:`reject` answer an upgrade request at the start of a stream (the
broker's HTTP front end hands it over with the request replayed). Either way
the block gets a :class:`WebSocket`: trio-websocket's connection, whose reader
task answers pings while its owner is busy, over a
:class:`~trio_launcher.transport.batching_stream.BatchingStream`, so that the
messages a writer has queued go out in one system call.

Errors are trio-websocket's, raised bare: :class:`~trio_websocket.ConnectionRejected`
(with the status and body of the refusal), :class:`~trio_websocket.ConnectionTimeout`,
:class:`~trio_websocket.HandshakeError` for any other failed handshake, and
:class:`~trio_websocket.ConnectionClosed` once the connection is closed.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import attrs
import trio

from ..exception_groups import unwrap_lone_exception
from ..mailbox import Mailbox
from .batching_stream import BatchingStream
from .trio_websocket_import import trio_websocket

ConnectionClosed = trio_websocket.ConnectionClosed
ConnectionRejected = trio_websocket.ConnectionRejected
ConnectionTimeout = trio_websocket.ConnectionTimeout
HandshakeError = trio_websocket.HandshakeError

__all__ = [
    "INTERNAL_ERROR",
    "Close",
    "ConnectionClosed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "HandshakeError",
    "WebSocket",
    "accept",
    "connect",
    "describe_close",
    "reject",
]

#: Bytes asked of the stream per read (trio-websocket's default is 4 KiB).
RECEIVE_SIZE = 64 * 1024
#: Whole messages the reader holds for an owner that is not reading, before it stops reading.
RECEIVE_QUEUE_SIZE = 16
#: No limit but the WebSocket protocol's own on a message's size.
NO_SIZE_LIMIT = 2**32 - 1
INTERNAL_ERROR = 1011
#: How long leaving :func:`connect` or :func:`accept` waits for the closing handshake.
CLOSE_TIMEOUT = 1.0
#: How long :func:`accept` and :func:`reject` wait for trio-websocket to read the request.
REQUEST_TIMEOUT = 10.0

P = ParamSpec("P")
T = TypeVar("T")


@attrs.frozen
class Close:
    """A close to send after the queued messages: its code and reason."""

    code: int
    reason: str = ""


class WebSocket:
    """One open WebSocket; get it from :func:`connect` or :func:`accept`."""

    def __init__(
        self, connection: trio_websocket.WebSocketConnection, stream: BatchingStream
    ) -> None:
        self._connection = connection
        self._stream = stream

    @property
    def closed(self) -> trio_websocket.CloseReason | None:
        """Why the connection closed (or is closing), or None while it is open."""
        return self._connection.closed

    async def get_message(self) -> str | bytes:
        """The next whole message; :class:`~trio_websocket.ConnectionClosed` once none can come."""
        return await self._connection.get_message()

    async def send_message(self, message: str) -> None:
        """Send one text message."""
        await self._connection.send_message(message)

    async def send_messages(self, messages: Iterable[str]) -> None:
        """Send text messages, in order, in one write (none: nothing is written)."""
        self._stream.hold()
        try:
            for message in messages:
                await self._connection.send_message(message)
        finally:
            try:
                await self._stream.flush()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise ConnectionClosed(self.closed or _LOST) from None

    async def send_queued(self, outbox: Mailbox[str | Close]) -> None:
        """Send what is put in ``outbox``, all that waits in one write, until a close.

        A :class:`Close` in the queue closes the connection with it (nothing
        after it is sent). Returns after that close, or as soon as a write
        finds the connection closed; until then it waits for more, so the
        owner cancels it when the peer has closed.
        """
        try:
            while True:
                messages: list[str] = []
                for item in await outbox.get_all():
                    if isinstance(item, Close):
                        await self.send_messages(messages)
                        await self.aclose(item.code, item.reason)
                        return
                    messages.append(item)
                if len(messages) == 1:
                    await self._connection.send_message(messages[0])
                else:
                    await self.send_messages(messages)
        except ConnectionClosed:
            pass

    async def ping(self) -> None:
        """Send a ping and return when its pong comes back."""
        await self._connection.ping()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code``; wait (at most :data:`CLOSE_TIMEOUT` s) for the peer's answer."""
        with trio.move_on_after(CLOSE_TIMEOUT):
            await self._connection.aclose(code, reason or None)


_LOST = trio_websocket.CloseReason(1006, "connection lost")


def describe_close(reason: trio_websocket.CloseReason | None) -> str:
    """``code reason`` of a close, e.g. ``1001 broker shutting down``, for a log line."""
    if reason is None:
        return "closed"
    return f"{reason.code} {reason.reason or ''}".rstrip()


@asynccontextmanager
async def connect(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    max_message_size: int = NO_SIZE_LIMIT,
    connect_timeout: float = math.inf,
    ssl_context: ssl.SSLContext | None = None,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[WebSocket]:
    """Open a ``ws://`` or ``wss://`` connection for the duration of the block, then close it.

    ``subprotocols`` are proposed to the server, in order of preference.

    ``wss://`` uses ``ssl_context``, or the system's default CA certificates.
    Raises :class:`~trio_websocket.ConnectionRejected` if the server answers
    with a status, :class:`~trio_websocket.ConnectionTimeout` if connecting
    and the upgrade take longer than ``connect_timeout`` seconds, and
    :class:`~trio_websocket.HandshakeError` if the server cannot be reached,
    or breaks or ends the connection during the upgrade.
    """
    target = _Target.of(url, ssl_context)
    extra_headers = [(k.encode(), v.encode()) for k, v in headers]
    timed_out = ConnectionTimeout(f"no answer to the WebSocket upgrade within {connect_timeout} s")
    deadline = trio.current_time() + connect_timeout
    stream: BatchingStream | None = None
    with trio.move_on_at(deadline):
        stream = BatchingStream(await target.open_stream())
    if stream is None:
        raise timed_out
    async with _reading(stream) as nursery:
        connection = None
        with trio.move_on_at(deadline):
            connection = await _until_ended(
                stream,
                trio_websocket.wrap_client_stream,
                nursery,
                stream,  # type: ignore[arg-type]  # any trio.abc.Stream will do
                target.host_header,
                target.resource,
                extra_headers=extra_headers,
                subprotocols=subprotocols or None,
                message_queue_size=RECEIVE_QUEUE_SIZE,
                max_message_size=max_message_size,
                receive_buffer_size=RECEIVE_SIZE,
            )
        if connection is None:
            raise timed_out
        async with _open(connection, stream) as ws:
            yield ws


@asynccontextmanager
async def accept(
    stream: trio.abc.Stream,
    *,
    max_message_size: int = NO_SIZE_LIMIT,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[WebSocket]:
    """Take over ``stream``, which starts with a WebSocket upgrade request, for the block.

    The caller has checked the request (path, credentials); this answers it
    with 101, choosing the first of the client's proposed subprotocols that is
    in ``subprotocols`` (none if none is). Raises
    :class:`~trio_websocket.HandshakeError` if it is not a valid upgrade
    (wsproto answers it with 400) or the client is gone. An
    exception out of the block closes the connection with 1011 before it
    propagates.
    """
    batching = BatchingStream(stream)
    async with _reading(batching) as nursery:
        request = await _request(nursery, batching, max_message_size)
        chosen = next((p for p in request.proposed_subprotocols if p in subprotocols), None)
        try:
            connection = await request.accept(subprotocol=chosen)
        except ConnectionClosed:
            raise HandshakeError("the client left before the answer") from None
        async with _open(connection, batching) as ws:
            try:
                yield ws
            except Exception:
                with trio.CancelScope(shield=True):
                    await ws.aclose(INTERNAL_ERROR, "internal error")
                raise


async def reject(
    stream: trio.abc.Stream,
    status: int,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
) -> None:
    """Answer the WebSocket upgrade request at the start of ``stream`` with ``status``, then close.

    Raises :class:`~trio_websocket.HandshakeError` if it is not a valid
    upgrade (wsproto answers it with 400) or the client is gone.
    """
    batching = BatchingStream(stream)
    headers = [(b"content-type", content_type.encode())]
    async with _reading(batching) as nursery:
        request = await _request(nursery, batching, NO_SIZE_LIMIT)
        try:
            await request.reject(status, extra_headers=headers, body=body)
        except ConnectionClosed:
            raise HandshakeError("the client left before the refusal") from None


async def _request(
    nursery: trio.Nursery, stream: BatchingStream, max_message_size: int
) -> trio_websocket.WebSocketRequest:
    """The upgrade request trio-websocket reads from ``stream``."""
    with trio.move_on_after(REQUEST_TIMEOUT):
        return await _until_ended(
            stream,
            trio_websocket.wrap_server_stream,
            nursery,
            stream,
            message_queue_size=RECEIVE_QUEUE_SIZE,
            max_message_size=max_message_size,
            receive_buffer_size=RECEIVE_SIZE,
        )
    raise HandshakeError(f"no WebSocket upgrade request within {REQUEST_TIMEOUT} s")


@asynccontextmanager
async def _reading(stream: BatchingStream) -> AsyncIterator[trio.Nursery]:
    """A nursery for trio-websocket's reader; leaving it closes ``stream``, ends the reader.

    An error from the block or the reader comes out bare, not in a group.
    """
    with unwrap_lone_exception():
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            finally:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
                nursery.cancel_scope.cancel()


@asynccontextmanager
async def _open(
    connection: trio_websocket.WebSocketConnection, stream: BatchingStream
) -> AsyncIterator[WebSocket]:
    """The connection for the block; closed when it ends, even when cancelled."""
    ws = WebSocket(connection, stream)
    try:
        yield ws
    finally:
        with trio.CancelScope(shield=True):
            await ws.aclose()


@attrs.frozen
class _Target:
    """Where a ``ws://`` or ``wss://`` URL leads."""

    host: str
    port: int
    host_header: str
    resource: str
    ssl_context: ssl.SSLContext | None

    @classmethod
    def of(cls, url: str, ssl_context: ssl.SSLContext | None) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL with a host: {url!r}")
        secure = parts.scheme == "wss"
        if secure and ssl_context is None:
            ssl_context = ssl.create_default_context()
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        port = parts.port or (443 if secure else 80)
        return cls(parts.hostname, port, parts.netloc, resource, ssl_context if secure else None)

    async def open_stream(self) -> trio.abc.Stream:
        """A TCP stream to the target, under TLS for ``wss://``."""
        try:
            if self.ssl_context is None:
                return await trio.open_tcp_stream(self.host, self.port)
            return await trio.open_ssl_over_tcp_stream(
                self.host, self.port, ssl_context=self.ssl_context, https_compatible=True
            )
        except OSError as exc:
            raise HandshakeError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc


async def _until_ended(
    stream: BatchingStream,
    opening: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """What ``opening`` returns; :class:`HandshakeError` if ``stream`` ends before it returns.

    trio-websocket waits for the handshake until cancelled, even once the
    connection is gone: a peer that resets it, or a request its reader
    refused with 400, would otherwise hold this up to the timeout.
    """
    opened: list[T] = []

    async def open_it(done: trio.CancelScope) -> None:
        opened.append(await opening(*args, **kwargs))
        done.cancel()

    async with trio.open_nursery() as race:
        race.start_soon(open_it, race.cancel_scope)
        await stream.wait_ended()
        race.cancel_scope.cancel()
    if not opened:
        raise HandshakeError(f"the WebSocket handshake failed: {stream.end_reason}")
    return opened[0]
