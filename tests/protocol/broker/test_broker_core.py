"""Unit tests of the sans-IO broker core (reference section 4)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from trio_launcher.protocol import reasons
from trio_launcher.protocol.broker import (
    EVICTED_REASON,
    FOREIGN_TASK_REASON,
    REQUEST_TRANSITIONS,
    RUNNER_TRANSITIONS,
    UNRESPONSIVE_REASON,
    BrokerCore,
    BrokerTimeouts,
    CloseRunner,
    DisconnectCause,
    Output,
    RequestState,
    RunnerState,
    SendToRequester,
    SendToRunner,
)
from trio_launcher.protocol.errors import LocalProtocolError, RemoteProtocolError
from trio_launcher.protocol.messages import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerNodeTypes,
    BrokerNodeTypesRequest,
    BrokerRequestExpired,
    BrokerRpc,
    BrokerRpcResponse,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskDataRequest,
    BrokerTaskDataResponse,
    BrokerTaskDone,
    BrokerTaskError,
    BrokerTaskOfferAccept,
    BrokerTaskReady,
    BrokerTaskSettings,
    RequesterNodeTypesResponse,
    RequesterRpcResponse,
    RequesterTaskCancel,
    RequesterTaskDataResponse,
    RequesterTaskRequest,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerNodeTypesRequest,
    RunnerRpc,
    RunnerTaskAccepted,
    RunnerTaskDataRequest,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskOffer,
    RunnerTaskRejected,
    UnknownMessage,
)

REQ = "local-task-requester"


def make_core(**timeouts: Any) -> BrokerCore:
    """A core whose task ids are t0, t1, ..."""
    ids = (f"t{n}" for n in itertools.count())
    return BrokerCore(BrokerTimeouts(**timeouts), new_task_id=lambda: next(ids))


def register(core: BrokerCore, conn: int, now: float = 0.0, runner_id: str | None = None) -> None:
    core.connect_runner(conn, runner_id or f"runner-{conn}", now)
    assert core.receive_from_runner(conn, RunnerInfo("Python Task Runner", ("python",)), now) == [
        SendToRunner(conn, BrokerRunnerRegistered())
    ]


def offer(
    core: BrokerCore,
    conn: int,
    offer_id: str,
    task_type: str = "python",
    valid_for: int = -1,
    now: float = 0.0,
) -> list[Output]:
    return core.receive_from_runner(conn, RunnerTaskOffer(offer_id, task_type, valid_for), now)


def request(
    core: BrokerCore, request_id: str, task_type: str = "python", now: float = 0.0
) -> list[Output]:
    return core.receive_from_requester(REQ, RequesterTaskRequest(request_id, task_type), now)


def accept_offer(conn: int, task_id: str, offer_id: str) -> SendToRunner:
    return SendToRunner(conn, BrokerTaskOfferAccept(task_id, offer_id))


def running_task(core: BrokerCore, conn: int = 1, now: float = 0.0) -> str:
    """Register ``conn``, then take one python request through to RUNNING; returns its task id."""
    register(core, conn, now)
    offer(core, conn, f"o{conn}", now=now)
    [out] = request(core, f"r{conn}", now=now)
    assert isinstance(out, SendToRunner) and isinstance(out.message, BrokerTaskOfferAccept)
    task_id = out.message.task_id
    assert core.receive_from_runner(conn, RunnerTaskAccepted(task_id), now) == [
        SendToRequester(REQ, BrokerTaskReady(f"r{conn}", task_id))
    ]
    settings = RequesterTaskSettings(task_id, {"code": "return []"})
    assert core.receive_from_requester(REQ, settings, now) == [
        SendToRunner(conn, BrokerTaskSettings(task_id, {"code": "return []"}))
    ]
    return task_id


# --- registration (4.1) ----------------------------------------------------------------


def test_connect_sends_info_request_and_info_registers() -> None:
    core = make_core()
    assert core.connect_runner(7, "abc", 0.0) == [SendToRunner(7, BrokerInfoRequest())]
    assert core.runner_state(7) is RunnerState.CONNECTED
    assert core.statistics().runners == 0
    assert core.statistics().connections == 1
    out = core.receive_from_runner(7, RunnerInfo("JS Task Runner", ("javascript",)), 0.0)
    assert out == [SendToRunner(7, BrokerRunnerRegistered())]
    assert core.runner_state(7) is RunnerState.REGISTERED
    assert core.runner_id(7) == "abc"
    assert core.statistics().runners == 1


def test_frames_before_info_are_dropped() -> None:
    core = make_core()
    core.connect_runner(1, "a", 0.0)
    assert offer(core, 1, "o1") == []
    assert core.receive_from_runner(1, RunnerTaskDone("x", {}), 0.0) == []
    assert core.statistics().offers == 0
    register_out = core.receive_from_runner(1, RunnerInfo("n", ("python",)), 0.0)
    assert register_out == [SendToRunner(1, BrokerRunnerRegistered())]


def test_second_info_is_ignored() -> None:
    core = make_core()
    register(core, 1)
    assert core.receive_from_runner(1, RunnerInfo("n", ("python",)), 0.0) == []
    assert core.runner_state(1) is RunnerState.REGISTERED


def test_unknown_connection_frames_and_disconnects_are_dropped() -> None:
    core = make_core()
    assert core.receive_from_runner(99, RunnerTaskOffer("o", "python", -1), 0.0) == []
    assert core.disconnect_runner(99, 0.0) == []
    register(core, 1)
    core.disconnect_runner(1, 0.0)
    assert core.disconnect_runner(1, 0.0) == []
    assert core.runner_state(1) is None


def test_connecting_an_open_connection_twice_is_a_local_error() -> None:
    core = make_core()
    core.connect_runner(1, "a", 0.0)
    with pytest.raises(LocalProtocolError):
        core.connect_runner(1, "b", 0.0)


def test_registering_evicts_the_live_connection_with_the_same_id() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    offer(core, 1, "spare")
    core.connect_runner(2, "runner-1", 1.0)
    # connecting alone evicts nobody
    assert core.runner_state(1) is RunnerState.REGISTERED
    out = core.receive_from_runner(2, RunnerInfo("Python Task Runner", ("python",)), 1.0)
    assert out[0] == CloseRunner(1, 1000, EVICTED_REASON)
    error = out[1]
    assert isinstance(error, SendToRequester) and isinstance(error.message, BrokerTaskError)
    assert error.message.task_id == task_id
    assert error.message.error["message"] == "Node execution failed"
    assert out[2:] == [SendToRunner(2, BrokerRunnerRegistered())]
    assert core.runner_state(1) is None
    assert core.statistics().offers == 0
    # the evicted connection's late frames are dropped; its disconnect is a no-op
    assert core.receive_from_runner(1, RunnerTaskDone(task_id, {}), 1.0) == []
    assert core.disconnect_runner(1, 1.0) == []
    assert core.statistics().runners == 1


def test_protocol_violation_raises_without_state_change() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "o1", valid_for=1000)
    before = core.statistics()
    with pytest.raises(RemoteProtocolError) as info:
        # the offer would have expired at t=5, but nothing may change
        core.receive_from_runner(1, BrokerTaskDone("t", {}), 5.0)
    assert info.value.close_code == 1002
    assert "broker:taskdone" in info.value.reason
    assert core.statistics() == before
    assert core.runner_state(1) is RunnerState.REGISTERED


def test_unknown_message_types_are_ignored() -> None:
    core = make_core()
    register(core, 1)
    unknown = UnknownMessage("runner:future", {"type": "runner:future"})
    assert core.receive_from_runner(1, unknown, 0.0) == []


# --- offers and matching (4.2, 4.3) --------------------------------------------------


def test_request_waits_for_an_offer_then_matches() -> None:
    core = make_core()
    register(core, 1)
    assert request(core, "r1") == []
    assert core.statistics().pending_requests == 1
    assert offer(core, 1, "o1") == [accept_offer(1, "t0", "o1")]
    stats = core.statistics()
    assert (stats.pending_requests, stats.accepting, stats.offers) == (1, 1, 0)
    assert core.task_state("t0") is RequestState.ACCEPTING
    assert core.task_connection("t0") == 1
    assert core.runner_task_ids(1) == {"t0"}


def test_matching_is_fifo_over_requests_and_offers() -> None:
    core = make_core()
    register(core, 1)
    register(core, 2)
    offer(core, 2, "o2a")
    offer(core, 1, "o1a")
    offer(core, 2, "o2b")
    assert request(core, "r1") == [accept_offer(2, "t0", "o2a")]
    assert request(core, "r2") == [accept_offer(1, "t1", "o1a")]
    assert request(core, "r3") == [accept_offer(2, "t2", "o2b")]
    assert request(core, "r4") == []
    assert request(core, "r5") == []
    out = offer(core, 1, "o1b")
    assert out == [accept_offer(1, "t3", "o1b")]
    core.receive_from_runner(1, RunnerTaskAccepted("t3"), 0.0)
    # r4 got the task, r5 is still pending
    assert core.statistics().pending_requests == 4


def test_matching_uses_the_offer_task_type() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "js", task_type="javascript")
    assert request(core, "r1", task_type="python") == []
    assert request(core, "r2", task_type="javascript") == [accept_offer(1, "t0", "js")]
    assert offer(core, 1, "py") == [accept_offer(1, "t1", "py")]
    stats = core.statistics()
    assert stats.pending_by_type == {"python": 1, "javascript": 1}


def test_never_expiring_offer() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "launcher", valid_for=-1)
    assert core.advance_time(1e9) == []
    assert core.next_deadline() is None
    assert request(core, "r1", now=1e9) == [accept_offer(1, "t0", "launcher")]


def test_offers_expire_after_valid_for_milliseconds() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "short", valid_for=1000, now=10.0)
    offer(core, 1, "long", valid_for=3000, now=10.0)
    assert core.statistics().offers == 2
    # valid up to and including validUntil
    assert request(core, "r1", now=11.0) == [accept_offer(1, "t0", "short")]
    assert core.statistics().offers == 1
    assert request(core, "r2", now=13.5) == []
    assert core.statistics().offers == 0
    assert offer(core, 1, "late", valid_for=1000, now=13.5) == [accept_offer(1, "t1", "late")]


def test_expired_offer_is_skipped_for_a_later_one() -> None:
    core = make_core()
    register(core, 1)
    register(core, 2)
    offer(core, 1, "old", valid_for=500)
    offer(core, 2, "fresh", valid_for=5000)
    assert request(core, "r1", now=1.0) == [accept_offer(2, "t0", "fresh")]


def test_zero_and_negative_validity() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "zero", valid_for=0, now=5.0)
    offer(core, 1, "negative", valid_for=-5, now=5.0)
    assert core.statistics().offers == 1
    assert request(core, "r1", now=5.0) == [accept_offer(1, "t0", "zero")]


def test_no_per_runner_concurrency_limit() -> None:
    core = make_core()
    register(core, 1)
    for n in range(20):
        offer(core, 1, f"o{n}")
    for n in range(20):
        assert request(core, f"r{n}") == [accept_offer(1, f"t{n}", f"o{n}")]
    assert len(core.runner_task_ids(1)) == 20


# --- accept, reject, defer ----------------------------------------------------------------


def test_full_task_lifecycle() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    assert core.task_state(task_id) is RequestState.RUNNING
    stats = core.statistics()
    assert (stats.pending_requests, stats.tasks_in_flight, stats.tasks_assigned) == (0, 1, 1)
    out = core.receive_from_runner(1, RunnerTaskDone(task_id, {"result": [1]}), 1.0)
    assert out == [SendToRequester(REQ, BrokerTaskDone(task_id, {"result": [1]}))]
    assert core.task_state(task_id) is None
    assert core.next_deadline() is None
    stats = core.statistics()
    assert (stats.tasks_in_flight, stats.tasks_done) == (0, 1)


def test_task_error_is_forwarded() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    error = {"message": "name 'x' is not defined", "description": ""}
    out = core.receive_from_runner(1, RunnerTaskError(task_id, error), 1.0)
    assert out == [SendToRequester(REQ, BrokerTaskError(task_id, error))]
    assert core.statistics().tasks_failed == 1


def test_reject_rematches_at_once_and_keeps_the_request_first() -> None:
    core = make_core()
    register(core, 1)
    register(core, 2)
    offer(core, 1, "o1")
    request(core, "r1")
    request(core, "r2")
    offer(core, 2, "o2")  # goes to r2
    out = core.receive_from_runner(1, RunnerTaskRejected("t0", reasons.AT_CAPACITY), 0.5)
    assert out == []
    assert core.statistics().pending_requests == 2
    # r1 rejoins before r2's successors: the next offer is for r1
    request(core, "r3")
    assert offer(core, 2, "o2b", now=0.6) == [accept_offer(2, "t2", "o2b")]
    ready = core.receive_from_runner(2, RunnerTaskAccepted("t2"), 0.6)
    assert ready == [SendToRequester(REQ, BrokerTaskReady("r1", "t2"))]


def test_reject_rematches_immediately_to_a_waiting_offer() -> None:
    core = make_core()
    register(core, 1)
    register(core, 2)
    offer(core, 1, "o1")
    request(core, "r1")
    offer(core, 2, "o2")  # no request left for it
    out = core.receive_from_runner(1, RunnerTaskRejected("t0", reasons.AT_CAPACITY), 0.5)
    assert out == [accept_offer(2, "t1", "o2")]


def test_reject_does_not_refresh_the_request_timeout() -> None:
    core = make_core(request=10.0)
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    core.receive_from_runner(1, RunnerTaskRejected("t0", reasons.AT_CAPACITY), 5.0)
    assert core.next_deadline() == 10.0


def test_deferral_keeps_the_request_pending_without_duplicating_it() -> None:
    core = make_core(request=10.0)
    register(core, 1)  # the launcher
    register(core, 2)  # the real runner, later
    offer(core, 1, "launcher")
    request(core, "r1")
    assert core.receive_from_runner(1, RunnerTaskDeferred("t0"), 4.0) == []
    assert core.statistics().pending_requests == 1
    assert core.next_deadline() == 14.0  # refreshed
    core.disconnect_runner(1, 4.1)
    assert offer(core, 2, "real1", now=5.0) == [accept_offer(2, "t1", "real1")]
    # a second offer finds nothing to do: the request was not duplicated
    assert offer(core, 2, "real2", now=5.0) == []
    assert core.statistics().offers == 1
    ready = core.receive_from_runner(2, RunnerTaskAccepted("t1"), 5.1)
    assert ready == [SendToRequester(REQ, BrokerTaskReady("r1", "t1"))]


def test_deferrals_refresh_the_request_timeout_at_most_max_times() -> None:
    core = make_core(request=10.0, max_deferrals=2)
    register(core, 1)
    request(core, "r1")
    deadlines = []
    for n in range(4):
        now = float(n + 1)
        offer(core, 1, f"o{n}", now=now)
        core.receive_from_runner(1, RunnerTaskDeferred(f"t{n}"), now)
        deadlines.append(core.next_deadline())
    assert deadlines == [11.0, 12.0, 12.0, 12.0]
    assert core.advance_time(12.0) == [
        SendToRequester(REQ, BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT))
    ]


# --- messages about tasks the runner was not given --------------------------------------


def about(task_id: str) -> list[Any]:
    """One of each runner message about task ``task_id``."""
    return [
        RunnerTaskAccepted(task_id),
        RunnerTaskRejected(task_id, reasons.AT_CAPACITY),
        RunnerTaskDeferred(task_id),
        RunnerTaskDone(task_id, {"result": "forged"}),
        RunnerTaskError(task_id, {"message": "forged"}),
        RunnerRpc("c1", task_id, "logNodeOutput", ["forged"]),
        RunnerTaskDataRequest(task_id, "d1", {"dataOfNodes": "all"}),
        RunnerNodeTypesRequest(task_id, "n1", []),
    ]


def foreign_close(conn: int, message: Any) -> CloseRunner:
    reason = FOREIGN_TASK_REASON.format(type=message.TYPE)
    return CloseRunner(conn, reasons.CLOSE_POLICY_VIOLATION, reason)


def assert_fails_with_foreign_task(output: Output, task_id: str) -> None:
    assert isinstance(output, SendToRequester) and isinstance(output.message, BrokerTaskError)
    assert output.message.task_id == task_id
    assert output.message.error["name"] == "TaskRunnerDisconnectedError"
    assert "a task it was not given" in output.message.error["description"]


@pytest.mark.parametrize("message", about("t0"), ids=lambda m: m.TYPE)
def test_a_message_about_another_runners_task_closes_the_sender(message: Any) -> None:
    core = make_core()
    owner_task = running_task(core, 1)
    intruder_task = running_task(core, 2)
    assert owner_task == "t0"
    out = core.receive_from_runner(2, message, 1.0)
    assert out[0] == foreign_close(2, message)
    assert len(out) == 2
    assert_fails_with_foreign_task(out[1], intruder_task)
    assert core.runner_state(2) is None
    # the owner's task is untouched, and ends with the owner's own result
    assert core.task_state(owner_task) is RequestState.RUNNING
    assert core.task_connection(owner_task) == 1
    done = core.receive_from_runner(1, RunnerTaskDone(owner_task, {"result": "real"}), 2.0)
    assert done == [SendToRequester(REQ, BrokerTaskDone(owner_task, {"result": "real"}))]


def test_a_message_about_a_task_being_offered_to_another_runner_closes_the_sender() -> None:
    core = make_core()
    register(core, 1)
    register(core, 2)
    offer(core, 1, "o1")
    assert request(core, "r1") == [accept_offer(1, "t0", "o1")]
    out = core.receive_from_runner(2, RunnerTaskAccepted("t0"), 0.0)
    assert out == [foreign_close(2, RunnerTaskAccepted("t0"))]
    assert core.task_state("t0") is RequestState.ACCEPTING
    assert core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.0) == [
        SendToRequester(REQ, BrokerTaskReady("r1", "t0"))
    ]


@pytest.mark.parametrize("message", about("never-issued"), ids=lambda m: m.TYPE)
def test_a_message_about_a_task_that_never_existed_closes_the_sender(message: Any) -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "o1")
    assert core.receive_from_runner(1, message, 0.0) == [foreign_close(1, message)]
    stats = core.statistics()
    assert (stats.runners, stats.connections, stats.offers) == (0, 0, 0)
    # the core forgot the connection: its later frames and its disconnect are no-ops
    assert core.receive_from_runner(1, message, 0.0) == []
    assert core.disconnect_runner(1, 0.0) == []


def test_a_draining_runner_is_closed_for_a_foreign_task_too() -> None:
    core = make_core()
    register(core, 1)
    core.drain(0.0)
    message = RunnerTaskDone("nope", {})
    assert core.receive_from_runner(1, message, 0.0) == [foreign_close(1, message)]


def test_frames_about_tasks_before_runner_info_are_dropped_not_closed() -> None:
    core = make_core()
    core.connect_runner(1, "a", 0.0)
    assert core.receive_from_runner(1, RunnerTaskDone("nope", {}), 0.0) == []
    assert core.runner_state(1) is RunnerState.CONNECTED


def test_late_messages_about_the_runners_own_ended_tasks_are_ignored() -> None:
    """Timeouts, cancels and rejected acceptances race with the runner's replies."""
    core = make_core(task=10.0, accept=2.0)
    timed_out = running_task(core, 1)
    core.advance_time(10.0)  # task timeout
    offer(core, 1, "o2", now=10.0)
    [rejected_accept] = request(core, "r2", now=10.0)
    assert isinstance(rejected_accept, SendToRunner)
    assert isinstance(rejected_accept.message, BrokerTaskOfferAccept)
    rejected = rejected_accept.message.task_id
    core.receive_from_runner(1, RunnerTaskRejected(rejected, reasons.AT_CAPACITY), 10.0)
    core.receive_from_requester(REQ, RequesterTaskCancel("r2", "stop"), 10.0)
    for task_id in (timed_out, rejected):
        for message in about(task_id):
            assert core.receive_from_runner(1, message, 11.0) == []
    assert core.runner_state(1) is RunnerState.REGISTERED


