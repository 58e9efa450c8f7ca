"""Length-prefixed frames on a task's socket (blocking side, in the task process).

Every message is a 4-byte big-endian length followed by that many bytes, as
in n8n's child-to-parent pipe.  The runner sends one frame, the marshalled
``(request, code)`` pair: the request holds only JSON values, which
:mod:`marshal` reads in C with no Python code running, in the same
interpreter that wrote them.  The task answers with one JSON frame, written
with ``default=str`` and ``ensure_ascii=False`` like n8n, and without NaN or
Infinity, which the broker's JSON cannot carry: a result holding one is the
task's error.
"""

from __future__ import annotations

import struct
from _json import encode_basestring, make_encoder

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any

LENGTH = struct.Struct(">I")
MAX_FRAME = 2**32 - 1


def send_frame(sock: socket, payload: bytes) -> None:
    """Write one frame (blocking)."""
    if len(payload) > MAX_FRAME:
        raise ValueError(f"frame of {len(payload)} bytes is too large")
    sock.sendall(LENGTH.pack(len(payload)) + payload)


def recv_frame(sock: socket) -> bytes:
    """Read one frame (blocking); :class:`EOFError` if the peer closes first."""
    (size,) = LENGTH.unpack(_recv_exactly(sock, LENGTH.size))
    return bytes(_recv_exactly(sock, size))


def _recv_exactly(sock: socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            raise EOFError(f"connection closed after {received} of {size} bytes")
        received += count
    return buffer


#: The description of a result that is not JSON: what the user can change.
NOT_JSON_DESCRIPTION = (
    "Return only JSON values: NaN, Infinity and lists or dicts that contain themselves "
    "cannot be sent (use None or a string instead)."
)


def encode_reply(reply: dict[str, Any]) -> bytes:
    """Serialise a task reply as n8n does; a result that is not JSON becomes an error."""
    try:
        text = to_json(reply, allow_nan=False)
    except (TypeError, ValueError, RecursionError, MemoryError) as exc:
        failure = {
            "message": f"Task result could not be serialised: {exc}",
            "description": NOT_JSON_DESCRIPTION,
        }
        text = to_json({"error": failure, "print_args": reply.get("print_args", [])})
    return text.encode("utf-8", "replace")


def to_json(value: Any, *, allow_nan: bool = True) -> str:
    """``json.dumps(value, default=str, ensure_ascii=False)``, minus its Python layers.

    :meth:`json.JSONEncoder.encode` comes down to this call of the C encoder
    (with a fresh ``markers`` dict for the circular-reference check);
    calling it directly runs no Python code in :mod:`json`.  Replies and
    printed values both go through it; replies with ``allow_nan=False``.
    """
    encoder = make_encoder({}, str, encode_basestring, None, ": ", ", ", False, False, allow_nan)
    return "".join(encoder(value, 0))
