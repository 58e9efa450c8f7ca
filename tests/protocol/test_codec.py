"""The JSON wire codec: round trips, n8n's own frames, strict typing, robustness."""

from __future__ import annotations

import contextlib
import json
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_launcher.protocol import (
    ABSENT,
    MESSAGE_TYPES,
    BrokerRpcResponse,
    BrokerTaskOfferAccept,
    LocalProtocolError,
    RemoteProtocolError,
    RunnerInfo,
    RunnerTaskDone,
    UnknownMessage,
    decode,
    encode,
)
from trio_launcher.protocol.codec import wire_name

SAMPLES_FIXTURE = Path(__file__).parent / "data" / "n8n-samples.jsonl"
SHARED_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared/peers/n8n/samples"

# --- strategies -----------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def _field_strategy(tp: object) -> st.SearchStrategy[Any]:
    if tp is str:
        return st.text()
    if tp is int:
        return st.integers()
    if tp == tuple[str, ...]:
        return st.lists(st.text(), max_size=4).map(tuple)
    if tp is Any:
        return JSON_VALUES
    raise TypeError(f"no strategy for field type {tp!r}: add one here")


def _fields(cls: type[Any]) -> list[tuple[attrs.Attribute[Any], object]]:
    hints = typing.get_type_hints(cls)
    return [(field, hints[field.name]) for field in attrs.fields(cls)]


def message_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Any instance of the message class ``cls``, optional fields sometimes ABSENT."""
    kwargs = {}
    for field, tp in _fields(cls):
        strategy = _field_strategy(tp)
        if field.default is ABSENT:
            strategy = st.just(ABSENT) | strategy
        kwargs[field.name] = strategy
    return st.builds(cls, **kwargs)


ALL_TYPES = sorted(MESSAGE_TYPES)


def _sample(cls: type[Any]) -> Any:
    values = {str: "x", int: 1, tuple[str, ...]: ("x",)}
    return cls(**{f.name: values.get(tp, {"k": [1]}) for f, tp in _fields(cls)})


# --- round trips ----------------------------------------------------------------


@pytest.mark.parametrize("type_", ALL_TYPES)
@settings(max_examples=25)
@given(data=st.data())
def test_every_message_round_trips(type_: str, data: st.DataObject) -> None:
    message = data.draw(message_strategy(MESSAGE_TYPES[type_]))
    assert decode(encode(message)) == message
    assert decode(encode(message).encode()) == message


@given(
    type_=st.text(min_size=1).filter(lambda t: t not in MESSAGE_TYPES),
    rest=st.dictionaries(st.text().filter(lambda k: k != "type"), JSON_VALUES, max_size=4),
)
def test_unknown_type_keeps_the_raw_object_and_re_encodes_to_it(
    type_: str, rest: dict[str, Any]
) -> None:
    raw = {"type": type_, **rest}
    message = decode(json.dumps(raw))
    assert message == UnknownMessage(type=type_, raw=raw)
    assert json.loads(encode(message)) == raw


# --- n8n's own frames -------------------------------------------------------------


def _fixture_lines() -> list[str]:
    return SAMPLES_FIXTURE.read_text(encoding="utf-8").splitlines()


def _shared_sample_lines() -> list[str]:
    """The message objects of the peer's recorded samples, one JSON text each."""
    lines = []
    for line in (SHARED_SAMPLES / "js-runner-ws-transcript.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "msg" in record:
            lines.append(json.dumps(record["msg"]))
    for line in (SHARED_SAMPLES / "python-task-probe.txt").read_text().splitlines():
        if line.startswith(("<- ", "-> ")):
            lines.append(line[3:])
    return lines


@pytest.mark.parametrize("line", _fixture_lines())
def test_n8n_frames_round_trip_exactly(line: str) -> None:
    assert json.loads(encode(decode(line))) == json.loads(line)


def test_n8n_frames_decode_to_known_messages() -> None:
    decoded = [decode(line) for line in _fixture_lines()]
    assert not [m for m in decoded if isinstance(m, UnknownMessage)]
    assert {type(m).TYPE for m in decoded} >= {
        "broker:inforequest",
        "runner:info",
        "broker:runnerregistered",
        "runner:taskoffer",
        "broker:taskofferaccept",
        "runner:taskaccepted",
        "broker:tasksettings",
        "runner:taskdatarequest",
        "broker:taskdataresponse",
        "runner:taskdone",
    }


def test_shared_samples_round_trip_and_match_the_fixture() -> None:
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"the n8n peer samples are not at {SHARED_SAMPLES}")
    lines = _shared_sample_lines()
    for line in lines:
        assert json.loads(encode(decode(line))) == json.loads(line)
    assert [json.loads(line) for line in lines] == [json.loads(x) for x in _fixture_lines()]


