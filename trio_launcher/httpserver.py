"""A small HTTP/1.1 server on h11: parse requests, write responses, hand off upgrades.

The broker serves plain HTTP (``/runners/auth``, ``/healthz``, ``/status``,
``/tasks``) and runner WebSockets on one port. h11 parses every request; a
WebSocket upgrade is checked here *before* any upgrade happens (so refusals are
real HTTP statuses), then the connection is given to trio-websocket with the
request bytes replayed, so wsproto performs the handshake itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import h11
import trio

__all__ = ["ReplayStream", "Request", "Response", "serve_http_connection"]

MAX_HEAD_SIZE = 16 * 1024
_BEARER = re.compile(r"^bearer (.+)$", re.IGNORECASE)
RECEIVE_SIZE = 64 * 1024


@attrs.frozen
class Request:
    """One parsed HTTP request; header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client: str

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        return self.headers.get(name.lower())

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header (any case), or None."""
        match = _BEARER.match(self.header("authorization") or "")
        return None if match is None else match.group(1)

    @property
    def is_websocket_upgrade(self) -> bool:
        """Whether the request asks to switch to the WebSocket protocol."""
        upgrade = (self.header("upgrade") or "").lower()
        connection = (self.header("connection") or "").lower()
        return upgrade == "websocket" and "upgrade" in connection

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not JSON."""
        return json.loads(self.body)


@attrs.frozen
class Response:
    """A complete HTTP response."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    close: bool = False

    @classmethod
    def json(cls, status: int, obj: Any, *, close: bool = False) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(obj, separators=(",", ":")).encode(), close=close)


class ReplayStream(trio.abc.Stream):
    """A stream that first returns ``prefix``, then reads from ``stream``."""

    def __init__(self, prefix: bytes, stream: trio.abc.Stream) -> None:
        self._prefix = prefix
        self.stream = stream

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


HttpHandler = Callable[[Request], Awaitable[Response]]
UpgradeHandler = Callable[[Request, trio.abc.Stream], Awaitable[Response | None]]


async def serve_http_connection(
    stream: trio.SocketStream,
    on_request: HttpHandler,
    on_upgrade: UpgradeHandler | None = None,
    *,
    max_body: int,
) -> None:
    """Serve one TCP connection until it closes (keep-alive supported).

    ``on_upgrade`` gets WebSocket upgrade requests (only as the first request
    of a connection) with a stream that replays the request; it returns a
    refusal :class:`Response`, or None once it has taken the connection over.
    Without it, an upgrade request is answered by ``on_request`` like any other.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
    client = _peer_host(stream)
    first = True
    raw = bytearray()
    try:
        while True:
            request = await _read_request(stream, conn, raw if first else None, client, max_body)
            if request is None:
                return
            if isinstance(request, Response):
                await _send_response(stream, conn, request)
                return
            if on_upgrade is not None and request.is_websocket_upgrade and first:
                refusal = await on_upgrade(request, ReplayStream(bytes(raw), stream))
                if refusal is not None:
                    await _send_response(stream, conn, attrs.evolve(refusal, close=True))
                return
            response = await on_request(request)
            await _send_response(stream, conn, response)
            if response.close or conn.our_state is not h11.DONE:
                return
            conn.start_next_cycle()
            first = False
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return
    finally:
        await stream.aclose()


async def _read_request(
    stream: trio.SocketStream,
    conn: h11.Connection,
    raw: bytearray | None,
    client: str,
    max_body: int,
) -> Request | Response | None:
    try:
        head = await _next_event(stream, conn, raw)
        if not isinstance(head, h11.Request):
            return None
        target = urlsplit(head.target.decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        body = b"" if upgrade else await _read_body(stream, conn, max_body)
    except h11.RemoteProtocolError as exc:
        return Response.json(exc.error_status_hint, {"message": str(exc)}, close=True)
    if body is None:
        return Response.json(413, {"message": "request body too large"}, close=True)
    return Request(
        method=head.method.decode("ascii"),
        path=target.path,
        query=parse_qs(target.query),
        headers=headers,
        body=body,
        client=client,
    )


async def _read_body(stream: trio.SocketStream, conn: h11.Connection, limit: int) -> bytes | None:
    body = bytearray()
    while True:
        event = await _next_event(stream, conn, None)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > limit:
                return None
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:
            raise h11.RemoteProtocolError("connection closed inside a request body")


async def _next_event(
    stream: trio.SocketStream, conn: h11.Connection, raw: bytearray | None
) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(RECEIVE_SIZE)
        if raw is not None:
            raw += data
        conn.receive_data(data)


async def _send_response(
    stream: trio.SocketStream, conn: h11.Connection, response: Response
) -> None:
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
    ]
    if response.close:
        headers.append(("connection", "close"))
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    data = (data or b"") + (conn.send(h11.Data(data=response.body)) or b"")
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


def _peer_host(stream: trio.SocketStream) -> str:
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return "?"
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)
