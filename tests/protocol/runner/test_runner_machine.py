"""The runner-side connection machine, rule by rule (reference 5)."""

from __future__ import annotations

import itertools
import json
import math
import typing
from random import Random
from typing import Any

import attrs
import pytest

from trio_launcher.protocol import (
    ABSENT,
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
    LocalProtocolError,
    RemoteProtocolError,
    RunnerInfo,
    RunnerRpc,
    RunnerTaskAccepted,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskRejected,
    UnknownMessage,
    decode,
    encode,
    reasons,
)
from trio_launcher.protocol.runner import (
    CONNECTION_CLOSED,
    DUPLICATE_TASK_ID,
    OFFER_EXPIRY_MARGIN,
    RUNNER_TRANSITIONS,
    SETTINGS_TIMED_OUT,
    TASK_TRANSITIONS,
    CancelTask,
    DrainRequested,
    NodeTypesAnswered,
    Registered,
    RpcAnswered,
    RunnerConnection,
    RunnerState,
    StartTask,
    Step,
    TaskAccepted,
    TaskDataAnswered,
    TaskDropped,
    TaskState,
)

SETTINGS = {"code": "return _items", "nodeMode": "runOnceForAllItems", "items": []}


def make(**overrides: Any) -> RunnerConnection:
    """A connection with predictable ids: offers o1, o2, ...; calls c1, c2, ..."""
    offer_ids = itertools.count(1)
    call_ids = itertools.count(1)
    options: dict[str, Any] = {
        "name": "Python Task Runner",
        "task_types": ("python",),
        "max_concurrency": 2,
        "new_offer_id": lambda: f"o{next(offer_ids)}",
        "new_call_id": lambda: f"c{next(call_ids)}",
        "random": Random(7),
    }
    return RunnerConnection(**(options | overrides))


def registered(**overrides: Any) -> RunnerConnection:
    conn = make(**overrides)
    conn.receive(BrokerInfoRequest(), 0.0)
    conn.receive(BrokerRunnerRegistered(), 0.0)
    return conn


def accept(conn: RunnerConnection, offer_id: str, task_id: str, now: float = 0.0) -> Step:
    return conn.receive(BrokerTaskOfferAccept(task_id=task_id, offer_id=offer_id), now)


def waiting(task_id: str = "t1", **overrides: Any) -> RunnerConnection:
    """A registered connection holding ``task_id``, accepted at 0.0 and waiting for settings.

    Offers o1 to oN were made at 0.0; o1 became the task, the others are open.
    """
    conn = registered(**overrides)
    offer = conn.offers_due(0.0)[0]
    assert accept(conn, offer.offer_id, task_id).to_send == (RunnerTaskAccepted(task_id),)
    return conn


def running(task_id: str = "t1", **overrides: Any) -> RunnerConnection:
    conn = waiting(task_id, **overrides)
    conn.receive(BrokerTaskSettings(task_id=task_id, settings=SETTINGS), 0.0)
    return conn


def rejected(task_id: str, reason: str) -> Step:
    return Step(to_send=(RunnerTaskRejected(task_id=task_id, reason=reason),))


def sample(cls: type[Any]) -> Any:
    """Some instance of a message class."""
    hints = typing.get_type_hints(cls)
    values = {str: "x", int: 1, tuple[str, ...]: ("x",)}
    return cls(**{f.name: values.get(hints[f.name], {}) for f in attrs.fields(cls)})


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"task_types": ()},
        {"task_types": "python"},
        {"task_types": ("python", "python")},
        {"max_concurrency": 0},
        {"offer_validity": 0},
        {"offer_jitter": -0.1},
        {"settings_timeout": 0},
    ],
)
def test_bad_configuration_is_a_value_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make(**overrides)


# --- registration ---------------------------------------------------------------------


def test_registration() -> None:
    conn = make(task_types=("python", "javascript"))
    assert conn.state is RunnerState.AWAITING_INFO_REQUEST
    step = conn.receive(BrokerInfoRequest(), 0.0)
    assert step == Step(
        to_send=(RunnerInfo(name="Python Task Runner", types=("python", "javascript")),)
    )
    assert conn.state is RunnerState.AWAITING_REGISTRATION
    assert conn.receive(BrokerRunnerRegistered(), 0.0) == Step(events=(Registered(),))
    assert conn.state is RunnerState.REGISTERED