def test_replies_that_do_not_fit_the_runners_own_task_are_ignored() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    # done before accepted does not fit the state
    assert core.receive_from_runner(1, RunnerTaskDone("t0", {}), 0.0) == []
    assert core.task_state("t0") is RequestState.ACCEPTING
    core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.0)
    assert core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.0) == []  # twice
    assert core.runner_state(1) is RunnerState.REGISTERED


def test_only_the_last_remembered_task_ids_are_tolerated() -> None:
    core = make_core(remembered_task_ids=1)
    first = running_task(core, 1)
    core.receive_from_runner(1, RunnerTaskDone(first, {}), 0.0)
    offer(core, 1, "o2")
    request(core, "r2")
    core.receive_from_runner(1, RunnerTaskRejected("t1", reasons.AT_CAPACITY), 0.0)
    core.receive_from_requester(REQ, RequesterTaskCancel("r2", "stop"), 0.0)
    assert core.receive_from_runner(1, RunnerTaskDone("t1", {}), 0.0) == []
    late = RunnerTaskDone(first, {})
    assert core.receive_from_runner(1, late, 0.0) == [foreign_close(1, late)]


def test_a_remembered_task_id_is_not_handed_to_the_same_runner_again() -> None:
    ids = iter(["a", "a", "b"])
    core = BrokerCore(new_task_id=lambda: next(ids))
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    core.receive_from_runner(1, RunnerTaskRejected("a", reasons.AT_CAPACITY), 0.0)
    core.receive_from_requester(REQ, RequesterTaskCancel("r1", "stop"), 0.0)
    offer(core, 1, "o2")
    assert request(core, "r2") == [accept_offer(1, "b", "o2")]


