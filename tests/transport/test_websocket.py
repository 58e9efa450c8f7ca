"""Our WebSocket ends (trio-websocket over a batching stream) against independent peers."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing
import trio_websocket
from tls_certificates import self_signed_contexts

from trio_launcher.mailbox import Mailbox
from trio_launcher.transport import websocket

Handler = Callable[[trio_websocket.WebSocketRequest], Awaitable[None]]
#: Bounds a wait that only a bug makes long; never asserted as a duration.
HANG_GUARD = 30


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        ws_server = await nursery.start(
            partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
        )
        yield f"ws://127.0.0.1:{ws_server.port}/path?id=1"
        nursery.cancel_scope.cancel()


async def test_exchanges_messages_and_sends_headers() -> None:
    seen: list[object] = []

    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        seen.append((request.path, dict(request.headers).get(b"authorization")))
        ws = await request.accept()
        await ws.send_message("first")  # may arrive with the handshake's answer
        await ws.send_message(await ws.get_message())

    async with server(echo) as url, websocket.connect(url, headers=[("Authorization", "x")]) as ws:
        assert await ws.get_message() == "first"
        await ws.send_message("hello")
        assert await ws.get_message() == "hello"
    assert seen == [("/path?id=1", b"x")]


async def test_answers_pings_while_the_caller_is_not_reading() -> None:
    pongs = trio.Event()

    async def pinger(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        for _ in range(3):
            await ws.ping()  # returns only when the pong came back
        pongs.set()

    async with server(pinger) as url, websocket.connect(url):
        await pongs.wait()


async def test_a_refused_upgrade_raises_with_its_status_and_body() -> None:
    async def refuse(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(403, body=b'{"message":"Forbidden"}')

    async with server(refuse) as url:
        with pytest.raises(trio_websocket.ConnectionRejected) as raised:
            async with websocket.connect(url):
                pass
    assert (raised.value.status_code, raised.value.body) == (403, b'{"message":"Forbidden"}')


async def test_the_servers_close_code_is_reported() -> None:
    async def close(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1001, "going away")

    async with server(close) as url, websocket.connect(url) as ws:
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            await ws.get_message()
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.send_message("too late")
    assert raised.value.reason is not None
    assert websocket.describe_close(raised.value.reason) == "1001 going away"


async def test_a_message_over_the_limit_closes_with_1009() -> None:
    closed = trio.Event()
    codes: list[int | None] = []

    async def big(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("x" * 2000)
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            codes.append(exc.reason.code if exc.reason else None)
            closed.set()

    async with server(big) as url, websocket.connect(url, max_message_size=1000) as ws:
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
        await closed.wait()
    assert codes == [1009]


@asynccontextmanager
async def listener() -> AsyncIterator[tuple[trio.SocketListener, str]]:
    """A bare TCP listener and the ``ws://`` URL that leads to it."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        yield listeners[0], f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"