def test_nothing_is_offered_before_registration() -> None:
    conn = make()
    assert conn.offers_due(0.0) == []
    assert conn.next_deadline() is None
    conn.receive(BrokerInfoRequest(), 0.0)
    assert conn.offers_due(0.0) == []
    assert conn.next_deadline() is None


def test_registered_before_info_request_is_a_remote_error() -> None:
    conn = make()
    with pytest.raises(RemoteProtocolError) as info:
        conn.receive(BrokerRunnerRegistered(), 0.0)
    assert info.value.close_code == 1002
    assert conn.state is RunnerState.AWAITING_INFO_REQUEST


@pytest.mark.parametrize("message", [BrokerInfoRequest(), BrokerRunnerRegistered()])
def test_repeated_registration_messages_are_remote_errors(message: Any) -> None:
    conn = registered()
    with pytest.raises(RemoteProtocolError, match="not expected in state REGISTERED"):
        conn.receive(message, 0.0)
    assert conn.state is RunnerState.REGISTERED


def test_registration_is_skipped_once_stopped() -> None:
    conn = make()
    conn.stop_offering()
    assert conn.receive(BrokerInfoRequest(), 0.0) == Step()
    assert conn.receive(BrokerRunnerRegistered(), 0.0) == Step()
    assert conn.state is RunnerState.DRAINING
    assert conn.offers_due(0.0) == []


# --- offers -----------------------------------------------------------------------------


def test_offers_fill_every_free_slot() -> None:
    conn = registered(max_concurrency=3)
    assert conn.next_deadline() == -math.inf
    offers = conn.offers_due(0.0)
    assert [o.offer_id for o in offers] == ["o1", "o2", "o3"]
    assert {o.task_type for o in offers} == {"python"}
    assert conn.open_offers == 3
    assert conn.offers_due(0.0) == []


def test_valid_for_is_validity_plus_jitter_from_the_given_random() -> None:
    conn = registered(max_concurrency=50, random=Random(42))
    expected = Random(42)
    offers = conn.offers_due(0.0)
    assert [o.valid_for for o in offers] == [5000 + expected.randint(0, 500) for _ in offers]
    assert all(5000 <= o.valid_for <= 5500 for o in offers)
    assert len({o.valid_for for o in offers}) > 1


def test_validity_and_jitter_are_configurable() -> None:
    conn = registered(offer_validity=1.5, offer_jitter=0.0)
    assert [o.valid_for for o in conn.offers_due(0.0)] == [1500, 1500]


def test_an_offer_is_renewed_when_its_local_expiry_passes() -> None:
    conn = registered(max_concurrency=1)
    (offer,) = conn.offers_due(10.0)
    expiry = 10.0 + offer.valid_for / 1000 + OFFER_EXPIRY_MARGIN
    assert conn.next_deadline() == pytest.approx(expiry)
    assert conn.offers_due(expiry - 0.001) == []
    (renewed,) = conn.offers_due(expiry)
    assert renewed.offer_id != offer.offer_id
    assert conn.open_offers == 1


def test_next_deadline_is_the_earliest_offer_expiry() -> None:
    conn = registered(max_concurrency=3)
    offers = conn.offers_due(0.0)
    earliest = min(o.valid_for for o in offers) / 1000 + OFFER_EXPIRY_MARGIN
    assert conn.next_deadline() == pytest.approx(earliest)
    assert conn.offers_due(earliest) != []  # waking at the deadline always finds work


def test_task_types_share_the_slots_in_turn() -> None:
    conn = registered(task_types=("python", "javascript"), max_concurrency=3)
    assert [o.task_type for o in conn.offers_due(0.0)] == ["python", "javascript", "python"]
    conn = registered(task_types=("python", "javascript"), max_concurrency=4)
    offers = conn.offers_due(0.0)
    assert [o.task_type for o in offers] == ["python", "javascript"] * 2
    js = next(o for o in offers if o.task_type == "javascript")
    accept(conn, js.offer_id, "t1")
    conn.receive(BrokerTaskCancel(task_id="t1", reason="Task cancelled by user"), 0.0)
    assert [o.task_type for o in conn.offers_due(0.0)] == ["javascript"]