# --- the wire shape ---------------------------------------------------------------

# Field names of every message as reference section 3 spells them on the wire.
WIRE_KEYS = {
    "broker:inforequest": set(),
    "broker:runnerregistered": set(),
    "broker:taskofferaccept": {"taskId", "offerId"},
    "broker:tasksettings": {"taskId", "settings"},
    "broker:taskcancel": {"taskId", "reason"},
    "broker:rpcresponse": {"callId", "taskId", "status", "data"},
    "broker:taskdataresponse": {"taskId", "requestId", "data"},
    "broker:nodetypes": {"taskId", "requestId", "nodeTypes"},
    "broker:drain": set(),
    "runner:info": {"name", "types"},
    "runner:taskoffer": {"offerId", "taskType", "validFor"},
    "runner:taskaccepted": {"taskId"},
    "runner:taskrejected": {"taskId", "reason"},
    "runner:taskdeferred": {"taskId"},
    "runner:taskdone": {"taskId", "data"},
    "runner:taskerror": {"taskId", "error"},
    "runner:rpc": {"callId", "taskId", "name", "params"},
    "runner:taskdatarequest": {"taskId", "requestId", "requestParams"},
    "runner:nodetypesrequest": {"taskId", "requestId", "requestParams"},
    "requester:taskrequest": {"requestId", "taskType"},
    "requester:tasksettings": {"taskId", "settings"},
    "requester:taskcancel": {"taskId", "reason"},
    "requester:taskdataresponse": {"taskId", "requestId", "data"},
    "requester:nodetypesresponse": {"taskId", "requestId", "nodeTypes"},
    "requester:rpcresponse": {"taskId", "callId", "status", "data"},
    "broker:taskready": {"requestId", "taskId"},
    "broker:taskdone": {"taskId", "data"},
    "broker:taskerror": {"taskId", "error"},
    "broker:requestexpired": {"requestId", "reason"},
    "broker:taskdatarequest": {"taskId", "requestId", "requestParams"},
    "broker:nodetypesrequest": {"taskId", "requestId", "requestParams"},
    "broker:rpc": {"callId", "taskId", "name", "params"},
}


def test_every_message_type_of_the_reference_is_known() -> None:
    assert set(MESSAGE_TYPES) == set(WIRE_KEYS)


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_keys_are_the_camel_case_wire_names(type_: str) -> None:
    obj = json.loads(encode(_sample(MESSAGE_TYPES[type_])))
    assert obj.pop("type") == type_
    assert set(obj) == WIRE_KEYS[type_]


def test_absent_fields_are_left_out_and_null_is_kept() -> None:
    absent = BrokerRpcResponse(call_id="c", task_id="t", status="success")
    assert json.loads(encode(absent)) == {
        "type": "broker:rpcresponse",
        "callId": "c",
        "taskId": "t",
        "status": "success",
    }
    assert decode(encode(absent)).data is ABSENT
    null = BrokerRpcResponse(call_id="c", task_id="t", status="error", data=None)
    assert json.loads(encode(null))["data"] is None
    assert decode(encode(null)) == null


def test_encoding_is_compact_and_keeps_non_ascii() -> None:
    text = encode(RunnerInfo(name="Läufer ✓", types=("python",)))
    assert text == '{"type":"runner:info","name":"Läufer ✓","types":["python"]}'


def test_extra_keys_are_ignored() -> None:
    frame = '{"type":"broker:taskofferaccept","taskId":"t","offerId":"o","future":1}'
    assert decode(frame) == BrokerTaskOfferAccept(task_id="t", offer_id="o")


def test_encode_rejects_payloads_json_cannot_hold() -> None:
    with pytest.raises(LocalProtocolError, match="runner:taskdone"):
        encode(RunnerTaskDone(task_id="t", data={"s": {1, 2}}))
    with pytest.raises(LocalProtocolError):
        encode(RunnerTaskDone(task_id="t", data=float("nan")))


# --- strict typing ----------------------------------------------------------------

WRONG_VALUES: dict[object, list[tuple[object, str]]] = {
    str: [(5, "number"), (None, "null"), (True, "boolean"), ([], "array"), ({}, "object")],
    int: [("5", "string"), (5.5, "number"), (5.0, "number"), (True, "boolean"), (None, "null")],
    tuple[str, ...]: [("python", "string"), ({}, "object"), (None, "null"), ([1], "array")],
}
TYPED_FIELDS = [
    pytest.param(type_, field.name, tp, id=f"{type_}.{field.name}")
    for type_ in ALL_TYPES
    for field, tp in _fields(MESSAGE_TYPES[type_])
    if tp in WRONG_VALUES
]


