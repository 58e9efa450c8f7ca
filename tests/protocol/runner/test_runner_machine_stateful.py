"""RunnerConnection against a random broker: stale ids, races, time passing."""

from __future__ import annotations

import itertools
from random import Random
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from trio_launcher.protocol import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerRpcResponse,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskOfferAccept,
    BrokerTaskSettings,
    RunnerTaskAccepted,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskRejected,
    UnknownMessage,
    reasons,
)
from trio_launcher.protocol.runner import (
    DUPLICATE_TASK_ID,
    CancelTask,
    RunnerConnection,
    RunnerState,
    StartTask,
    Step,
    TaskAccepted,
    TaskDropped,
    TaskState,
)

MAX = 3
SETTINGS_TIMEOUT = 10.0


class RunnerAgainstRandomBroker(RuleBasedStateMachine):
    """A model of what the runner promised, checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        ids = itertools.count()
        self.conn = RunnerConnection(
            name="r",
            task_types=("python", "javascript"),
            max_concurrency=MAX,
            settings_timeout=SETTINGS_TIMEOUT,
            new_offer_id=lambda: f"o{next(ids)}",
            random=Random(0),
        )
        self.offers: dict[str, float] = {}  # offer id -> local expiry, for offers still open
        self.sent_offers: list[str] = ["never-offered"]
        self.model: dict[str, TaskState] = {}  # the tasks the runner told us it holds
        self.accepted_at: dict[str, float] = {}
        self.accepted: set[str] = set()
        self.ended: set[str] = set()
        self.draining = False
        self.task_ids = (f"t{i}" for i in itertools.count())

    # --- helpers ---

    def receive(self, message: Any) -> Step:
        step = self.conn.receive(message, self.now)
        self.apply(step)
        return step

    def apply(self, step: Step) -> None:
        for event in step.events:
            match event:
                case TaskAccepted(task_id):
                    assert task_id not in self.model
                    assert task_id not in self.accepted, "a task id was accepted twice"
                    self.model[task_id] = TaskState.WAITING_FOR_SETTINGS
                    self.accepted.add(task_id)
                    self.accepted_at[task_id] = self.now
                case StartTask(task_id):
                    assert self.model[task_id] is TaskState.WAITING_FOR_SETTINGS
                    self.model[task_id] = TaskState.RUNNING
                case CancelTask(task_id):
                    assert self.model[task_id] is TaskState.RUNNING
                    self.model[task_id] = TaskState.ABORTING
                case TaskDropped(task_id):
                    assert self.model.pop(task_id) is TaskState.WAITING_FOR_SETTINGS
                    self.end(task_id)

    def any_task_id(self, data: st.DataObject) -> str:
        """A task id the broker may name: held, ended (stale) or never seen."""
        return data.draw(st.sampled_from(["unknown", *sorted(self.accepted)]))

    def end(self, task_id: str) -> None:
        assert task_id not in self.ended, f"{task_id} ended twice"
        self.ended.add(task_id)

    # --- the broker ---

    @initialize()
    def register(self) -> None:
        assert self.receive(BrokerInfoRequest()).to_send
        assert self.receive(BrokerRunnerRegistered()).events

    @rule(dt=st.floats(0, 1) | st.floats(0, 12) | st.sampled_from([0.1, 5.0, 5.1, 10.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    @rule()
    def sleep_until_next_deadline(self) -> None:
        deadline = self.conn.next_deadline()
        if deadline is not None:
            self.now = max(self.now, deadline)

    @rule()
    def tick(self) -> None:
        step = self.conn.expire_waiting(self.now)
        overdue = {
            t
            for t, state in self.model.items()
            if state is TaskState.WAITING_FOR_SETTINGS
            and self.now >= self.accepted_at[t] + SETTINGS_TIMEOUT
        }
        assert {e.task_id for e in step.events} == overdue
        assert {m.task_id for m in step.to_send if isinstance(m, RunnerTaskError)} == overdue
        self.apply(step)
        self.offers = {o: exp for o, exp in self.offers.items() if self.now < exp}
        for offer in self.conn.offers_due(self.now):
            assert 5000 <= offer.valid_for <= 5500
            self.offers[offer.offer_id] = self.now + offer.valid_for / 1000 + 0.1
            self.sent_offers.append(offer.offer_id)
        if self.conn.state is RunnerState.REGISTERED:
            assert self.conn.open_offers + self.conn.running_tasks == MAX
            assert self.conn.next_deadline() != float("-inf")

    @rule(data=st.data(), open_offer=st.booleans(), reuse=st.booleans())
    def broker_accepts(self, data: st.DataObject, open_offer: bool, reuse: bool) -> None:
        offers = sorted(self.offers) if open_offer and self.offers else self.sent_offers
        offer_id = data.draw(st.sampled_from(offers))
        held = sorted(self.model)
        task_id = data.draw(st.sampled_from(held)) if reuse and held else next(self.task_ids)
        was_open = offer_id in self.offers and self.now < self.offers[offer_id]
        self.offers.pop(offer_id, None)
        step = self.receive(BrokerTaskOfferAccept(task_id=task_id, offer_id=offer_id))
        (reply,) = step.to_send
        if isinstance(reply, RunnerTaskAccepted):
            assert was_open, "accepted an expired or unknown offer"
            assert not self.draining
            assert task_id in self.model
            return
        assert isinstance(reply, RunnerTaskRejected)
        expected = (
            reasons.SHUTTING_DOWN
            if self.draining
            else reasons.AT_CAPACITY
            if len(self.model) >= MAX
            else reasons.OFFER_EXPIRED
            if not was_open
            else DUPLICATE_TASK_ID
        )
        assert reply.reason == expected
        if expected == DUPLICATE_TASK_ID:
            assert task_id in self.model

    @rule(data=st.data())
    def broker_sends_settings(self, data: st.DataObject) -> None:
        task_id = self.any_task_id(data)
        was_waiting = self.model.get(task_id) is TaskState.WAITING_FOR_SETTINGS
        step = self.receive(BrokerTaskSettings(task_id=task_id, settings={"code": ""}))
        assert step.events == ((StartTask(task_id, {"code": ""}),) if was_waiting else ())

    @rule(data=st.data())
    def broker_cancels(self, data: st.DataObject) -> None:
        task_id = self.any_task_id(data)
        before = self.model.get(task_id)
        step = self.receive(BrokerTaskCancel(task_id=task_id, reason="r"))
        expected = {
            TaskState.WAITING_FOR_SETTINGS: (TaskDropped(task_id, "r"),),
            TaskState.RUNNING: (CancelTask(task_id, "r"),),
        }
        assert step == Step(events=expected.get(before, ()))

    @rule(data=st.data())
    def broker_sends_noise(self, data: st.DataObject) -> None:
        task_id = self.any_task_id(data)
        for message in (
            BrokerRpcResponse(call_id="c", task_id=task_id, status="success"),
            UnknownMessage(type="broker:new", raw={"type": "broker:new"}),
        ):
            assert self.receive(message).to_send == ()

    @precondition(lambda self: not self.draining)
    @rule(how=st.sampled_from(["not yet"] * 18 + ["broker drains", "runner stops"]))
    def shutdown(self, how: str) -> None:
        """Rarely: a shutdown ends all the interesting traffic."""
        if how == "not yet":
            return
        self.draining = True
        self.offers.clear()
        if how == "broker drains":
            assert self.receive(BrokerDrain()).events
        else:
            self.conn.stop_offering()

    # --- the application ---

    @rule(data=st.data(), ok=st.booleans())
    def task_finishes(self, data: st.DataObject, ok: bool) -> None:
        started = sorted(
            t for t, s in self.model.items() if s is not TaskState.WAITING_FOR_SETTINGS
        )
        if not started:
            return
        task_id = data.draw(st.sampled_from(started))
        state = self.model.pop(task_id)
        sent = self.conn.task_done(task_id, {}) if ok else self.conn.task_failed(task_id, {})
        self.end(task_id)
        if state is TaskState.ABORTING:
            assert sent == []
        else:
            (message,) = sent
            assert isinstance(message, RunnerTaskDone if ok else RunnerTaskError)

    # --- invariants ---

    @invariant()
    def capacity_is_never_exceeded(self) -> None:
        assert self.conn.open_offers + self.conn.running_tasks <= MAX

    @invariant()
    def the_runner_holds_what_it_announced(self) -> None:
        assert dict(self.conn.tasks) == self.model

    @invariant()
    def every_accepted_task_is_held_or_ended_exactly_once(self) -> None:
        assert self.accepted == set(self.model) | self.ended
        assert not set(self.model) & self.ended

    @invariant()
    def nothing_is_offered_while_draining(self) -> None:
        if self.draining:
            assert self.conn.open_offers == 0
            assert self.conn.offers_due(self.now) == []


RunnerAgainstRandomBroker.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None
)
test_runner_against_random_broker = RunnerAgainstRandomBroker.TestCase
