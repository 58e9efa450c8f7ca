"""The runner's broker connection machine: :class:`RunnerConnection` (reference 5).

See the package docstring for how a runner loop drives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from random import Random
from types import MappingProxyType
from typing import Any, Final

import attrs

from .. import n8n_errors, reasons
from ..errors import LocalProtocolError, RemoteProtocolError
from ..ids import nanoid
from ..messages import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerNodeTypes,
    BrokerRpcResponse,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskDataResponse,
    BrokerTaskOfferAccept,
    BrokerTaskSettings,
    BrokerToRunner,
    Message,
    RunnerInfo,
    RunnerRpc,
    RunnerTaskAccepted,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskOffer,
    RunnerTaskRejected,
    RunnerToBroker,
    UnknownMessage,
)
from .events import (
    CancelTask,
    DrainRequested,
    Event,
    NodeTypesAnswered,
    Registered,
    RpcAnswered,
    StartTask,
    Step,
    TaskAccepted,
    TaskDataAnswered,
    TaskDropped,
)
from .offers import OpenOffers
from .states import RUNNER_TRANSITIONS, TASK_TRANSITIONS, RunnerState, TaskState

__all__ = [
    "CONNECTION_CLOSED",
    "DEFAULT_SETTINGS_TIMEOUT",
    "DUPLICATE_TASK_ID",
    "SETTINGS_TIMED_OUT",
    "RunnerConnection",
    "ensure_broker_to_runner",
]

#: Default seconds an accepted task may wait for ``broker:tasksettings``.
#: The broker sends the settings within two accept windows of our
#: ``runner:taskaccepted`` (its own window for our reply, then the requester's
#: for the settings: ``N8N_RUNNERS_TASK_ACCEPT_TIMEOUT``, 2 s each by default)
#: or cancels the task. Settings that have not come after 10 s will not come:
#: typically our accept reached a v2.1 broker after its window, which it logs
#: and forgets without a cancel. Raise it with the broker's accept timeout.
DEFAULT_SETTINGS_TIMEOUT: Final = 10.0

#: ``runner:taskrejected`` reason for an accept naming a task id we already hold.
DUPLICATE_TASK_ID: Final = "Task ID already in use by this runner"

#: :class:`TaskDropped` reason when the settings of a task never came.
SETTINGS_TIMED_OUT: Final = "Task settings not received in time"

#: :class:`TaskDropped` and :class:`CancelTask` reason when the connection closed.
CONNECTION_CLOSED: Final = "Connection to the broker closed"


def ensure_broker_to_runner(message: Message) -> BrokerToRunner | None:
    """``message`` if a broker may send it to a runner, ``None`` for an unknown type.

    Raises :class:`RemoteProtocolError` for any other known message: the peer
    is not speaking as a broker to a runner.
    """
    if isinstance(message, UnknownMessage):
        return None
    if not isinstance(message, BrokerToRunner):
        raise RemoteProtocolError(f"{message.TYPE} is not a broker-to-runner message")
    return message


@attrs.define
class _Task:
    state: TaskState
    settings_deadline: float


class RunnerConnection:
    """The runner side of one broker connection (reference 5).

    ``task_types`` share ``max_concurrency`` slots: open offers plus held
    tasks never exceed it. Offers last ``offer_validity`` seconds plus a random
    0 to ``offer_jitter`` seconds. A task whose settings have not come
    ``settings_timeout`` seconds after we accepted it is released (``None``:
    wait forever, as n8n's Python runner does).
    """

    def __init__(
        self,
        *,
        name: str,
        task_types: Sequence[str],
        max_concurrency: int,
        offer_validity: float = 5.0,
        offer_jitter: float = 0.5,
        settings_timeout: float | None = DEFAULT_SETTINGS_TIMEOUT,
        new_offer_id: Callable[[], str] = nanoid,
        new_call_id: Callable[[], str] = nanoid,
        random: Random | None = None,
    ) -> None:
        _check_config(task_types, max_concurrency, offer_validity, offer_jitter, settings_timeout)
        self.name = name
        self.task_types = tuple(task_types)
        self.max_concurrency = max_concurrency
        self._settings_timeout = math.inf if settings_timeout is None else settings_timeout
        self._new_call_id = new_call_id
        self._state = RunnerState.AWAITING_INFO_REQUEST
        self._offers = OpenOffers(
            self.task_types,
            validity_ms=round(offer_validity * 1000),
            jitter_ms=round(offer_jitter * 1000),
            new_offer_id=new_offer_id,
            random=random if random is not None else Random(),
        )
        self._tasks: dict[str, _Task] = {}

    # --- read-only views ---

    @property
    def state(self) -> RunnerState:
        """The connection's current state."""
        return self._state

    @property
    def tasks(self) -> Mapping[str, TaskState]:
        """A snapshot of the tasks held: task id -> state."""
        return MappingProxyType({task_id: task.state for task_id, task in self._tasks.items()})

    @property
    def open_offers(self) -> int:
        """Offers sent and not yet accepted or pruned (some may have expired since)."""
        return len(self._offers)

    @property
    def running_tasks(self) -> int:
        """Tasks holding a slot, in any state (n8n's ``runningTasks``)."""
        return len(self._tasks)

    @property
    def is_idle(self) -> bool:
        """Whether the runner holds no task at all."""
        return not self._tasks

    # --- input from the broker ---

    def receive(self, message: Message, now: float) -> Step:
        """Handle one message from the broker at time ``now``.

        Raises :class:`RemoteProtocolError` (state unchanged) for a message a
        broker must not send a runner, or a registration message out of order
        (ignored once draining: a runner stopped before registering skips it);
        :class:`LocalProtocolError` once the connection is closed. Messages
        about unknown or already finished tasks are ignored: they are races.
        """
        if self._state is RunnerState.CLOSED:
            raise LocalProtocolError("runner connection: receive() after connection_closed()")
        msg = ensure_broker_to_runner(message)
        match msg:
            case BrokerInfoRequest() | BrokerRunnerRegistered():
                return self._handshake(msg)
            case BrokerDrain():
                self._drain(msg.TYPE)
                return Step(events=(DrainRequested(),))
            case BrokerTaskOfferAccept():
                return self._accept(msg, now)
            case BrokerTaskSettings():
                return self._settings(msg)
            case BrokerTaskCancel():
                return self._cancel(msg)
            case None:
                return Step()
            case _:
                return Step(events=(_answer(msg),))

    def _handshake(self, msg: BrokerInfoRequest | BrokerRunnerRegistered) -> Step:
        if self._state is RunnerState.DRAINING:
            return Step()  # stopped before registering: registration no longer matters
        if not RUNNER_TRANSITIONS.allows(self._state, msg.TYPE):
            raise RemoteProtocolError(f"{msg.TYPE} is not expected in state {self._state.name}")
        self._state = RUNNER_TRANSITIONS.advance(self._state, msg.TYPE)
        if isinstance(msg, BrokerInfoRequest):
            return Step(to_send=(RunnerInfo(name=self.name, types=self.task_types),))
        return Step(events=(Registered(),))

    def _drain(self, trigger: str) -> None:
        self._state = RUNNER_TRANSITIONS.advance(self._state, trigger)
        self._offers.clear()

    def _accept(self, msg: BrokerTaskOfferAccept, now: float) -> Step:
        offer_was_open = self._offers.take(msg.offer_id, now)  # used up, whatever we answer
        reason = self._reject_reason(msg.task_id, offer_was_open)
        if reason is not None:
            return Step(to_send=(RunnerTaskRejected(task_id=msg.task_id, reason=reason),))
        deadline = now + self._settings_timeout
        self._tasks[msg.task_id] = _Task(TaskState.WAITING_FOR_SETTINGS, deadline)
        return Step(
            to_send=(RunnerTaskAccepted(task_id=msg.task_id),),
            events=(TaskAccepted(task_id=msg.task_id),),
        )

    def _reject_reason(self, task_id: str, offer_was_open: bool) -> str | None:
        """Why an accept must be refused, checked in the JS runner's (v2.41) order."""
        if self._state is RunnerState.DRAINING:
            return reasons.SHUTTING_DOWN
        if len(self._tasks) >= self.max_concurrency:
            return reasons.AT_CAPACITY
        if not offer_was_open:
            return reasons.OFFER_EXPIRED
        if task_id in self._tasks:
            return DUPLICATE_TASK_ID
        return None

    def _settings(self, msg: BrokerTaskSettings) -> Step:
        if self._remote_advance(msg.task_id, msg.TYPE) is None:
            return Step()
        return Step(events=(StartTask(task_id=msg.task_id, settings=msg.settings),))

    def _cancel(self, msg: BrokerTaskCancel) -> Step:
        state = self._remote_advance(msg.task_id, msg.TYPE)
        if state is None:
            return Step()
        if state is TaskState.DONE:
            return Step(events=(TaskDropped(task_id=msg.task_id, reason=msg.reason),))
        return Step(events=(CancelTask(task_id=msg.task_id, reason=msg.reason),))

    def _remote_advance(self, task_id: str, trigger: str) -> TaskState | None:
        """As :meth:`_advance`, but ``None`` (ignored) for an unknown or stale task: races."""
        task = self._tasks.get(task_id)
        if task is None or not TASK_TRANSITIONS.allows(task.state, trigger):
            return None
        return self._advance(task_id, trigger)

    def _advance(self, task_id: str, trigger: str) -> TaskState:
        """Move a task on by ``trigger``, removing it when ``DONE``; the new state."""
        state = TASK_TRANSITIONS.advance(self._task_state(task_id), trigger)
        if state is TaskState.DONE:
            del self._tasks[task_id]
        else:
            self._tasks[task_id].state = state
        return state

    def _task_state(self, task_id: str) -> TaskState:
        task = self._tasks.get(task_id)
        if task is None:
            raise LocalProtocolError(f"runner task: no task {task_id!r}")
        return task.state

    # --- time ---

    def offers_due(self, now: float) -> list[RunnerTaskOffer]:
        """Prune expired offers and return the new ones to send to fill every free slot.

        Types take turns, the type with the fewest open offers first. Nothing
        is offered unless the connection is ``REGISTERED``.
        """
        if self._state is not RunnerState.REGISTERED:
            return []
        self._offers.prune(now)
        return [self._offers.new(now) for _ in range(self._free_slots())]

    def _free_slots(self) -> int:
        return self.max_concurrency - len(self._offers) - len(self._tasks)

    def expire_waiting(self, now: float) -> Step:
        """Release the tasks whose settings are overdue at ``now``.

        Each gets a ``runner:taskerror`` (ignored by a broker that forgot the
        task; fails it promptly at one that did not) and a :class:`TaskDropped`.
        """
        overdue = [
            task_id
            for task_id, task in self._tasks.items()
            if task.state is TaskState.WAITING_FOR_SETTINGS and now >= task.settings_deadline
        ]
        for task_id in overdue:
            self._advance(task_id, "expire_waiting")
        return Step(
            to_send=tuple(
                RunnerTaskError(
                    task_id=t, error=n8n_errors.settings_not_received(self._settings_timeout)
                )
                for t in overdue
            ),
            events=tuple(TaskDropped(task_id=t, reason=SETTINGS_TIMED_OUT) for t in overdue),
        )

    def next_deadline(self) -> float | None:
        """When :meth:`offers_due` or :meth:`expire_waiting` next has work.

        ``-inf`` when offers are due right now, ``None`` when nothing is
        pending: sleep until then (or until a message comes), not on a poll.
        """
        deadlines = [
            task.settings_deadline
            for task in self._tasks.values()
            if task.state is TaskState.WAITING_FOR_SETTINGS
        ]
        if self._state is RunnerState.REGISTERED:
            if self._free_slots() > 0:
                return -math.inf
            deadlines += self._offers.expiries()
        finite = [d for d in deadlines if d != math.inf]
        return min(finite, default=None)

    # --- local events ---

    def task_done(self, task_id: str, data: Any) -> list[RunnerToBroker]:
        """A started task finished with ``data`` (``{"result": ...}``).

        Sends ``runner:taskdone``, or nothing for a cancelled task: the broker
        forgot it when it cancelled it (reference 4.5, 10), and n8n's JS
        runner sends nothing either.
        """
        if self._finish(task_id, "task_done"):
            return [RunnerTaskDone(task_id=task_id, data=data)]
        return []

    def task_failed(self, task_id: str, error: Any) -> list[RunnerToBroker]:
        """A started task failed with ``error`` (``{"message": ...}``); as :meth:`task_done`."""
        if self._finish(task_id, "task_failed"):
            return [RunnerTaskError(task_id=task_id, error=error)]
        return []

    def _finish(self, task_id: str, trigger: str) -> bool:
        """End a started task; whether the broker still wants to hear about it."""
        state = self._task_state(task_id)
        self._advance(task_id, trigger)
        return state is TaskState.RUNNING

    def rpc(self, task_id: str, name: str, params: Any) -> RunnerRpc:
        """A ``runner:rpc`` call from a started task, with a new call id."""
        self._advance(task_id, "rpc")
        return RunnerRpc(call_id=self._new_call_id(), task_id=task_id, name=name, params=params)

    def stop_offering(self) -> None:
        """Local shutdown began: drop open offers, offer no more, reject accepts.

        Tasks held still run to the end. Does nothing once closed.
        """
        if RUNNER_TRANSITIONS.allows(self._state, "stop_offering"):
            self._drain("stop_offering")

    def connection_closed(self) -> Step:
        """The WebSocket is gone, closed by either side.

        Waiting tasks are dropped and running ones cancelled, since the broker
        fails all of a lost runner's tasks (reference 4.7). Idempotent.
        """
        if not RUNNER_TRANSITIONS.allows(self._state, "connection_closed"):
            return Step()
        self._state = RUNNER_TRANSITIONS.advance(self._state, "connection_closed")
        self._offers.clear()
        events: list[Event] = []
        for task_id, task in list(self._tasks.items()):
            old_state = task.state
            new_state = self._advance(task_id, "connection_closed")
            if new_state is TaskState.DONE:
                events.append(TaskDropped(task_id=task_id, reason=CONNECTION_CLOSED))
            elif new_state is not old_state:
                events.append(CancelTask(task_id=task_id, reason=CONNECTION_CLOSED))
        return Step(events=tuple(events))


def _answer(msg: BrokerRpcResponse | BrokerTaskDataResponse | BrokerNodeTypes) -> Event:
    match msg:
        case BrokerRpcResponse():
            return RpcAnswered(msg.task_id, msg.call_id, msg.status, msg.data)
        case BrokerTaskDataResponse():
            return TaskDataAnswered(msg.task_id, msg.request_id, msg.data)
        case BrokerNodeTypes():
            return NodeTypesAnswered(msg.task_id, msg.request_id, msg.node_types)


def _check_config(
    task_types: Sequence[str],
    max_concurrency: int,
    offer_validity: float,
    offer_jitter: float,
    settings_timeout: float | None,
) -> None:
    if isinstance(task_types, str) or not task_types:
        raise ValueError("task_types must be a non-empty sequence of task type names")
    if len(set(task_types)) != len(task_types):
        raise ValueError(f"task_types has duplicates: {list(task_types)}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if offer_validity <= 0 or offer_jitter < 0:
        raise ValueError("offer_validity must be > 0 and offer_jitter >= 0")
    if settings_timeout is not None and settings_timeout <= 0:
        raise ValueError(f"settings_timeout must be > 0 or None, got {settings_timeout}")