async def read_request_head(stream: trio.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some()
    return data


async def test_a_reset_during_the_handshake_fails_it_at_once() -> None:
    async def reset_after_the_request(listening: trio.SocketListener) -> None:
        stream = await listening.accept()
        await read_request_head(stream)
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.socket.close()

    async with listener() as (listening, url), trio.open_nursery() as nursery:
        nursery.start_soon(reset_after_the_request, listening)
        with trio.fail_after(HANG_GUARD), pytest.raises(trio_websocket.HandshakeError) as raised:
            async with websocket.connect(url):  # no connect timeout: only the reset ends it
                pass
    assert "broke" in str(raised.value)


async def test_a_silent_server_times_the_handshake_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with listener() as (listening, url), trio.open_nursery() as nursery:

        async def accept_and_say_nothing() -> None:
            stream = await listening.accept()
            await read_request_head(stream)
            await trio.sleep_forever()

        nursery.start_soon(accept_and_say_nothing)
        with pytest.raises(trio_websocket.ConnectionTimeout):
            async with websocket.connect(url, connect_timeout=10):
                pass
        nursery.cancel_scope.cancel()


async def test_a_wss_url_needs_a_tls_server() -> None:
    async with listener() as (listening, url), trio.open_nursery() as nursery:

        async def plain_http(listening: trio.SocketListener) -> None:
            stream = await listening.accept()
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # no TLS handshake
            await stream.aclose()

        nursery.start_soon(plain_http, listening)
        with pytest.raises(trio_websocket.HandshakeError):
            async with websocket.connect(url.replace("ws://", "wss://")):
                pass


@asynccontextmanager
async def our_server(
    handler: Callable[[websocket.WebSocket], Awaitable[None]],
) -> AsyncIterator[str]:
    async def serve(stream: trio.SocketStream) -> None:
        async with websocket.accept(stream, max_message_size=1000) as ws:
            await handler(ws)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        yield f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        nursery.cancel_scope.cancel()


async def test_accepted_connection_talks_to_an_independent_client() -> None:
    async def echo_batch(ws: websocket.WebSocket) -> None:
        first, second = await ws.get_message(), await ws.get_message()
        await ws.send_messages([second, first])  # one write, two frames
        await ws.aclose(1000, "done")

    async with our_server(echo_batch) as url, trio_websocket.open_websocket_url(url) as client:
        await client.send_message("a")
        await client.send_message("b")
        assert [await client.get_message(), await client.get_message()] == ["b", "a"]
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            await client.get_message()
    assert raised.value.reason is not None and raised.value.reason.code == 1000


async def test_a_ping_returns_when_its_pong_came() -> None:
    pinged = trio.Event()

    async def pinger(ws: websocket.WebSocket) -> None:
        await ws.ping()
        await ws.ping()
        pinged.set()
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()  # until the client goes

    async with our_server(pinger) as url, trio_websocket.open_websocket_url(url):
        with trio.fail_after(HANG_GUARD):
            await pinged.wait()


async def test_an_accepted_message_over_the_limit_closes_with_1009() -> None:
    async def reader(ws: websocket.WebSocket) -> None:
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()

    async with our_server(reader) as url, trio_websocket.open_websocket_url(url) as client:
        await client.send_message("x" * 2000)
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            await client.get_message()
    assert raised.value.reason is not None and raised.value.reason.code == 1009


async def upgrade_answer(serve: Callable[[trio.SocketStream], Awaitable[None]]) -> bytes:
    """What a server running ``serve`` answers a key-less upgrade request with."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        answer = await stream.receive_some()
        nursery.cancel_scope.cancel()
    return bytes(answer)


async def test_a_malformed_upgrade_is_answered_with_400() -> None:
    async def serve(stream: trio.SocketStream) -> None:
        with pytest.raises(trio_websocket.HandshakeError):
            async with websocket.accept(stream):
                raise AssertionError("a malformed upgrade was accepted")

    assert (await upgrade_answer(serve)).startswith(b"HTTP/1.1 400")


async def test_a_refusal_keeps_its_status_and_body() -> None:
    async def refuse(stream: trio.SocketStream) -> None:
        await websocket.reject(stream, 503, body=b'{"message":"Service Unavailable"}')

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, refuse, 0, host="127.0.0.1"))
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        with pytest.raises(trio_websocket.ConnectionRejected) as raised:
            async with trio_websocket.open_websocket_url(url):
                pass
        nursery.cancel_scope.cancel()
    assert raised.value.status_code == 503
    assert raised.value.body == b'{"message":"Service Unavailable"}'
    assert (b"content-type", b"application/json") in raised.value.headers


async def test_send_queued_sends_in_order_then_closes_with_the_queued_reason() -> None:
    async def sender(ws: websocket.WebSocket) -> None:
        outbox: Mailbox[str | websocket.Close] = Mailbox()
        for item in ("a", "b", websocket.Close(4000, "bye"), "never sent"):
            outbox.put(item)
        await ws.send_queued(outbox)  # returns once closed
        assert ws.closed is not None

    received: list[str | bytes] = []
    async with our_server(sender) as url, trio_websocket.open_websocket_url(url) as client:
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            while True:
                received.append(await client.get_message())
    assert received == ["a", "b"]
    assert raised.value.reason is not None
    assert (raised.value.reason.code, raised.value.reason.reason) == (4000, "bye")


async def test_an_exception_in_an_accepted_connection_closes_it_with_1011() -> None:
    async def serve(stream: trio.SocketStream) -> None:
        with pytest.raises(RuntimeError):
            async with websocket.accept(stream) as ws:
                await ws.get_message()
                raise RuntimeError("the handler broke")

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        async with trio_websocket.open_websocket_url(url) as client:
            await client.send_message("hello")
            with pytest.raises(trio_websocket.ConnectionClosed) as raised:
                await client.get_message()
        nursery.cancel_scope.cancel()
    assert raised.value.reason is not None
    assert raised.value.reason.code == websocket.INTERNAL_ERROR


async def test_a_wss_connection_goes_over_tls(tmp_path: Path) -> None:
    server_context, client_context = self_signed_contexts(tmp_path)

    async def echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
        async with websocket.accept(stream) as ws:
            await ws.send_message(await ws.get_message())

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_ssl_over_tcp, echo, 0, server_context, host="127.0.0.1")
        )
        port = listeners[0].transport_listener.socket.getsockname()[1]
        url = f"wss://127.0.0.1:{port}/runners/_ws"
        async with websocket.connect(url, ssl_context=client_context) as ws:
            await ws.send_message("over TLS")
            assert await ws.get_message() == "over TLS"
        nursery.cancel_scope.cancel()
