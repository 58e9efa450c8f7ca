"""How run_child turns pipe contents into lines (white-box: internal helpers)."""

from __future__ import annotations

import itertools
import os

import trio
from hypothesis import given
from hypothesis import strategies as st
from process_helpers import HANG_GUARD

from trio_launcher.process._lines import MAX_LINE_LENGTH, LineSplitter
from trio_launcher.process.child import _OutputPump


def split(*chunks: bytes) -> list[str]:
    splitter = LineSplitter()
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.finish()


def test_multibyte_characters_and_crlf_survive_chunk_boundaries() -> None:
    data = "héllo wörld\r\n€\n".encode()
    assert split(data[:2], data[2:12], data[12:14], data[14:]) == ["héllo wörld", "€"]


def test_unterminated_last_line_is_delivered_by_finish() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb") == ["a"]
    assert splitter.finish() == ["b"]
    assert splitter.finish() == []


def test_long_line_is_delivered_in_pieces_before_it_ends() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"x" * (MAX_LINE_LENGTH - 1)) == []
    assert splitter.feed(b"xx") == ["x" * MAX_LINE_LENGTH]
    assert splitter.feed(b"\n") == ["x"]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_chunking_does_not_change_the_lines(data: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    chunks = [data[start:end] for start, end in itertools.pairwise(bounds)]
    lines = split(*chunks)
    assert lines == split(data)
    assert all(line.strip() and "\n" not in line for line in lines)


async def test_stopped_pump_delivers_what_was_written_without_waiting_for_eof() -> None:
    # As when a process that left the group still holds the pipe open.
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.write(write_fd, b"one\ntwo")
    lines: list[str] = []
    pump = _OutputPump("stdout", read_fd, lambda stream, line: lines.append(line))
    pump.stop()
    with trio.fail_after(HANG_GUARD):
        await pump.run()
    os.close(write_fd)
    assert lines == ["one", "two"]
