"""JSON from untrusted peers: the nesting depth is checked before the parser runs.

Python's parser recurses once per nested array or object, so a body of a few
kilobytes of ``[`` exhausts the interpreter's recursion limit. Servers parse
what they receive with :func:`loads`, which refuses such input with a
ValueError, like any other input that is not JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "loads", "too_deep"]

#: Most arrays and objects nested in one another that a server accepts.
MAX_DEPTH = 512


class TooDeep(ValueError):
    """The JSON text nests more arrays and objects than allowed."""


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests more than ``limit`` arrays and objects.

    All in C-speed byte operations: drop escapes, then strings, then all but
    brackets; each pass that removes the innermost ``[]`` pairs is one level.
    Brackets left unclosed count as levels too (the parser descends into them).
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # fewer brackets than the limit cannot nest deeper than it
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    outside_strings = b"".join(data.split(b'"')[::2])
    brackets = outside_strings.translate(_AS_SQUARE, _NOT_BRACKETS)
    depth = 0
    while depth <= limit:
        inner = brackets.replace(b"[]", b"")
        if inner == brackets:
            return depth + inner.count(b"[") > limit
        brackets = inner
        depth += 1
    return True


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; ValueError if it is not JSON, :class:`TooDeep` if it nests too deeply."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(raw)
