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

__all__ = [
    "MAX_FRAME_LENGTH",
    "Frame",
    "FrameError",
    "FrameReader",
    "encode_frame",
    "items_of",
    "pack_items",
    "unpack_items",
]

#: The largest ``N`` a frame may declare (64 MiB).
MAX_FRAME_LENGTH = 64 * 1024 * 1024

_LENGTH = struct.Struct(">I")
_HEADER_LENGTH = struct.Struct(">H")
_MAX_HEADER_LENGTH = 0xFFFF


class FrameError(ValueError):
    """Bytes that are not a frame of the protocol; ``reason`` says why.

    ``frames`` holds the whole frames that came before the bad bytes in the
    same :meth:`FrameReader.feed`, oldest first.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.frames: list[Frame] = []


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
        self._wanted = 0  #: the length of the frame in the buffer, once its length is read

    @property
    def missing(self) -> int:
        """How many more bytes the frame in progress needs (0 if none or not yet known)."""
        return max(0, self._wanted - len(self._buffer))

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return the frames it completes, oldest first.

        Raises:
            FrameError: a length over :data:`MAX_FRAME_LENGTH` or too short, a
                header that is not a JSON object, or one without a type ``t``;
                its ``frames`` are those completed before the bad bytes.
        """
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._wanted:
                return []  # a large frame, still coming: no copy until it is whole
            data = bytes(self._buffer)
            self._buffer.clear()
        self._wanted = 0
        frames: list[Frame] = []
        append = frames.append
        unpack_length, unpack_head = _LENGTH.unpack_from, _HEADER_LENGTH.unpack_from
        start, size = 0, len(data)
        try:
            while size - start >= 4:
                (length,) = unpack_length(data, start)
                if length > MAX_FRAME_LENGTH or length < 2:
                    _check_length(length)
                end = start + 4 + length
                if end > size:
                    self._wanted = end - start
                    break
                (head_length,) = unpack_head(data, start + 4)
                body_start = start + 6 + head_length
                if body_start > end:
                    raise FrameError(
                        f"header length {head_length} is over the frame's {length - 2}"
                    )
                append(Frame(_header(data[start + 6 : body_start]), data[body_start:end]))
                start = end
        except FrameError as exc:
            exc.frames = frames
            raise
        if start < size:
            self._buffer += data[start:]
        return frames


def _check_length(length: int) -> None:
    if length > MAX_FRAME_LENGTH:
        raise FrameError(f"frame length {length} is over the limit of {MAX_FRAME_LENGTH}")
    if length < _HEADER_LENGTH.size:
        raise FrameError(f"frame length {length} is too short for a header length")


def _header(head: bytes) -> dict[str, Any]:
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if type(header) is not dict:
        raise FrameError("frame header is not a JSON object")
    if type(header.get("t")) is not str:
        raise FrameError("frame header has no type 't' (a string)")
    return header


def pack_items(items: list[bytes]) -> bytes:
    """The body of a batched ``emit`` or ``invoke``: each item as ``u32 length`` + its bytes."""
    pack = _LENGTH.pack
    return b"".join(part for item in items for part in (pack(len(item)), item))


def unpack_items(body: bytes) -> list[bytes]:
    """The items of a batched body (see :func:`pack_items`).

    Raises:
        FrameError: the lengths do not add up to the body.
    """
    items: list[bytes] = []
    unpack, start, size = _LENGTH.unpack_from, 0, len(body)
    while start < size:
        if size - start < 4:
            raise FrameError("a batched body ends inside an item's length")
        (length,) = unpack(body, start)
        end = start + 4 + length
        if end > size:
            raise FrameError(f"a batched item of {length} bytes is over the body's end")
        items.append(body[start + 4 : end])
        start = end
    return items


def items_of(body: bytes, count: int) -> list[bytes]:
    """The bodies of the ``count`` messages a frame carries (more than one: batched)."""
    return [body] if count == 1 else unpack_items(body)
