"""The HTTP front end every server shares: one boundary per connection, deadlines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import pytest
import trio
import trio.testing
from raw_http import read_to_end

from trio_launcher.transport.http_messages import Request, Response
from trio_launcher.transport.http_server import serve_http_connection

SECRET = "hunter2-do-not-log"


async def on_request(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError(f"the handler broke on {SECRET}")
    if request.path == "/deep":
        raise ExceptionGroup("several", [KeyError(SECRET), ValueError(SECRET)])
    return Response.json(200, {"path": request.path})


@asynccontextmanager
async def server(**options: float) -> AsyncIterator[int]:
    """A server as the health endpoints build theirs; yields its port."""

    async def handle(stream: trio.SocketStream) -> None:
        await serve_http_connection(stream, on_request, max_body=4096, **options)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("path", ["/boom", "/deep"])
async def test_a_handler_that_fails_gets_a_500_logged_once_without_its_message(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="trio_launcher")
    async with server() as port, httpx.AsyncClient() as http:
        failed = await http.get(f"http://127.0.0.1:{port}{path}")
        after = await http.get(f"http://127.0.0.1:{port}/ok")
    assert failed.status_code == 500
    assert after.status_code == 200 and after.json() == {"path": "/ok"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert SECRET not in caplog.text


async def test_a_half_sent_request_is_answered_408_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with server(request_timeout=10, keepalive_timeout=100) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        opened = trio.current_time()
        await stream.send_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nAccept: ")
        answer = await read_to_end(stream)
        closed = trio.current_time()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert closed - opened >= 10


async def test_a_connection_that_sends_nothing_is_closed_at_the_request_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with server(request_timeout=10, keepalive_timeout=100) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        opened = trio.current_time()
        answer = await read_to_end(stream)
        closed = trio.current_time()
    assert answer == b""
    assert closed - opened >= 10


async def test_a_trickle_of_bytes_does_not_extend_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with server(request_timeout=10, keepalive_timeout=100) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        opened = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def trickle() -> None:
                try:
                    for byte in b"GET /ok HTTP/1.1\r\nHost: " + b"x" * 100:
                        await stream.send_all(bytes([byte]))
                        await trio.sleep(1)  # virtual time: a slow-loris client
                except trio.BrokenResourceError:
                    pass

            nursery.start_soon(trickle)
            answer = await read_to_end(stream)
            nursery.cancel_scope.cancel()
        closed = trio.current_time()
    # Bytes still coming when the server closes may reset the 408 away.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
    assert 10 <= closed - opened < 11


async def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with server(request_timeout=100, keepalive_timeout=5) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"path":"/ok"}'):
            answer += await stream.receive_some()
        answered = trio.current_time()
        rest = await read_to_end(stream)
        closed = trio.current_time()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nkeep-alive: timeout=5\r\n" in answer  # told to the client
    assert rest == b""
    assert 5 <= closed - answered < 100


async def test_a_later_request_has_its_own_deadline_from_its_first_byte(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with server(request_timeout=10, keepalive_timeout=5) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"path":"/ok"}'):
            answer += await stream.receive_some()
        await trio.sleep(4)  # virtual time, within the keep-alive timeout
        started = trio.current_time()
        await stream.send_all(b"GET /ok HTTP/1.1\r\n")
        rest = await read_to_end(stream)
        closed = trio.current_time()
    assert rest.startswith(b"HTTP/1.1 408 ")
    assert 10 <= closed - started < 11
