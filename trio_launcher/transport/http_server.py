"""A small HTTP/1.1 server on h11: parse requests, write responses, hand off upgrades.

The broker serves plain HTTP (``/runners/auth``, ``/healthz``, ``/status``,
``/tasks``) and runner WebSockets on one port. h11 parses every request, within
a deadline for its head and body; a WebSocket upgrade goes to the caller's
upgrade handler *before* anything is answered, with a stream that replays the
request's bytes, so that trio-websocket reads the handshake itself
(:mod:`trio_launcher.transport.websocket`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import h11
import trio

from .boundary import log_unexpected
from .http_messages import Request, Response

__all__ = [
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "Admission",
    "HttpHandler",
    "ReplayStream",
    "UpgradeHandler",
    "serve_http_connection",
]

log = logging.getLogger(__name__)

MAX_HEAD_SIZE = 16 * 1024
#: Seconds a request may take to arrive whole (Node's ``headersTimeout`` is 60).
DEFAULT_REQUEST_TIMEOUT = 30.0
#: Seconds a connection may stay idle between requests (Node's ``keepAliveTimeout``).
DEFAULT_KEEPALIVE_TIMEOUT = 5.0
RECEIVE_SIZE = 64 * 1024


class ReplayStream(trio.abc.Stream):
    """A stream that first returns ``prefix``, then reads from ``stream``."""

    def __init__(self, prefix: bytes, stream: trio.abc.Stream) -> None:
        self._prefix = prefix
        self.stream = stream
        #: Whether anything was written to the stream (then no HTTP answer can follow).
        self.sent_anything = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent_anything = True
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


#: Answers one request.
HttpHandler = Callable[[Request], Awaitable[Response]]
#: Takes a WebSocket upgrade over (returns None) or refuses it (returns the refusal).
UpgradeHandler = Callable[[Request, trio.abc.Stream], Awaitable[Response | None]]
#: Told a request's head: a refusal, or the most bytes its body may have.
Admission = Callable[[Request], Response | int]


async def serve_http_connection(
    stream: trio.SocketStream,
    on_request: HttpHandler,
    on_upgrade: UpgradeHandler | None = None,
    *,
    max_body: int,
    admit: Admission | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
) -> None:
    """Serve one TCP connection until it closes (keep-alive supported).

    ``admit``, when given, is told each request's head (its body still empty)
    and returns a :class:`Response` that refuses it with its body unread, or
    the most bytes its body may have; without it, every body may have
    ``max_body`` bytes. A longer body is answered with 413, read no further.

    A request must arrive whole within ``request_timeout`` seconds of the
    connection's opening (its first request) or of its first byte (later
    ones), else the connection is closed, with 408 if part of it came; a
    connection idle ``keepalive_timeout`` seconds between requests is closed.
    While ``on_request`` runs, a client that closes the connection cancels it.

    ``on_upgrade`` gets WebSocket upgrade requests (only as the first request
    of a connection) with a stream that replays the request; it returns a
    refusal :class:`Response`, or None once it has taken the connection over.
    Without it, an upgrade request is answered by ``on_request`` like any other.

    An exception a handler did not expect is logged (without its message) and
    answered with 500, or ends an upgraded connection; the caller never sees it.
    """
    connection = _HttpConnection(
        stream,
        _Limits(max_body, admit, request_timeout, keepalive_timeout),
    )
    # except*: a failure may come in a group with the cancellation of its
    # connection (a shutdown, an eviction); only the cancellation goes on.
    try:
        await connection.serve(on_request, on_upgrade)
    except* (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        pass
    except* Exception as group:
        log_unexpected(log, f"an HTTP connection from {connection.client}", group)
    finally:
        await stream.aclose()


@attrs.frozen
class _Limits:
    max_body: int
    admit: Admission | None
    request_timeout: float
    keepalive_timeout: float


class _HttpConnection:
    """One connection's h11 state and the requests read from it."""

    def __init__(self, stream: trio.SocketStream, limits: _Limits) -> None:
        self.stream = stream
        self.client = _peer_host(stream)
        self._limits = limits
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._raw: bytearray | None = bytearray()  # the first request's bytes, for a replay
        self._scope = trio.CancelScope()
        self._started = False
        self._restart_deadline = False

    async def serve(self, on_request: HttpHandler, on_upgrade: UpgradeHandler | None) -> None:
        first = True
        while True:
            request = await self._next_request(first)
            if request is None:
                return
            if isinstance(request, Response):
                await self._send(request)
                return
            if on_upgrade is not None and request.is_websocket_upgrade and first:
                await self._upgrade(on_upgrade, request)
                return
            response = await self._answer(on_request, request)
            if response is None:
                return  # the client went away
            await self._send(response)
            if response.close or self._conn.our_state is not h11.DONE:
                return
            if self._conn.their_state is not h11.DONE:
                return  # a refusal left the body unread
            self._conn.start_next_cycle()
            first = False

    async def _next_request(self, first: bool) -> Request | Response | None:
        """The next request, a refusal to send, or None: the connection is to be closed."""
        limits = self._limits
        wait = limits.request_timeout if first else limits.keepalive_timeout
        self._started = False
        self._restart_deadline = not first
        with trio.CancelScope(deadline=trio.current_time() + wait) as self._scope:
            if self._conn.trailing_data[0]:
                self._on_request_started()
            return await self._read_request()
        if self._started:
            return Response.json(408, {"message": "Request Timeout"}, close=True)
        return None

    def _on_request_started(self) -> None:
        """A byte of the request came; a later request's own deadline starts with it."""
        if self._started:
            return
        self._started = True
        if self._restart_deadline:
            self._scope.deadline = trio.current_time() + self._limits.request_timeout

    async def _upgrade(self, on_upgrade: UpgradeHandler, request: Request) -> None:
        replay = ReplayStream(bytes(self._raw or b""), self.stream)
        self._raw = None  # the replay has them; not kept for the connection's life
        refusal: Response | None = None
        try:
            refusal = await on_upgrade(request, replay)
        except* Exception as group:
            log_unexpected(log, f"the WebSocket connection from {self.client}", group)
            refusal = None if replay.sent_anything else _INTERNAL_ERROR
        if refusal is not None:
            await self._send(attrs.evolve(refusal, close=True))

    async def _answer(self, on_request: HttpHandler, request: Request) -> Response | None:
        """``on_request``'s response; None if the client closed the connection meanwhile."""
        response: Response | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._cancel_when_client_leaves, nursery.cancel_scope)
                response = await on_request(request)
                nursery.cancel_scope.cancel()
        except* Exception as group:
            log_unexpected(log, f"{request.method} {request.path} from {self.client}", group)
            response = _INTERNAL_ERROR
        return response

    async def _cancel_when_client_leaves(self, scope: trio.CancelScope) -> None:
        """Read ahead while a request is handled; end of stream cancels the handler."""
        while len(self._conn.trailing_data[0]) <= MAX_HEAD_SIZE:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                scope.cancel()
                return
            self._conn.receive_data(data)  # kept for the next request (pipelining)

    async def _read_request(self) -> Request | Response | None:
        try:
            head = await self._next_event()
            if not isinstance(head, h11.Request):
                return None
            request = Request.from_h11(head, self.client)
            upgrade = (request.header("upgrade") or "").lower() == "websocket"
            if upgrade:
                return request
            self._raw = None  # only an upgrade is replayed: the body is not kept twice
            limit = self._body_limit(request)
            if isinstance(limit, Response):
                return attrs.evolve(limit, close=True)
            body = await self._read_body(request, limit)
        except h11.RemoteProtocolError as exc:
            return Response.json(exc.error_status_hint, {"message": str(exc)}, close=True)
        if body is None:
            return Response.json(413, {"message": "request body too large"}, close=True)
        return attrs.evolve(request, body=body)

    def _body_limit(self, request: Request) -> Response | int:
        if self._limits.admit is None:
            return self._limits.max_body
        return self._limits.admit(request)

    async def _read_body(self, request: Request, limit: int) -> bytes | None:
        declared = request.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    return None
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise h11.RemoteProtocolError("connection closed inside a request body")

    async def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if data:
                self._on_request_started()
            if self._raw is not None:
                self._raw += data
            self._conn.receive_data(data)

    async def _send(self, response: Response) -> None:
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
        ]
        if response.close:
            headers.append(("connection", "close"))
        else:  # so that a client does not reuse a connection the server is closing
            headers.append(("keep-alive", f"timeout={int(self._limits.keepalive_timeout)}"))
        conn = self._conn
        data = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
        data += conn.send(h11.Data(data=response.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(data)


_INTERNAL_ERROR = Response(500, b'{"message":"Internal Server Error"}', close=True)


def _peer_host(stream: trio.SocketStream) -> str:
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return "?"
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)