# --- accepting ------------------------------------------------------------------------


def test_accepting_an_open_offer() -> None:
    conn = registered()
    first, _ = conn.offers_due(0.0)
    step = accept(conn, first.offer_id, "t1", now=1.0)
    assert step == Step(to_send=(RunnerTaskAccepted("t1"),), events=(TaskAccepted("t1"),))
    assert conn.tasks == {"t1": TaskState.WAITING_FOR_SETTINGS}
    assert conn.open_offers == 1
    assert conn.running_tasks == 1
    assert not conn.is_idle
    assert conn.offers_due(1.0) == []  # the task took the offer's slot


def test_an_unknown_offer_is_rejected_as_expired() -> None:
    conn = registered()
    conn.offers_due(0.0)
    assert accept(conn, "nope", "t1") == rejected("t1", reasons.OFFER_EXPIRED)
    assert conn.tasks == {}


def test_an_offer_cannot_be_accepted_twice() -> None:
    conn = registered()
    offer, _ = conn.offers_due(0.0)
    accept(conn, offer.offer_id, "t1")
    assert accept(conn, offer.offer_id, "t2") == rejected("t2", reasons.OFFER_EXPIRED)
    assert conn.tasks == {"t1": TaskState.WAITING_FOR_SETTINGS}


def test_an_offer_is_accepted_until_its_local_expiry_and_used_up_after() -> None:
    conn = registered(max_concurrency=1, offer_jitter=0.0)
    (offer,) = conn.offers_due(0.0)
    assert accept(conn, offer.offer_id, "t1", now=5.099).events == (TaskAccepted("t1"),)

    conn = registered(max_concurrency=1, offer_jitter=0.0)
    (offer,) = conn.offers_due(0.0)
    assert accept(conn, offer.offer_id, "t1", now=5.1) == rejected("t1", reasons.OFFER_EXPIRED)
    assert conn.open_offers == 0  # the broker used it up: renewed at once
    assert conn.next_deadline() == -math.inf


def test_at_capacity() -> None:
    conn = waiting(max_concurrency=1)
    assert accept(conn, "o9", "t2") == rejected("t2", reasons.AT_CAPACITY)


def test_accept_before_registration_is_rejected() -> None:
    conn = make()
    assert accept(conn, "o1", "t1") == rejected("t1", reasons.OFFER_EXPIRED)


def test_a_task_id_in_use_is_rejected_and_the_task_kept() -> None:
    conn = running("t1")  # o1 became t1; o2 is open
    assert accept(conn, "o2", "t1") == rejected("t1", DUPLICATE_TASK_ID)
    assert conn.tasks == {"t1": TaskState.RUNNING}


# --- settings -----------------------------------------------------------------------


def test_settings_start_a_waiting_task() -> None:
    conn = waiting("t1")
    step = conn.receive(BrokerTaskSettings(task_id="t1", settings=SETTINGS), 0.5)
    assert step == Step(events=(StartTask(task_id="t1", settings=SETTINGS),))
    assert conn.tasks == {"t1": TaskState.RUNNING}


@pytest.mark.parametrize("task_id", ["t1", "unknown"])
def test_settings_for_a_started_or_unknown_task_are_ignored(task_id: str) -> None:
    conn = running("t1")
    assert conn.receive(BrokerTaskSettings(task_id=task_id, settings={}), 0.0) == Step()
    assert conn.tasks == {"t1": TaskState.RUNNING}


# --- cancellation -----------------------------------------------------------------


def test_cancelling_a_waiting_task_drops_it_and_frees_the_slot() -> None:
    conn = waiting("t1", max_concurrency=1)
    assert conn.next_deadline() != -math.inf
    step = conn.receive(BrokerTaskCancel(task_id="t1", reason=reasons.REQUESTER_TOO_SLOW), 1.0)
    assert step == Step(events=(TaskDropped("t1", reasons.REQUESTER_TOO_SLOW),))
    assert conn.is_idle
    assert conn.next_deadline() == -math.inf
    assert len(conn.offers_due(1.0)) == 1