def test_a_new_connection_under_the_same_runner_id_starts_with_no_remembered_tasks() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    core.receive_from_runner(1, RunnerTaskDone(task_id, {}), 0.0)
    core.disconnect_runner(1, 0.0)
    register(core, 2, runner_id="runner-1")
    late = RunnerTaskDone(task_id, {})
    assert core.receive_from_runner(2, late, 0.0) == [foreign_close(2, late)]


def test_task_ids_are_never_handed_out_twice_while_live() -> None:
    ids = iter(["dup", "dup", "dup", "other"])
    core = BrokerCore(new_task_id=lambda: next(ids))
    register(core, 1)
    offer(core, 1, "a")
    offer(core, 1, "b")
    assert request(core, "r1") == [accept_offer(1, "dup", "a")]
    assert request(core, "r2") == [accept_offer(1, "other", "b")]


# --- accept timeout ------------------------------------------------------------------------


def test_accept_timeout_cancels_drops_offers_and_rematches_elsewhere() -> None:
    core = make_core(accept=2.0, request=60.0)
    register(core, 1)
    register(core, 2)
    offer(core, 1, "o1a")
    offer(core, 1, "o1b")
    request(core, "r1", now=1.0)
    offer(core, 2, "o2", now=1.5)
    assert core.next_deadline() == 3.0
    assert core.advance_time(2.9) == []
    out = core.advance_time(3.0)
    assert out == [
        SendToRunner(1, BrokerTaskCancel("t0", reasons.ACCEPT_WINDOW_ELAPSED)),
        accept_offer(2, "t1", "o2"),
    ]
    stats = core.statistics()
    assert stats.offers_by_type == {}  # o1b was dropped with the rest of runner 1's offers
    # a late answer to the cancelled acceptance is ignored
    assert core.receive_from_runner(1, RunnerTaskAccepted("t0"), 3.1) == []
    ready = core.receive_from_runner(2, RunnerTaskAccepted("t1"), 3.1)
    assert ready == [SendToRequester(REQ, BrokerTaskReady("r1", "t1"))]


