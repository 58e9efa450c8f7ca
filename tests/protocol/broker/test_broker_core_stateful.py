"""A hypothesis state machine driving :class:`BrokerCore` with random runners and requesters.

The test keeps a model of what every peer has seen, checks every output
against it as it comes out, and checks the core's statistics against the model
after every step. At the end it lets time run until every timer fired and
checks that every request ended exactly once.

Invariants:

* every request ends exactly once: ``broker:taskdone``, ``broker:taskerror``
  or ``broker:requestexpired`` to its requester, or a cancel of its own; no
  message about it follows its end;
* a task id is handed out once, to one runner, from an offer that runner made,
  of the request's task type, and never after the offer expired or was dropped;
* offers are taken oldest first, and after every call no live offer idles
  while a request of its type waits (matching is complete and immediate);
* a request is never being accepted by two runners at once, nor ready twice;
* settings, cancels and answers go only to the runner holding the task;
* a runner's late message about its own ended task is ignored; a message about
  any other task closes that runner (1008), fails its tasks and leaves the
  named task as it was;
* the statistics match the model.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from trio_launcher.protocol import reasons
from trio_launcher.protocol.broker import (
    FOREIGN_TASK_REASON,
    BrokerCore,
    BrokerTimeouts,
    CloseRunner,
    DisconnectCause,
    Output,
    SendToRequester,
    SendToRunner,
)
from trio_launcher.protocol.errors import RemoteProtocolError
from trio_launcher.protocol.messages import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerRequestExpired,
    BrokerRpc,
    BrokerRpcResponse,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskDone,
    BrokerTaskError,
    BrokerTaskOfferAccept,
    BrokerTaskReady,
    BrokerTaskSettings,
    RequesterRpcResponse,
    RequesterTaskCancel,
    RequesterTaskRequest,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerRpc,
    RunnerTaskAccepted,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskOffer,
    RunnerTaskRejected,
)

TYPES = ("python", "javascript")
REQUESTERS = ("A", "B")
RUNNER_IDS = ("r-a", "r-b", "r-c", "r-d", "r-e")
#: Mostly python, so that offers and requests meet often.
TASK_TYPE = st.sampled_from(["python", "python", "python", "javascript"])


VALID_FOR = st.sampled_from([-1, -1, 0, 500, 1000, 5000]) | st.integers(-10, 30_000)
ANSWER = st.sampled_from(["accept", "reject", "defer"])
#: Runner messages about a task; the rule that sends one sets its task id.
ABOUT_A_TASK = st.sampled_from(
    [
        RunnerTaskDone("", {"result": "forged"}),
        RunnerTaskError("", {"message": "forged"}),
        RunnerTaskAccepted(""),
        RunnerTaskRejected("", reasons.AT_CAPACITY),
        RunnerRpc("c", "", "logNodeOutput", []),
    ]
)


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True once in ``n`` draws: keeps the rules that end things from ending everything."""
    return st.integers(0, n - 1).map(lambda value: value == 0)


BIG_STEPS = (5.0, 21.0, 31.0)  # past request or task timeouts
TIMEOUTS = BrokerTimeouts(accept=2.0, request=20.0, task=30.0, max_deferrals=2)


@attrs.define
class ModelRunner:
    conn: int
    runner_id: str
    registered: bool = False
    drained: bool = False
    #: offer id -> (task type, valid until, order of arrival)
    offers: dict[str, tuple[str, float, int]] = attrs.Factory(dict)
    offered: set[str] = attrs.Factory(set)  # every offer id ever sent
    to_answer: list[str] = attrs.Factory(list)  # task ids of taskofferaccepts
    running: list[str] = attrs.Factory(list)  # task ids whose settings arrived


@attrs.define
class ModelTask:
    task_id: str
    conn: int
    task_type: str
    phase: str = "accepting"  # accepting -> ready -> dead, or accepting -> dead
    request: tuple[str, str] | None = None
    cancelled: bool = False


@attrs.define
class ModelRequest:
    requester: str
    request_id: str
    task_type: str
    task_id: str | None = None  # set by taskready
    settings_sent: bool = False
    end: str | None = None  # done, error, expired, cancelled

    @property
    def key(self) -> tuple[str, str]:
        return (self.requester, self.request_id)


class BrokerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        task_ids = (f"t{n}" for n in itertools.count())
        self.core = BrokerCore(TIMEOUTS, new_task_id=lambda: next(task_ids))
        self.now = 0.0
        self.conn_ids = itertools.count(1)
        self.offer_ids = itertools.count()
        self.offer_seq = itertools.count()
        self.request_ids = itertools.count()
        self.runners: dict[int, ModelRunner] = {}  # open connections
        self.closed: list[int] = []
        self.tasks: dict[str, ModelTask] = {}
        self.requests: dict[tuple[str, str], ModelRequest] = {}
        self.draining = False
        self.steps = 0

    # --- talking to the core ------------------------------------------------------------

    def _purge(self) -> None:
        for runner in self.runners.values():
            for offer_id, (_, valid_until, _) in list(runner.offers.items()):
                if valid_until < self.now:
                    del runner.offers[offer_id]

    def call(self, method: Any, *args: Any, **kwargs: Any) -> list[Output]:
        self.steps += 1
        self._purge()
        out: list[Output] = method(*args, **kwargs)
        for output in out:
            self.observe(output)
        return out

    def observe(self, output: Output) -> None:
        if isinstance(output, CloseRunner):
            self._runner_gone(output.connection)
        elif isinstance(output, SendToRunner):
            assert output.connection in self.runners, output
            self.observe_runner(self.runners[output.connection], output.message)
        else:
            self.observe_requester(output.requester, output.message)

    def observe_runner(self, runner: ModelRunner, msg: Any) -> None:
        if isinstance(msg, BrokerInfoRequest):
            assert not runner.registered
        elif isinstance(msg, BrokerRunnerRegistered):
            assert not runner.registered
            runner.registered = True
        elif isinstance(msg, BrokerDrain):
            assert self.draining and runner.registered and not runner.drained
            runner.drained = True
        elif isinstance(msg, BrokerTaskOfferAccept):
            self._offer_accepted(runner, msg)
        elif isinstance(msg, BrokerTaskCancel):
            task = self._task_of(runner, msg.task_id)
            assert not task.cancelled
            task.cancelled = True
            if task.phase == "accepting":
                task.phase = "dead"
            if msg.reason == reasons.ACCEPT_WINDOW_ELAPSED:
                runner.offers.clear()
        elif isinstance(msg, BrokerTaskSettings):
            task = self._task_of(runner, msg.task_id)
            request = self._request_of(task)
            assert request.settings_sent and msg.settings == {"for": request.request_id}
            runner.running.append(msg.task_id)
        else:
            assert isinstance(msg, BrokerRpcResponse)
            self._request_of(self._task_of(runner, msg.task_id))

    def _offer_accepted(self, runner: ModelRunner, msg: BrokerTaskOfferAccept) -> None:
        assert not self.draining and runner.registered and not runner.drained
        assert msg.task_id not in self.tasks, "task id reused"
        assert msg.offer_id in runner.offers, "offer unknown, used, dropped or expired"
        task_type, valid_until, seq = runner.offers.pop(msg.offer_id)
        assert valid_until >= self.now
        older = [o for o in self.live_offers() if o[0] == task_type and o[2] < seq]
        assert not older, "offers are not taken oldest first"
        self.tasks[msg.task_id] = ModelTask(msg.task_id, runner.conn, task_type)
        runner.to_answer.append(msg.task_id)

    def observe_requester(self, requester: str, msg: Any) -> None:
        if isinstance(msg, BrokerRequestExpired):
            request = self.requests[(requester, msg.request_id)]
            assert request.task_id is None
            expected = reasons.EXPIRED_DRAINING if self.draining else reasons.EXPIRED_TIMEOUT
            assert msg.reason == expected
            self._end(request, "expired")
        elif isinstance(msg, BrokerTaskReady):
            self._ready(self.requests[(requester, msg.request_id)], msg.task_id)
        else:
            task = self.tasks[msg.task_id]
            assert task.phase == "ready"
            request = self._request_of(task)
            assert request.requester == requester
            if isinstance(msg, BrokerTaskDone | BrokerTaskError):
                task.phase = "dead"
                self._end(request, "done" if isinstance(msg, BrokerTaskDone) else "error")
            else:
                assert isinstance(msg, BrokerRpc)

    def _ready(self, request: ModelRequest, task_id: str) -> None:
        assert request.end is None and request.task_id is None, "request ready twice"
        task = self.tasks[task_id]
        assert task.phase == "accepting" and not task.cancelled
        assert task.task_type == request.task_type
        task.phase, task.request = "ready", request.key
        request.task_id = task_id

    def _task_of(self, runner: ModelRunner, task_id: str) -> ModelTask:
        task = self.tasks[task_id]
        assert task.conn == runner.conn, "message about another runner's task"
        return task

    def _request_of(self, task: ModelTask) -> ModelRequest:
        assert task.request is not None
        request = self.requests[task.request]
        assert request.end is None, f"message about a request that ended: {request}"
        return request

    def _end(self, request: ModelRequest, how: str) -> None:
        assert request.end is None, f"request ended twice: {request} then {how}"
        request.end = how

    def _runner_gone(self, conn: int) -> None:
        del self.runners[conn]
        self.closed.append(conn)
        for task in self.tasks.values():
            if task.conn == conn and task.phase == "accepting":
                task.phase = "dead"

    # --- helpers for rules ---------------------------------------------------------------------

    def live_offers(self) -> list[tuple[str, float, int]]:
        return [offer for r in self.runners.values() for offer in r.offers.values()]

    def live_requests(self, requester: str | None = None) -> list[ModelRequest]:
        return [
            r for r in self.requests.values() if r.end is None and requester in (None, r.requester)
        ]

    # --- runner rules ------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        assert self.core.next_deadline() is None

    @rule(runner_id=st.sampled_from(RUNNER_IDS), and_register=st.booleans())
    def connect(self, runner_id: str, and_register: bool) -> None:
        conn = next(self.conn_ids)
        self.runners[conn] = ModelRunner(conn, runner_id)
        assert self.call(self.core.connect_runner, conn, runner_id, self.now) == [
            SendToRunner(conn, BrokerInfoRequest())
        ]
        if and_register:
            self._register(self.runners[conn])

    @precondition(lambda self: any(not r.registered for r in self.runners.values()))
    @rule(data=st.data())
    def register(self, data: st.DataObject) -> None:
        self._register(
            data.draw(st.sampled_from([r for r in self.runners.values() if not r.registered]))
        )

    def _register(self, runner: ModelRunner) -> None:
        info = RunnerInfo("runner", TYPES)
        self.call(self.core.receive_from_runner, runner.conn, info, self.now)
        assert runner.registered
        same_id = [r for r in self.runners.values() if r.runner_id == runner.runner_id]
        assert same_id == [runner], "the older connection was not evicted"

    @precondition(lambda self: self.runners)
    @rule(
        data=st.data(),
        task_type=TASK_TYPE,
        valid_for=VALID_FOR,
    )
    def offer(self, data: st.DataObject, task_type: str, valid_for: int) -> None:
        runner = data.draw(st.sampled_from(list(self.runners.values())))
        offer_id = f"o{next(self.offer_ids)}"
        valid_until = math.inf if valid_for == -1 else self.now + valid_for / 1000
        takes = runner.registered and not runner.drained and not self.draining
        if takes and valid_until >= self.now:
            runner.offers[offer_id] = (task_type, valid_until, next(self.offer_seq))
        message = RunnerTaskOffer(offer_id, task_type, valid_for)
        out = self.call(self.core.receive_from_runner, runner.conn, message, self.now)
        if not takes:
            assert out == []

    @precondition(lambda self: any(r.to_answer for r in self.runners.values()))
    @rule(data=st.data(), answer=ANSWER)
    def answer_offer(self, data: st.DataObject, answer: str) -> None:
        runner = data.draw(st.sampled_from([r for r in self.runners.values() if r.to_answer]))
        task_id = data.draw(st.sampled_from(runner.to_answer))
        runner.to_answer.remove(task_id)
        task = self.tasks[task_id]
        was_accepting = task.phase == "accepting"
        message: Any = {
            "accept": RunnerTaskAccepted(task_id),
            "reject": RunnerTaskRejected(task_id, reasons.AT_CAPACITY),
            "defer": RunnerTaskDeferred(task_id),
        }[answer]
        if was_accepting and answer != "accept":
            task.phase = "dead"
        out = self.call(self.core.receive_from_runner, runner.conn, message, self.now)
        if not was_accepting:
            assert out == [], "an answer to a dead acceptance was not ignored"
        elif answer == "accept":
            assert task.phase == "ready"
            [ready] = out
            assert isinstance(ready, SendToRequester) and isinstance(ready.message, BrokerTaskReady)

    @precondition(lambda self: any(r.running for r in self.runners.values()))
    @rule(data=st.data(), ok=st.booleans())
    def finish_task(self, data: st.DataObject, ok: bool) -> None:
        runner = data.draw(st.sampled_from([r for r in self.runners.values() if r.running]))
        task_id = data.draw(st.sampled_from(runner.running))
        runner.running.remove(task_id)
        live = self.tasks[task_id].phase == "ready"
        message: Any = (
            RunnerTaskDone(task_id, {"result": []}) if ok else RunnerTaskError(task_id, {})
        )
        out = self.call(self.core.receive_from_runner, runner.conn, message, self.now)
        assert len(out) == (1 if live else 0)

    @precondition(lambda self: any(r.running for r in self.runners.values()))
    @rule(data=st.data())
    def rpc(self, data: st.DataObject) -> None:
        runner = data.draw(st.sampled_from([r for r in self.runners.values() if r.running]))
        task_id = data.draw(st.sampled_from(runner.running))
        live = self.tasks[task_id].phase == "ready"
        message = RunnerRpc("c", task_id, "logNodeOutput", [])
        out = self.call(self.core.receive_from_runner, runner.conn, message, self.now)
        assert len(out) == (1 if live else 0)

    @precondition(lambda self: self.tasks and self.runners)
    @rule(data=st.data(), message=ABOUT_A_TASK)
    def message_about_a_task_not_held(self, data: st.DataObject, message: Any) -> None:
        """A runner speaks of a task it does not hold: one of its own that ended is
        ignored; any other task closes the runner (1008) and leaves that task alone."""
        busy = {t.conn for t in self.tasks.values() if t.phase != "dead"} & set(self.runners)
        some = st.sampled_from([*self.runners, *self.closed])
        conn = data.draw(st.sampled_from(sorted(busy)) | some if busy else some)
        task = data.draw(st.sampled_from(list(self.tasks.values())))
        if task.conn == conn and task.phase != "dead":
            return
        message = attrs.evolve(message, task_id=task.task_id)
        runner = self.runners.get(conn)
        phase, state = task.phase, self.core.task_state(task.task_id)
        held = [
            self._request_of(t)
            for t in self.tasks.values()
            if t.conn == conn and t.phase == "ready"
        ]
        out = self.call(self.core.receive_from_runner, conn, message, self.now)
        if runner is None or not runner.registered or task.conn == conn:
            assert out == [], "a stale or dropped message was not ignored"
            return
        reason = FOREIGN_TASK_REASON.format(type=message.TYPE)
        assert out[0] == CloseRunner(conn, reasons.CLOSE_POLICY_VIOLATION, reason)
        assert conn not in self.runners
        assert all(r.end == "error" for r in held), "the closed runner's task was lost"
        assert (task.phase, self.core.task_state(task.task_id)) == (phase, state)

    @precondition(lambda self: self.runners)
    @rule(data=st.data())
    def protocol_violation(self, data: st.DataObject) -> None:
        conn = data.draw(st.sampled_from(list(self.runners)))
        before = (self.core.statistics(), self.core.next_deadline())
        with pytest.raises(RemoteProtocolError):
            self.core.receive_from_runner(conn, BrokerTaskDone("t0", {}), self.now + 100)
        assert (self.core.statistics(), self.core.next_deadline()) == before

    @precondition(lambda self: self.runners)
    @rule(data=st.data(), cause=st.sampled_from(DisconnectCause), go=one_in(3))
    def disconnect(self, data: st.DataObject, cause: DisconnectCause, go: bool) -> None:
        if not go:
            return
        conn = data.draw(st.sampled_from(list(self.runners)))
        held = [
            self._request_of(t)
            for t in self.tasks.values()
            if t.conn == conn and t.phase == "ready"
        ]
        self._runner_gone(conn)
        self.call(self.core.disconnect_runner, conn, self.now, cause=cause)
        assert all(r.end == "error" for r in held), "a task in flight was lost"
        assert self.call(self.core.disconnect_runner, conn, self.now) == []

    # --- requester rules ---------------------------------------------------------------------

    @rule(requester=st.sampled_from(REQUESTERS), task_type=TASK_TYPE)
    def request(self, requester: str, task_type: str) -> None:
        request = ModelRequest(requester, f"q{next(self.request_ids)}", task_type)
        self.requests[request.key] = request
        message = RequesterTaskRequest(request.request_id, task_type)
        out = self.call(self.core.receive_from_requester, requester, message, self.now)
        if self.draining:
            assert request.end == "expired" and len(out) == 1

    @precondition(lambda self: any(r.task_id and not r.settings_sent for r in self.live_requests()))
    @rule(data=st.data())
    def send_settings(self, data: st.DataObject) -> None:
        ready = [r for r in self.live_requests() if r.task_id and not r.settings_sent]
        request = data.draw(st.sampled_from(ready))
        assert request.task_id is not None
        request.settings_sent = True
        message = RequesterTaskSettings(request.task_id, {"for": request.request_id})
        out = self.call(self.core.receive_from_requester, request.requester, message, self.now)
        assert len(out) == 1 and isinstance(out[0], SendToRunner)
        assert out[0].connection == self.tasks[request.task_id].conn

    @precondition(lambda self: any(r.task_id for r in self.live_requests()))
    @rule(data=st.data())
    def rpc_response(self, data: st.DataObject) -> None:
        request = data.draw(st.sampled_from([r for r in self.live_requests() if r.task_id]))
        assert request.task_id is not None
        message = RequesterRpcResponse(request.task_id, "c", "success")
        out = self.call(self.core.receive_from_requester, request.requester, message, self.now)
        assert len(out) == 1

    @precondition(lambda self: self.live_requests())
    @rule(data=st.data(), go=one_in(2))
    def cancel(self, data: st.DataObject, go: bool) -> None:
        if not go:
            return
        request = data.draw(st.sampled_from(self.live_requests()))
        held = self._give_up([request])
        message = RequesterTaskCancel(request.task_id or request.request_id, "stop")
        out = self.call(self.core.receive_from_requester, request.requester, message, self.now)
        assert all(isinstance(o, SendToRunner) for o in out)
        assert all(task.cancelled for task in held), "the runner was not told"

    @rule(requester=st.sampled_from(REQUESTERS), go=one_in(4))
    def forget_requester(self, requester: str, go: bool) -> None:
        if not go:
            return
        held = self._give_up(self.live_requests(requester))
        out = self.call(self.core.forget_requester, requester, self.now)
        assert all(isinstance(o, SendToRunner) for o in out)
        assert all(task.cancelled for task in held), "the runner was not told"

    def _give_up(self, requests: list[ModelRequest]) -> list[ModelTask]:
        """The requester cancels ``requests``; returns the tasks their runners must hear of."""
        held = []
        for request in requests:
            self._end(request, "cancelled")
            if request.task_id is not None:
                task = self.tasks[request.task_id]
                task.phase = "dead"
                held.append(task)
        return held

    # --- a shortcut to deep states ---------------------------------------------------------------

    @rule(
        data=st.data(),
        requester=st.sampled_from(REQUESTERS),
        task_type=TASK_TYPE,
        valid_for=VALID_FOR,
    )
    def work(self, data: st.DataObject, requester: str, task_type: str, valid_for: int) -> None:
        """Requests and offers (not always as many of each), then steps that move tasks along."""
        for _ in range(data.draw(st.integers(0, 2))):
            self.request(requester, task_type)
        for _ in range(data.draw(st.integers(0, 3)) if self.runners else 0):
            self.offer(data, task_type, valid_for)
        for _ in range(data.draw(st.integers(0, 4))):
            steps = {
                "answer": any(r.to_answer for r in self.runners.values()),
                "settings": any(r.task_id and not r.settings_sent for r in self.live_requests()),
                "finish": any(r.running for r in self.runners.values()),
            }
            enabled = [name for name, ok in steps.items() if ok]
            if not enabled:
                return
            step = data.draw(st.sampled_from(enabled))
            if step == "answer":
                self.answer_offer(data, data.draw(ANSWER))
            elif step == "settings":
                self.send_settings(data)
            else:
                self.finish_task(data, data.draw(st.booleans()))

    # --- time and shutdown ----------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.0, 0.001, 0.1, 0.5, 2.0]) | st.floats(0, 2.5))
    def advance_time(self, dt: float) -> None:
        self.now += dt
        self.call(self.core.advance_time, self.now)
        deadline = self.core.next_deadline()
        assert deadline is None or deadline > self.now

    @rule(dt=st.sampled_from(BIG_STEPS), go=one_in(3))
    def advance_time_a_lot(self, dt: float, go: bool) -> None:
        """Past request or task timeouts: this ends a lot, so it is rarer."""
        if go:
            self.advance_time(dt)

    @rule(dt=st.floats(0, 3))
    def let_time_pass(self, dt: float) -> None:
        """Time passes but the core is not told: the next message comes in late."""
        self.now += dt

    @precondition(lambda self: self.steps > 40 and not self.draining)
    @rule(go=one_in(4))
    def drain(self, go: bool) -> None:
        if not go:
            return
        self.draining = True
        for runner in self.runners.values():
            runner.offers.clear()
        self.call(self.core.drain, self.now)
        assert not any(r.task_id is None for r in self.live_requests())
        assert all(r.drained for r in self.runners.values() if r.registered)

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def statistics_match_the_model(self) -> None:
        stats = self.core.statistics()
        live = self.live_requests()
        assert stats.connections == len(self.runners)
        assert stats.runners == sum(r.registered for r in self.runners.values())
        assert stats.offers == sum(len(r.offers) for r in self.runners.values())
        assert stats.pending_requests == sum(r.task_id is None for r in live)
        assert stats.tasks_in_flight == sum(r.task_id is not None for r in live)
        assert self.core.tasks_in_flight == stats.tasks_in_flight
        assert stats.accepting == sum(t.phase == "accepting" for t in self.tasks.values())
        assert stats.draining == self.draining

    @invariant()
    def no_offer_idles_while_a_request_waits(self) -> None:
        """Matching is complete after every call, and no request is being accepted twice."""
        for task_type in TYPES:
            pending = [r for r in self.live_requests() if r.task_type == task_type]
            accepting = [
                t
                for t in self.tasks.values()
                if t.task_type == task_type and t.phase == "accepting"
            ]
            waiting = sum(r.task_id is None for r in pending) - len(accepting)
            assert waiting >= 0
            offers = [o for o in self.live_offers() if o[0] == task_type]
            assert not (waiting and offers), f"{task_type}: {waiting} waiting, {offers} offered"

    def teardown(self) -> None:
        """Let every timer fire: then every request must have ended, exactly once."""
        for _ in range(1000):
            deadline = self.core.next_deadline()
            if deadline is None:
                break
            self.now = max(self.now, deadline)
            self.call(self.core.advance_time, self.now)
        assert self.core.next_deadline() is None
        assert self.live_requests() == []
        stats = self.core.statistics()
        assert (stats.pending_requests, stats.tasks_in_flight, stats.accepting) == (0, 0, 0)
        ends = [r.end for r in self.requests.values()]
        assert stats.tasks_done == ends.count("done")
        assert stats.tasks_failed == ends.count("error")
        assert stats.requests_expired == ends.count("expired")
        assert stats.requests_cancelled == ends.count("cancelled")


BrokerMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBrokerStateMachine = BrokerMachine.TestCase
