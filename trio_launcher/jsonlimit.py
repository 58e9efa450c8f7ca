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


# A string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests more than ``limit`` arrays and objects."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # fewer brackets than the limit cannot nest deeper than it
    depth = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if len(token) != 1:
            continue
        if token[0] in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; ValueError if it is not JSON, :class:`TooDeep` if it nests too deeply."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(raw)