def test_accept_timeout_refreshes_the_request_timeout() -> None:
    core = make_core(accept=2.0, request=10.0)
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1", now=0.0)
    core.advance_time(2.0)
    assert core.next_deadline() == 12.0
    assert core.advance_time(12.0) == [
        SendToRequester(REQ, BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT))
    ]


def test_repeated_accept_timeouts_close_an_idle_runner() -> None:
    core = make_core(accept=2.0, request=100.0, max_accept_timeouts=3)
    register(core, 1)
    request(core, "r1")
    now = 0.0
    for n in range(2):
        offer(core, 1, f"o{n}", now=now)
        now += 2.0
        assert core.advance_time(now) == [
            SendToRunner(1, BrokerTaskCancel(f"t{n}", reasons.ACCEPT_WINDOW_ELAPSED))
        ]
    offer(core, 1, "o2", now=now)
    out = core.advance_time(now + 2.0)
    assert out == [
        SendToRunner(1, BrokerTaskCancel("t2", reasons.ACCEPT_WINDOW_ELAPSED)),
        CloseRunner(1, 1002, UNRESPONSIVE_REASON),
    ]
    assert core.runner_state(1) is None
    assert core.statistics().pending_requests == 1


def test_an_answer_resets_the_accept_timeout_count() -> None:
    core = make_core(accept=2.0, request=100.0, max_accept_timeouts=2)
    register(core, 1)
    request(core, "r1")
    offer(core, 1, "o0")
    core.advance_time(2.0)
    offer(core, 1, "o1", now=2.0)
    core.receive_from_runner(1, RunnerTaskRejected("t1", "no"), 2.0)
    offer(core, 1, "o2", now=2.0)
    out = core.advance_time(4.0)
    assert out == [SendToRunner(1, BrokerTaskCancel("t2", reasons.ACCEPT_WINDOW_ELAPSED))]
    assert core.runner_state(1) is RunnerState.REGISTERED


