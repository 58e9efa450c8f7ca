"""The stream under our WebSockets: held writes go out as one, and its end is seen."""

from __future__ import annotations

import trio
import trio.testing

from trio_launcher.transport.batching_stream import BatchingStream


class CountingStream:
    """A memory send stream and the number of its ``send_all`` calls."""

    def __init__(self) -> None:
        self.writes = 0
        self.stream = trio.testing.MemorySendStream(send_all_hook=self._count)

    async def _count(self) -> None:
        self.writes += 1

    def get_data_nowait(self) -> bytes:
        return bytes(self.stream.get_data_nowait())


def batching_over_counter() -> tuple[BatchingStream, CountingStream]:
    counter = CountingStream()
    receive = trio.testing.MemoryReceiveStream()
    return BatchingStream(trio.StapledStream(counter.stream, receive)), counter


async def test_writes_held_go_out_in_one_write_at_the_flush() -> None:
    stream, counter = batching_over_counter()
    stream.hold()
    for part in (b"a", b"b", b"c"):
        await stream.send_all(part)
    assert counter.writes == 0
    await stream.flush()
    assert counter.writes == 1
    assert counter.get_data_nowait() == b"abc"


async def test_nested_holds_send_at_the_last_flush() -> None:
    stream, counter = batching_over_counter()
    stream.hold()
    stream.hold()
    await stream.send_all(b"inner")
    await stream.flush()
    await stream.send_all(b" outer")
    assert counter.writes == 0
    await stream.flush()
    assert counter.get_data_nowait() == b"inner outer"


async def test_a_write_with_no_hold_goes_out_at_once() -> None:
    stream, counter = batching_over_counter()
    await stream.send_all(b"now")
    assert (counter.writes, counter.get_data_nowait()) == (1, b"now")


async def test_the_end_of_the_stream_is_seen_with_its_reason() -> None:
    left, right = trio.testing.memory_stream_pair()
    stream = BatchingStream(left)
    await right.aclose()
    assert await stream.receive_some() == b""
    await stream.wait_ended()
    assert stream.end_reason == "the peer closed the connection"


async def test_closing_the_stream_ends_it() -> None:
    left, _ = trio.testing.memory_stream_pair()
    stream = BatchingStream(left)
    await stream.aclose()
    await stream.wait_ended()
    assert stream.end_reason == "the connection was closed"
