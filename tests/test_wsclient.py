"""The lean WebSocket client against trio-websocket's server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio_websocket
from wsproto.connection import ConnectionState

from trio_launcher import wsclient

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

    async with server(echo) as url, wsclient.connect(url, headers=[("Authorization", "x")]) as ws:
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

    async with server(pinger) as url, wsclient.connect(url):
        await pongs.wait()


async def test_a_refused_upgrade_raises_with_its_status() -> None:
    async def refuse(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(403)

    async with server(refuse) as url:
        with pytest.raises(wsclient.WebSocketRejected) as raised:
            async with wsclient.connect(url):
                pass
    assert raised.value.status_code == 403


async def test_the_servers_close_code_is_reported() -> None:
    async def close(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1001, "going away")

    async with server(close) as url, wsclient.connect(url) as ws:
        with pytest.raises(wsclient.WebSocketClosed) as raised:
            await ws.get_message()
    assert raised.value.reason == wsclient.CloseReason(1001, "going away")


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

    async with server(big) as url, wsclient.connect(url, max_message_size=1000) as ws:
        with pytest.raises(wsclient.WebSocketClosed):
            await ws.get_message()
        await closed.wait()
    assert codes == [1009]


async def test_sending_while_the_close_is_answered_raises_websocket_closed() -> None:
    """A message sent while the reader is still answering the server's close frame."""

    async def close(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1001, "going away")

    async with server(close) as url, wsclient.connect(url) as ws, ws._send_lock:
        # The lock holds up the reader's answer to the close frame.
        with trio.fail_after(5):
            while ws._ws.state is ConnectionState.OPEN:
                await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(wsclient.WebSocketClosed) as raised:
            await ws.send_message("too late")
    assert raised.value.reason == wsclient.CloseReason(1001, "going away")
