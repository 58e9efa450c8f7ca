"""Length-prefixed frames on a task's socket, runner side (Trio).

The same framing as :mod:`.task_wire`: a 4-byte big-endian length, then the
bytes.  The runner sends its frames while it waits for the reply, so a task
process that answers early (or dies) never leaves it blocked on a send.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from trio_launcher.runner.task_wire import LENGTH, MAX_FRAME

_CHUNK = 1 << 20


async def exchange(stream: trio.abc.Stream, frames: Sequence[bytes]) -> bytes | None:
    """Send *frames*, return the one frame received back (None if the peer closed first)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_frames, stream, frames)
        reply = await receive_frame(stream)
        nursery.cancel_scope.cancel()
    return reply


async def send_frames(stream: trio.abc.Stream, frames: Sequence[bytes]) -> None:
    """Send each frame; a peer that went away is not an error here."""
    try:
        for frame in frames:
            if len(frame) > MAX_FRAME:
                raise ValueError(f"frame of {len(frame)} bytes is too large")
            await stream.send_all(LENGTH.pack(len(frame)))
            await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def receive_frame(stream: trio.abc.Stream) -> bytes | None:
    """Receive one frame; None if the stream ends before it is complete."""
    header = await _receive_exactly(stream, LENGTH.size)
    if header is None:
        return None
    (size,) = LENGTH.unpack(header)
    return await _receive_exactly(stream, size)


async def _receive_exactly(stream: trio.abc.Stream, size: int) -> bytes | None:
    buffer = bytearray()
    try:
        while len(buffer) < size:
            chunk = await stream.receive_some(min(size - len(buffer), _CHUNK))
            if not chunk:
                return None
            buffer += chunk
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return None
    return bytes(buffer)