def test_cancelling_a_running_task_aborts_it() -> None:
    conn = running("t1")
    step = conn.receive(BrokerTaskCancel(task_id="t1", reason=reasons.TASK_TIMED_OUT), 1.0)
    assert step == Step(events=(CancelTask("t1", reasons.TASK_TIMED_OUT),))
    assert conn.tasks == {"t1": TaskState.ABORTING}
    assert conn.receive(BrokerTaskCancel(task_id="t1", reason="again"), 1.0) == Step()


@pytest.mark.parametrize("finish", ["task_done", "task_failed"])
def test_an_aborted_task_ends_silently(finish: str) -> None:
    conn = running("t1")
    conn.receive(BrokerTaskCancel(task_id="t1", reason=reasons.CANCELLED_BY_USER), 1.0)
    assert getattr(conn, finish)("t1", {"message": "Task was cancelled"}) == []
    assert conn.is_idle


def test_cancelling_an_unknown_task_is_ignored() -> None:
    conn = running("t1")
    assert conn.receive(BrokerTaskCancel(task_id="t9", reason="x"), 0.0) == Step()
    assert conn.tasks == {"t1": TaskState.RUNNING}


# --- finishing ------------------------------------------------------------------------


def test_task_done_reports_and_frees_the_slot() -> None:
    conn = running("t1", max_concurrency=1)
    assert conn.task_done("t1", {"result": [1]}) == [RunnerTaskDone("t1", {"result": [1]})]
    assert conn.is_idle
    assert conn.next_deadline() == -math.inf


def test_task_failed_reports_the_error() -> None:
    conn = running("t1")
    error = {"message": "boom", "description": ""}
    assert conn.task_failed("t1", error) == [RunnerTaskError("t1", error)]
    assert conn.is_idle


@pytest.mark.parametrize("finish", ["task_done", "task_failed"])
def test_finishing_an_unknown_waiting_or_finished_task_is_a_local_error(finish: str) -> None:
    conn = waiting("t1")
    with pytest.raises(LocalProtocolError, match="no task 'nope'"):
        getattr(conn, finish)("nope", {})
    with pytest.raises(LocalProtocolError, match="not allowed in state WAITING_FOR_SETTINGS"):
        getattr(conn, finish)("t1", {})
    conn.receive(BrokerTaskSettings(task_id="t1", settings={}), 0.0)
    getattr(conn, finish)("t1", {})
    with pytest.raises(LocalProtocolError):
        getattr(conn, finish)("t1", {})


# --- rpc --------------------------------------------------------------------------------


def test_rpc_gets_a_new_call_id_each_time() -> None:
    conn = running("t1")
    assert conn.rpc("t1", "logNodeOutput", ["'hi'"]) == RunnerRpc(
        call_id="c1", task_id="t1", name="logNodeOutput", params=["'hi'"]
    )
    assert conn.rpc("t1", "logNodeOutput", []).call_id == "c2"
    conn.receive(BrokerTaskCancel(task_id="t1", reason="x"), 0.0)
    assert conn.rpc("t1", "logNodeOutput", []).call_id == "c3"  # racing a cancel is fine


def test_rpc_needs_a_started_task() -> None:
    conn = waiting("t1")
    with pytest.raises(LocalProtocolError):
        conn.rpc("t1", "logNodeOutput", [])
    with pytest.raises(LocalProtocolError):
        conn.rpc("nope", "logNodeOutput", [])


@pytest.mark.parametrize(
    ("message", "event"),
    [
        (
            BrokerRpcResponse(call_id="c1", task_id="t1", status="success"),
            RpcAnswered("t1", "c1", "success", ABSENT),
        ),
        (
            BrokerRpcResponse(call_id="c1", task_id="t1", status="error", data="Nope"),
            RpcAnswered("t1", "c1", "error", "Nope"),
        ),
        (
            BrokerTaskDataResponse(task_id="t1", request_id="r1", data={"a": 1}),
            TaskDataAnswered("t1", "r1", {"a": 1}),
        ),
        (
            BrokerNodeTypes(task_id="t1", request_id="n1", node_types=[]),
            NodeTypesAnswered("t1", "n1", []),
        ),
    ],
)
def test_answers_pass_through(message: Any, event: Any) -> None:
    conn = running("t1")
    assert conn.receive(message, 0.0) == Step(events=(event,))


# --- settings timeout -------------------------------------------------------------------


