"""Length-prefixed frames on a task's socket, runner side (Trio).

The same framing as :mod:`trio_launcher.runner.worker.wire`: a 4-byte big-endian length, then the
bytes.
"""

from __future__ import annotations

import contextlib

import trio

from trio_launcher.runner.worker.wire import LENGTH, MAX_FRAME

_CHUNK = 1 << 20


async def exchange(stream: trio.abc.Stream, frame: bytes) -> bytes | None:
    """Send *frame*, return the one frame received back (None if the peer closed first).

    A task process reads its whole request before it writes, or fails and
    exits, so sending first cannot leave both sides blocked on a send; a peer
    that went away is not an error here.
    """
    if len(frame) > MAX_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes is too large")
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(LENGTH.pack(len(frame)) + frame)
    return await receive_frame(stream)


async def receive_frame(stream: trio.abc.Stream) -> bytes | None:
    """Receive the peer's one frame; None if the stream ends before it is complete.

    The peer sends nothing after it, so reading past the header is safe, and
    a small frame takes one receive.
    """
    buffer = bytearray()
    try:
        while len(buffer) < LENGTH.size or len(buffer) < LENGTH.size + _size(buffer):
            chunk = await stream.receive_some(_CHUNK)
            if not chunk:
                return None
            buffer += chunk
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return None
    return bytes(buffer[LENGTH.size : LENGTH.size + _size(buffer)])


def _size(buffer: bytearray) -> int:
    size: int = LENGTH.unpack_from(buffer)[0]
    return size
