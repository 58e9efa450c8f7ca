"""The launcher handshake (reference 8.4): register, offer once, defer the first task."""

from __future__ import annotations

import re
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.protocol import (
    BROKER_TO_REQUESTER,
    REQUESTER_TO_BROKER,
    RUNNER_TO_BROKER,
    BrokerDrain,
    BrokerInfoRequest,
    BrokerNodeTypes,
    BrokerRpcResponse,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskDataResponse,
    BrokerTaskOfferAccept,
    BrokerTaskSettings,
    RemoteProtocolError,
    RunnerInfo,
    RunnerTaskDeferred,
    RunnerTaskOffer,
    UnknownMessage,
)
from trio_launcher.protocol.handshake import (
    HANDSHAKE_TRANSITIONS,
    HandshakeState,
    LauncherHandshake,
)

INFO_REQUEST = BrokerInfoRequest()
REGISTERED = BrokerRunnerRegistered()
ACCEPT = BrokerTaskOfferAccept(task_id="t0", offer_id="9f1c2ab34de56f70")


def handshake() -> LauncherHandshake:
    return LauncherHandshake("python", offer_id="9f1c2ab34de56f70")


def test_defaults_follow_the_launcher() -> None:
    shake = LauncherHandshake("javascript")
    assert shake.name == "launcher-javascript"
    assert re.fullmatch("[0-9a-f]{16}", shake.offer_id)
    assert LauncherHandshake("javascript").offer_id != shake.offer_id
    assert shake.state is HandshakeState.AWAITING_INFO_REQUEST
    assert not shake.done
    assert shake.task_id is None


def test_the_happy_path() -> None:
    shake = handshake()
    assert shake.receive(INFO_REQUEST) == [RunnerInfo(name="launcher-python", types=("python",))]
    assert shake.state is HandshakeState.AWAITING_REGISTRATION
    assert shake.receive(REGISTERED) == [
        RunnerTaskOffer(offer_id="9f1c2ab34de56f70", task_type="python", valid_for=-1)
    ]
    assert shake.state is HandshakeState.OFFERED
    assert not shake.done
    assert shake.receive(ACCEPT) == [RunnerTaskDeferred(task_id="t0")]
    assert shake.state is HandshakeState.DEFERRED
    assert shake.done
    assert shake.task_id == "t0"


def test_a_custom_name() -> None:
    shake = LauncherHandshake("python", name="my launcher")
    assert shake.receive(INFO_REQUEST) == [RunnerInfo(name="my launcher", types=("python",))]


def test_an_accept_for_another_offer_is_ignored() -> None:
    shake = handshake()
    shake.receive(INFO_REQUEST)
    shake.receive(REGISTERED)
    assert shake.receive(BrokerTaskOfferAccept(task_id="t1", offer_id="someone-else")) == []
    assert shake.state is HandshakeState.OFFERED
    assert shake.task_id is None


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ([], REGISTERED),  # registered before we said who we are
        ([], ACCEPT),  # accepted before we offered
        ([INFO_REQUEST], INFO_REQUEST),
        ([INFO_REQUEST], ACCEPT),
        ([INFO_REQUEST, REGISTERED], REGISTERED),  # a second offer is never made
        ([INFO_REQUEST, REGISTERED, ACCEPT], ACCEPT),  # done: nothing more is answered
        ([INFO_REQUEST, REGISTERED, ACCEPT], INFO_REQUEST),
    ],
)
def test_messages_out_of_turn_are_ignored(before: list[Any], message: Any) -> None:
    shake = handshake()
    for m in before:
        shake.receive(m)
    state = shake.state
    assert shake.receive(message) == []
    assert shake.state is state


def _sample(cls: type[Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values = {str: "x", int: 1, tuple[str, ...]: ("x",)}
    return cls(**{f.name: values.get(hints[f.name], {}) for f in attrs.fields(cls)})


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(_sample(cls), id=cls.TYPE)
        for cls in (*RUNNER_TO_BROKER, *REQUESTER_TO_BROKER, *BROKER_TO_REQUESTER)
    ],
)
def test_a_message_not_for_a_runner_is_a_remote_error(message: Any) -> None:
    shake = handshake()
    shake.receive(INFO_REQUEST)
    with pytest.raises(RemoteProtocolError) as info:
        shake.receive(message)
    assert info.value.close_code == 1002
    assert shake.state is HandshakeState.AWAITING_REGISTRATION


def test_the_table_renders() -> None:
    diagram = HANDSHAKE_TRANSITIONS.mermaid()
    assert "AWAITING_INFO_REQUEST --> AWAITING_REGISTRATION: broker:inforequest" in diagram
    assert "OFFERED --> DEFERRED: broker:taskofferaccept" in diagram


# --- whatever else the broker says, the outcome is the same ------------------------

IRRELEVANT = st.one_of(
    st.just(BrokerDrain()),
    st.builds(BrokerTaskCancel, task_id=st.text(), reason=st.text()),
    st.builds(BrokerTaskSettings, task_id=st.text(), settings=st.none()),
    st.builds(BrokerRpcResponse, call_id=st.text(), task_id=st.text(), status=st.text()),
    st.builds(BrokerTaskDataResponse, task_id=st.text(), request_id=st.text(), data=st.none()),
    st.builds(BrokerNodeTypes, task_id=st.text(), request_id=st.text(), node_types=st.none()),
    st.builds(
        BrokerTaskOfferAccept,
        task_id=st.text(),
        offer_id=st.text().filter(lambda o: o != ACCEPT.offer_id),
    ),
    st.text().map(lambda t: UnknownMessage(type=f"broker:{t}", raw={"type": f"broker:{t}"})),
)


@given(noise=st.lists(st.lists(IRRELEVANT, max_size=4), min_size=4, max_size=4))
def test_irrelevant_messages_never_change_the_outcome(noise: list[list[Any]]) -> None:
    shake = handshake()
    sent = []
    for gap, message in zip(noise, [INFO_REQUEST, REGISTERED, ACCEPT, None], strict=True):
        for irrelevant in gap:
            assert shake.receive(irrelevant) == []
        if message is not None:
            sent += shake.receive(message)
    assert sent == [
        RunnerInfo(name="launcher-python", types=("python",)),
        RunnerTaskOffer(offer_id=ACCEPT.offer_id, task_type="python", valid_for=-1),
        RunnerTaskDeferred(task_id="t0"),
    ]
    assert shake.done
    assert shake.task_id == "t0"
