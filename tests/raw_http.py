"""Raw HTTP over a real socket, for requests no well-behaved client would send."""

from __future__ import annotations

import trio

CHUNK = b"\0" * (1024 * 1024)


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then end the stream; everything the server sends until it closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        try:
            await stream.send_all(data)
            await stream.send_eof()
        except trio.BrokenResourceError:
            pass  # the server closed before it read everything
        return await read_to_end(stream)


async def read_to_end(stream: trio.abc.ReceiveStream) -> bytes:
    """All the peer sends until it closes (a reset ends it too)."""
    answer = bytearray()
    try:
        while data := await stream.receive_some():
            answer += data
    except trio.BrokenResourceError:
        pass
    return bytes(answer)


async def bytes_taken(port: int, head: bytes, *, most: int, chunked: bool = False) -> int:
    """Send ``head``, then a body of zeros until the server stops taking them (or ``most``).

    Returns the body bytes the connection took before it broke: an upper bound
    on what the server read. ``chunked`` frames the body in chunks of 1 MiB.
    """
    piece = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    sent = 0
    async with stream:
        try:
            await stream.send_all(head)
            while sent < most:
                await stream.send_all(piece)
                sent += len(CHUNK)
        except trio.BrokenResourceError:
            pass
    return sent


def post(path: str, body: bytes, *headers: str) -> bytes:
    """A POST request with ``body`` and a Content-Length (unless a header replaces it)."""
    lines = [f"POST {path} HTTP/1.1", "Host: broker", *headers]
    if not any(h.lower().startswith(("content-length:", "transfer-encoding:")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(answer: bytes) -> int:
    """The status code of the first response in ``answer``."""
    return int(answer.split(b" ", 2)[1])
