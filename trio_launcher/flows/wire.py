"""Frames of the runtime pipe protocol (v0), sans-IO.

Both ends import this module: the runner, under Trio, and the shipped Python
runtime, which runs without Trio; so it uses only the standard library and
orjson.

A frame is ``u32 N`` (big-endian) then N bytes: ``u16 H`` (big-endian), H
bytes of header (a JSON object, UTF-8, with at least the type ``t``), then
``N - 2 - H`` bytes of body (a payload's JSON bytes, possibly empty). The
runner decodes headers only; it forwards bodies as they are.
"""

from __future__ import annotations

import struct

import orjson

TYPE_CHECKING = False  # keep `typing` out of the runtime
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_FRAME_LENGTH", "Frame", "FrameError", "FrameReader", "encode_frame"]

#: The largest ``N`` a frame may declare (64 MiB).
MAX_FRAME_LENGTH = 64 * 1024 * 1024

_LENGTH = struct.Struct(">I")
_HEADER_LENGTH = struct.Struct(">H")
_MAX_HEADER_LENGTH = 0xFFFF


class FrameError(ValueError):
    """Bytes that are not a frame of the protocol; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Frame:
    """One frame: its decoded ``header`` and its ``body``, left encoded."""

    __slots__ = ("body", "header")

    def __init__(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.header = header
        self.body = body

    @property
    def type(self) -> str:
        """The frame's type, the header's ``t``."""
        kind: str = self.header["t"]
        return kind

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self.header == other.header and self.body == other.body

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Frame({self.header!r}, {self.body!r})"


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    """The bytes of one frame.

    Raises:
        FrameError: the header has no type ``t``, or the frame is too large.
    """
    if not isinstance(header.get("t"), str):
        raise FrameError("a frame header needs a type 't' (a string)")
    head = orjson.dumps(header)
    if len(head) > _MAX_HEADER_LENGTH:
        raise FrameError(f"frame header of {len(head)} bytes is over {_MAX_HEADER_LENGTH}")
    length = _HEADER_LENGTH.size + len(head) + len(body)
    if length > MAX_FRAME_LENGTH:
        raise FrameError(f"frame length {length} is over the limit of {MAX_FRAME_LENGTH}")
    return b"".join((_LENGTH.pack(length), _HEADER_LENGTH.pack(len(head)), head, body))


class FrameReader:
    """Splits a byte stream into frames, however it is chunked.

    After a :class:`FrameError` the stream is out of step: stop reading it.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return the frames it completes, oldest first.

        Raises:
            FrameError: a length over :data:`MAX_FRAME_LENGTH` or too short, a
                header that is not a JSON object, or one without a type ``t``.
        """
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        start = 0
        with memoryview(buffer) as view:
            while len(buffer) - start >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, start)
                _check_length(length)
                end = start + _LENGTH.size + length
                if len(buffer) < end:
                    break
                frames.append(_parse(view[start + _LENGTH.size : end]))
                start = end
        del buffer[:start]
        return frames


def _check_length(length: int) -> None:
    if length > MAX_FRAME_LENGTH:
        raise FrameError(f"frame length {length} is over the limit of {MAX_FRAME_LENGTH}")
    if length < _HEADER_LENGTH.size:
        raise FrameError(f"frame length {length} is too short for a header length")


def _parse(frame: memoryview) -> Frame:
    """One frame from its ``N`` bytes (after the length)."""
    (head_length,) = _HEADER_LENGTH.unpack_from(frame)
    body_start = _HEADER_LENGTH.size + head_length
    if body_start > len(frame):
        raise FrameError(f"header length {head_length} is over the frame's {len(frame) - 2}")
    try:
        header = orjson.loads(frame[_HEADER_LENGTH.size : body_start])
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    if not isinstance(header.get("t"), str):
        raise FrameError("frame header has no type 't' (a string)")
    return Frame(header, bytes(frame[body_start:]))
