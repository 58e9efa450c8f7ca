"""worker.wire: a task's reply is the JSON ``json.dumps`` would write, as n8n expects."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.runner.worker.wire import NOT_JSON_DESCRIPTION, encode_reply, to_json

VALUES: list[Any] = [
    {},
    {"result": [], "print_args": []},
    {"text": 'naïve ☃ \u2028 \x00 "quoted" \\', "emoji": "\U0001f600"},
    {"numbers": [0, -1, 2**70, 1.5, 1e300, -0.0]},
    {"flags": [True, False, None], "nested": {"a": [{"b": ({"c": 1},)}]}},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    {"date": datetime.date(2024, 1, 2), "function": print, "set": {1}},
]


@pytest.mark.parametrize("value", VALUES)
def test_replies_are_encoded_exactly_like_json_dumps(value: dict[str, Any]) -> None:
    assert to_json(value) == json.dumps(value, default=str, ensure_ascii=False)
    expected = json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "replace")
    assert encode_reply(value) == expected


def test_printed_values_keep_nan_and_infinity_as_json_dumps_does() -> None:
    value = {"numbers": [math.inf, -math.inf, math.nan]}
    assert to_json(value) == json.dumps(value, default=str, ensure_ascii=False)


def test_a_reply_that_cannot_be_encoded_becomes_an_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    reply = json.loads(encode_reply({"result": loop, "print_args": [["'x'"]]}))
    assert reply == {
        "error": {
            "message": "Task result could not be serialised: Circular reference detected",
            "description": NOT_JSON_DESCRIPTION,
        },
        "print_args": [["'x'"]],
    }


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_result_holding_nan_or_infinity_becomes_an_error(number: float) -> None:
    reply = json.loads(encode_reply({"result": [{"json": {"x": number}}], "print_args": []}))
    assert reply["error"]["message"] == (
        "Task result could not be serialised: Out of range float values are not JSON compliant"
    )


def test_the_encoder_can_be_used_again_after_a_failure() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        to_json({"loop": loop})
    assert to_json({"fine": [loop[0] is loop]}) == '{"fine": [true]}'


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON_VALUES))
def test_any_json_reply_is_encoded_like_json_dumps(value: dict[str, Any]) -> None:
    assert to_json(value) == json.dumps(value, default=str, ensure_ascii=False)


@given(JSON_VALUES)
def test_any_printed_value_is_encoded_like_json_dumps(value: Any) -> None:
    assert to_json(value) == json.dumps(value, default=str, ensure_ascii=False)