@pytest.mark.parametrize(("type_", "field", "tp"), TYPED_FIELDS)
def test_a_wrong_json_type_is_a_remote_error_naming_type_and_field(
    type_: str, field: str, tp: object
) -> None:
    good = json.loads(encode(_sample(MESSAGE_TYPES[type_])))
    for value, got in WRONG_VALUES[tp]:
        with pytest.raises(RemoteProtocolError) as info:
            decode(json.dumps({**good, wire_name(field): value}))
        assert info.value.close_code == 1002
        assert type_ in info.value.reason
        assert f"'{wire_name(field)}'" in info.value.reason
        assert f"got {got}" in info.value.reason


@pytest.mark.parametrize(
    ("type_", "field"),
    [
        (type_, field.name)
        for type_ in ALL_TYPES
        for field, _ in _fields(MESSAGE_TYPES[type_])
        if field.default is attrs.NOTHING
    ],
)
def test_a_missing_field_is_a_remote_error_naming_it(type_: str, field: str) -> None:
    obj = json.loads(encode(_sample(MESSAGE_TYPES[type_])))
    del obj[wire_name(field)]
    with pytest.raises(RemoteProtocolError, match=f"'{wire_name(field)}' is missing"):
        decode(json.dumps(obj))


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ("[]", "JSON array, not an object"),
        ('"x"', "JSON string, not an object"),
        ("null", "JSON null, not an object"),
        ("{}", "no string 'type'"),
        ('{"type":7}', "no string 'type'"),
    ],
)
def test_frames_that_are_not_messages(frame: str | bytes, complaint: str) -> None:
    with pytest.raises(RemoteProtocolError, match=complaint):
        decode(frame)


# --- robustness -------------------------------------------------------------------


def _task_done_frame(data_json: str) -> str:
    return '{"type":"runner:taskdone","taskId":"t","data":' + data_json + "}"


WIRE_FIELD_NAMES = sorted({key for keys in WIRE_KEYS.values() for key in keys})
ANY_JSON = st.recursive(
    JSON_SCALARS | st.floats() | st.integers(min_value=-(10**40), max_value=10**40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)
GARBAGE_MESSAGES = st.builds(
    lambda type_, fields: {"type": type_, **fields},
    st.sampled_from(ALL_TYPES),
    st.dictionaries(st.sampled_from(WIRE_FIELD_NAMES) | st.text(), ANY_JSON, max_size=6),
)
DEEP = st.builds(
    lambda n, wrap: wrap("[" * n + "]" * n),
    st.integers(1, 20_000),
    st.sampled_from([str, _task_done_frame]),
)
HUGE_INT = st.integers(1, 8_000).map(
    lambda n: '{"type":"runner:taskoffer","offerId":"o","taskType":"t","validFor":%s}' % ("9" * n)
)
FRAMES = st.one_of(
    st.text(),
    st.binary(),
    ANY_JSON.map(json.dumps),
    GARBAGE_MESSAGES.map(json.dumps),
    GARBAGE_MESSAGES.map(lambda obj: json.dumps(obj).encode("utf-16")),
    DEEP,
    HUGE_INT,
)


@settings(max_examples=300)
@given(frame=FRAMES)
def test_decode_raises_nothing_but_remote_protocol_error(frame: str | bytes) -> None:
    try:
        message = decode(frame)
    except RemoteProtocolError as exc:
        assert exc.close_code == 1002
        assert exc.reason
        return
    try:
        text = encode(message)
    except LocalProtocolError:
        return  # a payload nested deeper than encode can go
    text.encode("utf-8")  # sendable as a text frame
    assert decode(text) == message


# --- codec edge cases: non-JSON constants, lone surrogates, deep payloads ---------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_decode_rejects_non_json_number_constants(constant: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(_task_done_frame(constant))


def test_an_escaped_lone_surrogate_is_re_encoded_as_sendable_text() -> None:
    message = decode('{"type":"broker:taskcancel","taskId":"t","reason":"a\\ud800b"}')
    encode(message).encode("utf-8")


def test_what_decode_accepts_encode_encodes() -> None:
    depth = 600
    message = decode(_task_done_frame("[" * depth + "]" * depth))
    with contextlib.suppress(LocalProtocolError):
        encode(message)
