"""Our WebSocket connections against trio-websocket, an independent implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing
import trio_websocket
import wsproto.utilities
from wsproto.connection import ConnectionState

from trio_launcher import websocket
from trio_launcher.mailbox import Mailbox

Handler = Callable[[trio_websocket.WebSocketRequest], Awaitable[None]]


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


async def test_a_refused_upgrade_raises_with_its_status() -> None:
    async def refuse(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(403)

    async with server(refuse) as url:
        with pytest.raises(websocket.WebSocketRejected) as raised:
            async with websocket.connect(url):
                pass
    assert raised.value.status_code == 403


async def test_the_servers_close_code_is_reported() -> None:
    async def close(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1001, "going away")

    async with server(close) as url, websocket.connect(url) as ws:
        with pytest.raises(websocket.WebSocketClosed) as raised:
            await ws.get_message()
    assert raised.value.reason == websocket.CloseReason(1001, "going away")


async def test_a_message_over_the_limit_closes_with_1009() -> None:
    closed = trio.Event()
    codes: list[int | None] = []

    async def big(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("x" * 2000)
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            codes.append(exc.reason.code)
            closed.set()

    async with server(big) as url, websocket.connect(url, max_message_size=1000) as ws:
        with pytest.raises(websocket.WebSocketClosed):
            await ws.get_message()
        await closed.wait()
    assert codes == [1009]


async def test_sending_while_the_close_is_answered_raises_websocket_closed() -> None:
    """A message sent while the reader is still answering the server's close frame."""

    async def close(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1001, "going away")

    async with server(close) as url, websocket.connect(url) as ws, ws._send_lock:
        # The lock holds up the reader's answer to the close frame.
        with trio.fail_after(5):
            while ws._ws.state is ConnectionState.OPEN:
                await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(websocket.WebSocketClosed) as raised:
            await ws.send_message("too late")
    assert raised.value.reason == websocket.CloseReason(1001, "going away")


@asynccontextmanager
async def our_server(
    handler: Callable[[websocket.WebSocketConnection], Awaitable[None]],
) -> AsyncIterator[str]:
    async def serve(stream: trio.SocketStream) -> None:
        async with websocket.accept(stream, max_message_size=1000) as ws:
            await handler(ws)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        yield f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        nursery.cancel_scope.cancel()


async def test_accepted_connection_talks_to_an_independent_client() -> None:
    async def echo_batch(ws: websocket.WebSocketConnection) -> None:
        first, second = await ws.get_message(), await ws.get_message()
        await ws.send_messages([second, first])  # one write, two frames
        await ws.aclose(1000, "done")

    async with our_server(echo_batch) as url, trio_websocket.open_websocket_url(url) as client:
        await client.send_message("a")
        await client.send_message("b")
        assert [await client.get_message(), await client.get_message()] == ["b", "a"]
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            await client.get_message()
    assert raised.value.reason.code == 1000


async def test_pongs_count_the_answers_to_our_pings() -> None:
    counted = trio.Event()

    async def pinger(ws: websocket.WebSocketConnection) -> None:
        await ws.ping(b"1")
        await ws.ping(b"2")
        while ws.pongs < 2:  # the reader counts them as they come
            await trio.testing.wait_all_tasks_blocked()
        counted.set()
        with pytest.raises(websocket.WebSocketClosed):
            await ws.get_message()  # until the client goes

    async with our_server(pinger) as url, trio_websocket.open_websocket_url(url):
        with trio.fail_after(5):
            await counted.wait()


async def test_an_accepted_message_over_the_limit_closes_with_1009() -> None:
    async def reader(ws: websocket.WebSocketConnection) -> None:
        with pytest.raises(websocket.WebSocketClosed):
            await ws.get_message()

    async with our_server(reader) as url, trio_websocket.open_websocket_url(url) as client:
        await client.send_message("x" * 2000)
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            await client.get_message()
    assert raised.value.reason.code == 1009


async def test_a_malformed_upgrade_is_answered_with_400() -> None:
    async def never(ws: websocket.WebSocketConnection) -> None:
        raise AssertionError("a malformed upgrade was accepted")

    async def serve(stream: trio.SocketStream) -> None:
        with pytest.raises(wsproto.utilities.RemoteProtocolError):
            async with websocket.accept(stream):
                pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        answer = await stream.receive_some()
        nursery.cancel_scope.cancel()
    assert answer.startswith(b"HTTP/1.1 400")


async def test_send_queued_sends_in_order_then_closes_with_the_queued_reason() -> None:
    async def sender(ws: websocket.WebSocketConnection) -> None:
        outbox: Mailbox[str | websocket.CloseReason] = Mailbox()
        for item in ("a", "b", websocket.CloseReason(4000, "bye"), "never sent"):
            outbox.put(item)
        await ws.send_queued(outbox)  # returns once closed
        assert ws.closed == websocket.CloseReason(4000, "bye")

    received: list[str | bytes] = []
    async with our_server(sender) as url, trio_websocket.open_websocket_url(url) as client:
        with pytest.raises(trio_websocket.ConnectionClosed) as raised:
            while True:
                received.append(await client.get_message())
    assert received == ["a", "b"]
    assert (raised.value.reason.code, raised.value.reason.reason) == (4000, "bye")


async def test_an_exception_in_an_accepted_connection_closes_it_with_1011() -> None:
    async def serve(stream: trio.SocketStream) -> None:
        with pytest.RaisesGroup(RuntimeError, allow_unwrapped=True):
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
    assert raised.value.reason.code == websocket.INTERNAL_ERROR