def test_a_task_whose_settings_never_come_is_released() -> None:
    conn = waiting("t1", max_concurrency=1, settings_timeout=10.0)
    assert conn.next_deadline() == 10.0  # the task's offer slot holds no offer
    assert conn.expire_waiting(9.999) == Step()
    step = conn.expire_waiting(10.0)
    (error,) = step.to_send
    assert isinstance(error, RunnerTaskError)
    assert error.task_id == "t1"
    assert "10 seconds" in error.error["message"]
    assert step.events == (TaskDropped("t1", SETTINGS_TIMED_OUT),)
    assert conn.is_idle
    assert len(conn.offers_due(10.0)) == 1
    assert conn.receive(BrokerTaskSettings(task_id="t1", settings={}), 11.0) == Step()


def test_only_waiting_tasks_expire() -> None:
    conn = running("t1", settings_timeout=1.0)
    assert conn.expire_waiting(100.0) == Step()
    assert conn.tasks == {"t1": TaskState.RUNNING}


def test_settings_that_beat_the_expiry_call_start_the_task() -> None:
    conn = waiting("t1", settings_timeout=1.0)
    step = conn.receive(BrokerTaskSettings(task_id="t1", settings={}), 2.0)
    assert step.events == (StartTask("t1", {}),)
    assert conn.expire_waiting(2.0) == Step()


def test_without_settings_timeout_a_waiting_task_waits_forever() -> None:
    conn = waiting("t1", settings_timeout=None)
    conn.stop_offering()
    assert conn.next_deadline() is None
    assert conn.expire_waiting(1e9) == Step()
    assert conn.tasks == {"t1": TaskState.WAITING_FOR_SETTINGS}


def test_next_deadline_takes_the_earlier_of_offers_and_settings() -> None:
    conn = waiting("t1", max_concurrency=2, offer_jitter=0.0, settings_timeout=3.0)
    assert conn.next_deadline() == 3.0
    conn = waiting("t1", max_concurrency=2, offer_jitter=0.0, settings_timeout=30.0)
    assert conn.next_deadline() == pytest.approx(5.0 + OFFER_EXPIRY_MARGIN)


# --- draining and stopping ------------------------------------------------------------


def test_drain_stops_offers_and_lets_held_tasks_finish() -> None:
    conn = running("t1", max_concurrency=3)
    accept(conn, "o2", "t2")
    assert conn.receive(BrokerDrain(), 1.0) == Step(events=(DrainRequested(),))
    assert conn.state is RunnerState.DRAINING
    assert conn.open_offers == 0
    assert conn.offers_due(1.0) == []
    assert conn.next_deadline() == 10.0  # t2's settings deadline, nothing else
    assert accept(conn, "o3", "t3") == rejected("t3", reasons.SHUTTING_DOWN)
    assert conn.receive(BrokerTaskSettings(task_id="t2", settings={}), 1.0).events == (
        StartTask("t2", {}),
    )
    assert conn.task_done("t1", {"result": 1}) == [RunnerTaskDone("t1", {"result": 1})]
    assert conn.receive(BrokerDrain(), 2.0) == Step(events=(DrainRequested(),))


def test_stop_offering_rejects_accepts_without_an_event() -> None:
    conn = registered()
    offer, _ = conn.offers_due(0.0)
    conn.stop_offering()
    assert conn.state is RunnerState.DRAINING
    assert conn.open_offers == 0
    assert conn.next_deadline() is None
    assert accept(conn, offer.offer_id, "t1") == rejected("t1", reasons.SHUTTING_DOWN)
    conn.stop_offering()
    assert conn.state is RunnerState.DRAINING


# --- closing ------------------------------------------------------------------------


def test_closing_drops_waiting_tasks_and_cancels_running_ones() -> None:
    conn = running("t1", max_concurrency=3)
    accept(conn, "o2", "t2")
    step = conn.connection_closed()
    assert step == Step(
        events=(CancelTask("t1", CONNECTION_CLOSED), TaskDropped("t2", CONNECTION_CLOSED))
    )
    assert conn.state is RunnerState.CLOSED
    assert conn.tasks == {"t1": TaskState.ABORTING}
    assert conn.offers_due(0.0) == []
    assert conn.next_deadline() is None
    assert conn.task_done("t1", {}) == []
    assert conn.connection_closed() == Step()
    conn.stop_offering()
    assert conn.state is RunnerState.CLOSED