# --- requester too slow, request timeout, task timeout ---------------------------------------


def test_requester_too_slow_with_settings() -> None:
    core = make_core(accept=2.0)
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    core.receive_from_runner(1, RunnerTaskAccepted("t0"), 1.0)
    assert core.next_deadline() == 3.0
    out = core.advance_time(3.0)
    assert out[0] == SendToRunner(1, BrokerTaskCancel("t0", reasons.REQUESTER_TOO_SLOW))
    error = out[1]
    assert isinstance(error, SendToRequester) and isinstance(error.message, BrokerTaskError)
    assert error.message.error["message"] == reasons.REQUESTER_TOO_SLOW
    assert len(out) == 2
    # the late settings are ignored
    assert core.receive_from_requester(REQ, RequesterTaskSettings("t0", {}), 3.5) == []
    assert core.statistics().tasks_in_flight == 0


def test_request_timeout_expires_a_pending_request() -> None:
    core = make_core(request=60.0)
    request(core, "r1", now=5.0)
    assert core.next_deadline() == 65.0
    assert core.advance_time(64.9) == []
    assert core.advance_time(65.0) == [
        SendToRequester(REQ, BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT))
    ]
    stats = core.statistics()
    assert (stats.pending_requests, stats.requests_expired) == (0, 1)
    assert core.next_deadline() is None
    # the request id is free again
    assert request(core, "r1", now=70.0) == []


