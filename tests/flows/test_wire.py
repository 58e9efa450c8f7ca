"""Frames of the runtime pipe protocol: round trips through any chunking, garbage rejected."""

from __future__ import annotations

import itertools
import struct

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.flows.wire import MAX_FRAME_LENGTH, Frame, FrameError, FrameReader, encode_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
headers = st.dictionaries(st.text(), json_values, max_size=4).flatmap(
    lambda extra: st.text().map(lambda kind: {**extra, "t": kind})
)
frames = st.tuples(headers, st.binary(max_size=300)).map(lambda pair: Frame(*pair))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the positions ``cuts`` (modulo its length)."""
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


def raw_frame(header: bytes, body: bytes = b"") -> bytes:
    length = 2 + len(header) + len(body)
    return struct.pack(">IH", length, len(header)) + header + body


@given(st.lists(frames, max_size=6), st.lists(st.integers(min_value=0), max_size=8))
def test_frames_round_trip_through_any_chunking(sent: list[Frame], cuts: list[int]) -> None:
    data = b"".join(encode_frame(frame.header, frame.body) for frame in sent)
    reader = FrameReader()
    received = [frame for chunk in chunked(data, cuts) for frame in reader.feed(chunk)]
    assert received == sent


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0), max_size=4))
def test_garbage_raises_frame_error_and_nothing_else(data: bytes, cuts: list[int]) -> None:
    reader = FrameReader()
    try:
        for chunk in chunked(data, cuts):
            for frame in reader.feed(chunk):
                assert isinstance(frame.type, str)
    except FrameError as exc:
        assert exc.reason


def test_the_wire_layout_is_length_header_length_header_body() -> None:
    data = encode_frame({"t": "emit", "port": "out"}, b"[1]")
    header = orjson.dumps({"t": "emit", "port": "out"})
    assert data == struct.pack(">IH", 2 + len(header) + 3, len(header)) + header + b"[1]"


def test_a_frame_type_is_its_header_t() -> None:
    assert Frame({"t": "ping", "id": "7"}).type == "ping"


def test_a_length_over_the_limit_is_an_error_naming_it() -> None:
    with pytest.raises(FrameError, match=str(MAX_FRAME_LENGTH + 1)):
        FrameReader().feed(struct.pack(">I", MAX_FRAME_LENGTH + 1))


def test_a_frame_of_the_largest_length_is_accepted_as_incomplete() -> None:
    assert FrameReader().feed(struct.pack(">I", MAX_FRAME_LENGTH)) == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (struct.pack(">I", 1) + b"x", "too short"),
        (struct.pack(">IH", 3, 5) + b"x", "header length 5"),
        (raw_frame(b"[1, 2]"), "not a JSON object"),
        (raw_frame(b"{not json"), "not JSON"),
        (raw_frame(b'{"id": "1"}'), "no type"),
        (raw_frame(b'{"t": 1}'), "no type"),
        (raw_frame(b'{"t": "\xff"}'), "not JSON"),
    ],
)
def test_bad_frames_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        FrameReader().feed(data)


def test_encoding_needs_a_type() -> None:
    with pytest.raises(FrameError, match="type"):
        encode_frame({"id": "1"})