def test_closing_leaves_an_aborting_task_aborting_without_a_second_cancel() -> None:
    conn = running("t1")
    conn.receive(BrokerTaskCancel(task_id="t1", reason="x"), 0.0)
    assert conn.connection_closed() == Step()
    assert conn.tasks == {"t1": TaskState.ABORTING}


def test_receive_after_close_is_a_local_error() -> None:
    conn = registered()
    conn.connection_closed()
    with pytest.raises(LocalProtocolError):
        conn.receive(BrokerDrain(), 0.0)


# --- what a broker must not send -------------------------------------------------------

NOT_FOR_A_RUNNER = [
    pytest.param(sample(cls), id=cls.TYPE)
    for cls in (*RUNNER_TO_BROKER, *REQUESTER_TO_BROKER, *BROKER_TO_REQUESTER)
]


@pytest.mark.parametrize("message", NOT_FOR_A_RUNNER)
def test_a_message_not_for_a_runner_is_a_remote_error_changing_nothing(message: Any) -> None:
    conn = running("t1")
    conn.offers_due(0.0)
    before = (conn.state, dict(conn.tasks), conn.open_offers, conn.next_deadline())
    with pytest.raises(RemoteProtocolError, match="not a broker-to-runner message") as info:
        conn.receive(message, 0.0)
    assert info.value.close_code == 1002
    assert (conn.state, dict(conn.tasks), conn.open_offers, conn.next_deadline()) == before


def test_unknown_message_types_are_ignored() -> None:
    conn = registered()
    message = UnknownMessage(type="broker:somethingnew", raw={"type": "broker:somethingnew"})
    assert conn.receive(message, 0.0) == Step()
    runner_like = UnknownMessage(type="runner:future", raw={"type": "runner:future"})
    assert conn.receive(runner_like, 0.0) == Step()


# --- the tables ------------------------------------------------------------------------


def test_every_state_is_in_its_table() -> None:
    for table, states in ((RUNNER_TRANSITIONS, RunnerState), (TASK_TRANSITIONS, TaskState)):
        used = {t.source for t in table.transitions} | {t.target for t in table.transitions}
        assert used == set(states)
        diagram = table.mermaid()
        assert all(state.name in diagram for state in states)


# --- a recorded conversation with n8n -------------------------------------------------

# The python-task-probe sample from n8n's broker (settings and result shortened).
PROBE = """\
<- {"type":"broker:inforequest"}
-> {"type":"runner:info","name":"probe python runner","types":["python"]}
<- {"type":"broker:runnerregistered"}
-> {"type":"runner:taskoffer","taskType":"python","offerId":"2a4b7baffaeb0cb1","validFor":5000}
<- {"type":"broker:taskofferaccept","offerId":"2a4b7baffaeb0cb1","taskId":"4j41DVEn"}
-> {"type":"runner:taskaccepted","taskId":"4j41DVEn"}
<- {"type":"broker:tasksettings","taskId":"4j41DVEn","settings":{"code":"return _items"}}
-> {"type":"runner:taskdone","taskId":"4j41DVEn","data":{"result":[{"json":{"a":1}}]}}
"""


def test_replays_a_recorded_n8n_conversation() -> None:
    conn = RunnerConnection(
        name="probe python runner",
        task_types=["python"],
        max_concurrency=1,
        offer_jitter=0.0,
        new_offer_id=lambda: "2a4b7baffaeb0cb1",
    )
    sent: list[str] = []
    for line in PROBE.splitlines():
        direction, frame = line.split(" ", 1)
        if direction == "->":
            continue
        step = conn.receive(decode(frame), 0.0)
        sent += map(encode, step.to_send)
        sent += map(encode, conn.offers_due(0.0))
        for event in step.events:
            if isinstance(event, StartTask):
                sent += map(encode, conn.task_done(event.task_id, {"result": [{"json": {"a": 1}}]}))
    expected = [line[3:] for line in PROBE.splitlines() if line.startswith("-> ")]
    assert [json.loads(s) for s in sent] == [json.loads(e) for e in expected]