def test_request_timeout_during_acceptance_cancels_on_the_runner() -> None:
    core = make_core(accept=5.0, request=3.0)
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    assert core.advance_time(3.0) == [
        SendToRunner(1, BrokerTaskCancel("t0", reasons.REQUEST_EXPIRED)),
        SendToRequester(REQ, BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT)),
    ]
    assert core.receive_from_runner(1, RunnerTaskAccepted("t0"), 3.5) == []
    assert core.next_deadline() is None


def test_task_timeout_starts_at_settings_and_late_done_is_ignored() -> None:
    core = make_core(task=300.0)
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.0)
    core.receive_from_requester(REQ, RequesterTaskSettings("t0", {}), 1.5)
    assert core.next_deadline() == 301.5
    out = core.advance_time(301.5)
    assert out[0] == SendToRunner(1, BrokerTaskCancel("t0", reasons.TASK_TIMED_OUT))
    error = out[1]
    assert isinstance(error, SendToRequester) and isinstance(error.message, BrokerTaskError)
    assert error.message.task_id == "t0"
    assert error.message.error["message"] == "Task execution timed out after 300 seconds"
    assert error.message.error["description"]
    assert core.receive_from_runner(1, RunnerTaskDone("t0", {"result": []}), 302.0) == []
    assert core.receive_from_runner(1, RunnerTaskError("t0", {}), 302.0) == []
    assert core.statistics().tasks_in_flight == 0


def test_timers_fire_in_deadline_order_in_one_advance() -> None:
    core = make_core(request=10.0)
    request(core, "late", now=5.0)
    request(core, "early", now=1.0)
    assert core.advance_time(100.0) == [
        SendToRequester(REQ, BrokerRequestExpired("early", reasons.EXPIRED_TIMEOUT)),
        SendToRequester(REQ, BrokerRequestExpired("late", reasons.EXPIRED_TIMEOUT)),
    ]


# --- cancel in each phase -------------------------------------------------------------------


def test_cancel_pending_request_by_request_id() -> None:
    core = make_core()
    request(core, "r1")
    assert core.receive_from_requester(REQ, RequesterTaskCancel("r1", "stop"), 0.0) == []
    stats = core.statistics()
    assert (stats.pending_requests, stats.requests_cancelled) == (0, 1)
    assert core.next_deadline() is None
    register(core, 1)
    assert offer(core, 1, "o1") == []


def test_cancel_during_acceptance_cancels_on_the_runner() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    out = core.receive_from_requester(REQ, RequesterTaskCancel("r1", "stop"), 0.0)
    assert out == [SendToRunner(1, BrokerTaskCancel("t0", "stop"))]
    assert core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.1) == []
    assert core.next_deadline() is None


def test_cancel_while_waiting_for_settings() -> None:
    core = make_core()
    register(core, 1)
    offer(core, 1, "o1")
    request(core, "r1")
    core.receive_from_runner(1, RunnerTaskAccepted("t0"), 0.0)
    out = core.receive_from_requester(REQ, RequesterTaskCancel("t0", "stop"), 0.0)
    assert out == [SendToRunner(1, BrokerTaskCancel("t0", "stop"))]
    assert core.statistics().tasks_in_flight == 0


