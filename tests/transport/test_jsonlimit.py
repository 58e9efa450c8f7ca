"""The nesting depth of JSON, measured before parsing, agrees with the parsed value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.transport import jsonlimit

TEXT = st.text(st.sampled_from('[]{}"\\ax\u00e9\ud800'), max_size=6)
VALUES = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """How many arrays and objects nest in one another in ``value`` (without recursing)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, list | dict):
            deepest = max(deepest, level + 1)
            todo += [
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            ]
    return deepest


@given(value=VALUES, limit=st.integers(min_value=0, max_value=8), ascii_only=st.booleans())
def test_too_deep_agrees_with_the_parsed_depth(value: Any, limit: int, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert jsonlimit.too_deep(data, limit) == (depth(value) > limit)


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000, b'{"a":' * 50_000, b"[1," * 40_000, b"[" * 600 + b"]" * 600],
)
def test_input_past_the_limit_is_refused_before_the_parser_recurses(data: bytes) -> None:
    with pytest.raises(jsonlimit.TooDeep):
        jsonlimit.loads(data)


def test_json_at_the_limit_parses() -> None:
    data = b"[" * jsonlimit.MAX_DEPTH + b"]" * jsonlimit.MAX_DEPTH
    assert depth(jsonlimit.loads(data)) == jsonlimit.MAX_DEPTH