def test_cancel_running_task_then_runner_reply_is_ignored() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    cancel = RequesterTaskCancel(task_id, reasons.CANCELLED_BY_USER)
    assert core.receive_from_requester(REQ, cancel, 1.0) == [
        SendToRunner(1, BrokerTaskCancel(task_id, reasons.CANCELLED_BY_USER))
    ]
    assert core.receive_from_runner(1, RunnerTaskError(task_id, {"message": "x"}), 1.1) == []
    assert core.receive_from_requester(REQ, cancel, 1.2) == []  # twice: ignored
    assert core.next_deadline() is None


def test_forget_requester_drops_requests_and_cancels_tasks() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    request(core, "waiting")
    other = core.receive_from_requester("other", RequesterTaskRequest("x", "python"), 0.0)
    assert other == []
    out = core.forget_requester(REQ, 1.0)
    assert out == [SendToRunner(1, BrokerTaskCancel(task_id, reasons.CANCELLED_BY_USER))]
    stats = core.statistics()
    assert (stats.pending_requests, stats.tasks_in_flight) == (1, 0)
    assert core.forget_requester(REQ, 1.0) == []


# --- disconnect (4.7) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        (DisconnectCause.CLOSED, "Node execution failed"),
        (DisconnectCause.PROTOCOL_ERROR, "Node execution failed"),
        (DisconnectCause.HEARTBEAT, "Task execution aborted because runner became unresponsive"),
        (DisconnectCause.SHUTDOWN, reasons.BROKER_SHUTTING_DOWN),
    ],
)
def test_disconnect_fails_tasks_in_flight(cause: DisconnectCause, message: str) -> None:
    core = make_core()
    running = running_task(core, 1)
    offer(core, 1, "o")
    request(core, "r2")
    core.receive_from_runner(1, RunnerTaskAccepted("t1"), 0.0)  # waiting for settings
    out = core.disconnect_runner(1, 1.0, cause=cause)
    failed = []
    for output in out:
        assert isinstance(output, SendToRequester) and isinstance(output.message, BrokerTaskError)
        assert output.message.error["message"] == message
        assert output.message.error["description"]
        failed.append(output.message.task_id)
    assert failed == [running, "t1"]
    stats = core.statistics()
    assert (stats.runners, stats.tasks_in_flight, stats.offers) == (0, 0, 0)
    assert core.next_deadline() is None


def test_disconnect_during_acceptance_rematches_the_request() -> None:
    core = make_core(request=10.0)
    register(core, 1)
    register(core, 2)
    offer(core, 1, "o1")
    request(core, "r1")
    offer(core, 2, "o2")
    assert core.disconnect_runner(1, 1.0) == [accept_offer(2, "t1", "o2")]
    assert core.next_deadline() == 3.0  # accept window; the request timer stays at 10
    core.receive_from_runner(2, RunnerTaskAccepted("t1"), 1.0)
    assert core.statistics().tasks_in_flight == 1


# --- drain (4.9) ---------------------------------------------------------------------------------


def test_drain() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    register(core, 2)
    core.connect_runner(3, "unregistered", 0.0)
    request(core, "pending")
    offer(core, 2, "o2")  # matched to "pending": an acceptance in progress
    request(core, "pending2")
    out = core.drain(1.0)
    assert out == [
        SendToRunner(1, BrokerDrain()),
        SendToRunner(2, BrokerDrain()),
        SendToRunner(2, BrokerTaskCancel("t1", reasons.BROKER_SHUTTING_DOWN)),
        SendToRequester(REQ, BrokerRequestExpired("pending", reasons.EXPIRED_DRAINING)),
        SendToRequester(REQ, BrokerRequestExpired("pending2", reasons.EXPIRED_DRAINING)),
    ]
    assert core.draining and core.statistics().draining
    assert core.runner_state(1) is RunnerState.DRAINING
    assert core.drain(1.0) == []
    # new requests expire at once; offers are not taken
    assert request(core, "new", now=2.0) == [
        SendToRequester(REQ, BrokerRequestExpired("new", reasons.EXPIRED_DRAINING))
    ]
    assert offer(core, 2, "o2b", now=2.0) == []
    assert core.statistics().offers == 0
    # a runner registering now is drained at once
    out = core.receive_from_runner(3, RunnerInfo("x", ("python",)), 2.0)
    assert out == [SendToRunner(3, BrokerRunnerRegistered()), SendToRunner(3, BrokerDrain())]
    # the task in flight finishes normally
    done = core.receive_from_runner(1, RunnerTaskDone(task_id, {"result": 1}), 3.0)
    assert done == [SendToRequester(REQ, BrokerTaskDone(task_id, {"result": 1}))]


def test_drain_caps_task_deadlines() -> None:
    core = make_core(task=300.0)
    task_id = running_task(core, 1)
    register(core, 2)
    offer(core, 2, "o2")
    request(core, "r2")
    core.receive_from_runner(2, RunnerTaskAccepted("t1"), 0.0)  # waiting for settings
    core.drain(0.5, task_deadline=34.0)
    assert core.next_deadline() == 2.0  # the settings window is not capped
    core.receive_from_requester(REQ, RequesterTaskSettings("t1", {}), 1.0)
    assert core.next_deadline() == 34.0
    out = core.advance_time(34.0)
    assert out[0] == SendToRunner(1, BrokerTaskCancel(task_id, reasons.BROKER_SHUTTING_DOWN))
    assert out[2] == SendToRunner(2, BrokerTaskCancel("t1", reasons.BROKER_SHUTTING_DOWN))
    for error in (out[1], out[3]):
        assert isinstance(error, SendToRequester) and isinstance(error.message, BrokerTaskError)
        assert error.message.error["message"] == reasons.BROKER_SHUTTING_DOWN
    assert core.next_deadline() is None


# --- forwarding ----------------------------------------------------------------------------------


def test_rpc_data_and_node_types_are_forwarded_both_ways() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    rpc = RunnerRpc("c1", task_id, "logNodeOutput", ["'hi'"])
    data = RunnerTaskDataRequest(task_id, "d1", {"dataOfNodes": "all"})
    types = RunnerNodeTypesRequest(task_id, "n1", [{"name": "set", "version": 3}])
    assert core.receive_from_runner(1, rpc, 0.0) == [
        SendToRequester(REQ, BrokerRpc("c1", task_id, "logNodeOutput", ["'hi'"]))
    ]
    assert core.receive_from_runner(1, data, 0.0) == [
        SendToRequester(REQ, BrokerTaskDataRequest(task_id, "d1", {"dataOfNodes": "all"}))
    ]
    assert core.receive_from_runner(1, types, 0.0) == [
        SendToRequester(REQ, BrokerNodeTypesRequest(task_id, "n1", [{"name": "set", "version": 3}]))
    ]
    answers: list[tuple[Any, Any]] = [
        (
            RequesterRpcResponse(task_id, "c1", "success"),
            BrokerRpcResponse("c1", task_id, "success"),
        ),
        (
            RequesterTaskDataResponse(task_id, "d1", {"x": 1}),
            BrokerTaskDataResponse(task_id, "d1", {"x": 1}),
        ),
        (RequesterNodeTypesResponse(task_id, "n1", []), BrokerNodeTypes(task_id, "n1", [])),
    ]
    for answer, forwarded in answers:
        assert core.receive_from_requester(REQ, answer, 0.0) == [SendToRunner(1, forwarded)]
    # after the task ended, answers are dropped
    core.receive_from_runner(1, RunnerTaskDone(task_id, {}), 0.0)
    for answer, _ in answers:
        assert core.receive_from_requester(REQ, answer, 0.0) == []
    assert core.receive_from_runner(1, rpc, 0.0) == []


# --- requester misuse ----------------------------------------------------------------------------


def test_requester_misuse_raises_local_protocol_error() -> None:
    core = make_core()
    task_id = running_task(core, 1)
    with pytest.raises(LocalProtocolError):
        core.receive_from_requester(REQ, RunnerTaskDone(task_id, {}), 0.0)
    request(core, "dup")
    with pytest.raises(LocalProtocolError):
        request(core, "dup")
    with pytest.raises(LocalProtocolError):  # settings twice
        core.receive_from_requester(REQ, RequesterTaskSettings(task_id, {}), 0.0)
    with pytest.raises(LocalProtocolError):  # another requester's task
        core.receive_from_requester("other", RequesterTaskCancel(task_id, "x"), 0.0)
    assert core.task_state(task_id) is RequestState.RUNNING
    assert core.statistics().pending_requests == 1


def test_unknown_task_ids_from_the_requester_are_ignored() -> None:
    core = make_core()
    for message in (
        RequesterTaskSettings("nope", {}),
        RequesterTaskCancel("nope", "x"),
        RequesterRpcResponse("nope", "c", "success"),
    ):
        assert core.receive_from_requester(REQ, message, 0.0) == []


# --- configuration, tables, bookkeeping -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"accept": 0},
        {"request": -1.0},
        {"task": 0.0},
        {"max_deferrals": -1},
        {"remembered_task_ids": -1},
    ],
)
def test_timeouts_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BrokerTimeouts(**kwargs)


def test_transition_tables_render() -> None:
    request_chart = REQUEST_TRANSITIONS.mermaid()
    assert "PENDING --> ACCEPTING: match" in request_chart
    assert "WAITING_FOR_SETTINGS --> RUNNING: requester:tasksettings" in request_chart
    assert "REGISTERED --> DRAINING: broker:drain" in RUNNER_TRANSITIONS.mermaid()
    assert "REGISTERED --> GONE: foreign-task" in RUNNER_TRANSITIONS.mermaid()


def test_cancelled_timers_do_not_pile_up() -> None:
    core = make_core()
    for n in range(5000):
        request(core, f"r{n}")
        core.receive_from_requester(REQ, RequesterTaskCancel(f"r{n}", "x"), 0.0)
    assert len(core._table._deadlines) < 200
    assert core._offers.queued() < 200
    assert core.next_deadline() is None


def test_matched_offers_do_not_pile_up_in_the_expiry_heap() -> None:
    core = make_core()
    register(core, 1)
    for n in range(5000):
        offer(core, 1, f"o{n}", valid_for=10**9)
        request(core, f"r{n}")
        core.receive_from_runner(1, RunnerTaskRejected(f"t{n}", "no"), 0.0)
        core.receive_from_requester(REQ, RequesterTaskCancel(f"r{n}", "x"), 0.0)
    assert len(core._offers._expiry) < 200
