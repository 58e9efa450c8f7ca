"""The runner side of one broker connection, as a pure state machine (reference 5).

:class:`RunnerConnection` holds what an n8n task runner must remember about
its WebSocket: the registration handshake, the offers it has open, and the
tasks it holds. It never does I/O and never reads a clock: the caller feeds it
decoded broker messages (:meth:`RunnerConnection.receive`) and the current time
in seconds, calls it when local things happen (a task finished, shutdown
began), and sends what it returns. Its decisions come back as a :class:`Step`:
messages for the broker and :data:`Event` objects for the application.

A Trio runner loop looks like this (``-inf`` from :meth:`~RunnerConnection.next_deadline`
means "now"; it sleeps only until the next offer or settings deadline)::

    while True:
        deadline = conn.next_deadline()
        steps = []
        with trio.move_on_at(math.inf if deadline is None else deadline):
            frame = await ws.get_message()
            steps.append(conn.receive(decode(frame), trio.current_time()))
        now = trio.current_time()
        steps.append(conn.expire_waiting(now))
        for step in steps:
            await send_all(step.to_send)
            handle(step.events)
        await send_all(conn.offers_due(now))

A task that finishes calls :meth:`~RunnerConnection.task_done` and sends what
it returns; the freed slot makes ``next_deadline()`` return ``-inf``.

The connection's states are in :data:`RUNNER_TRANSITIONS` and each task's in
:data:`TASK_TRANSITIONS`; every state change is looked up there.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from random import Random
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs

from . import n8n_errors, reasons
from .errors import LocalProtocolError, RemoteProtocolError
from .ids import nanoid
from .messages import (
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
from .transitions import Transition, TransitionTable

__all__ = [
    "CONNECTION_CLOSED",
    "DEFAULT_SETTINGS_TIMEOUT",
    "DUPLICATE_TASK_ID",
    "OFFER_EXPIRY_MARGIN",
    "RUNNER_TRANSITIONS",
    "SETTINGS_TIMED_OUT",
    "TASK_TRANSITIONS",
    "CancelTask",
    "DrainRequested",
    "Event",
    "NodeTypesAnswered",
    "Registered",
    "RpcAnswered",
    "RunnerConnection",
    "RunnerState",
    "StartTask",
    "Step",
    "TaskAccepted",
    "TaskDataAnswered",
    "TaskDropped",
    "TaskState",
    "ensure_broker_to_runner",
]

#: Seconds a local offer outlives its ``validFor``, so that an accept the broker
#: sent just in time is not refused because of network latency (n8n: 100 ms).
OFFER_EXPIRY_MARGIN: Final = 0.1

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


class RunnerState(enum.Enum):
    """The states of a runner's broker connection."""

    AWAITING_INFO_REQUEST = enum.auto()
    AWAITING_REGISTRATION = enum.auto()
    REGISTERED = enum.auto()
    DRAINING = enum.auto()
    CLOSED = enum.auto()


class TaskState(enum.Enum):
    """The states of one task the runner holds (reference 5.1).

    ``DONE`` only names the end of :data:`TASK_TRANSITIONS`: a task that
    reaches it is removed, so it never appears in :attr:`RunnerConnection.tasks`.
    """

    WAITING_FOR_SETTINGS = enum.auto()
    RUNNING = enum.auto()
    ABORTING = enum.auto()
    DONE = enum.auto()


_R = RunnerState
_T = TaskState
_LIVE = (_R.AWAITING_INFO_REQUEST, _R.AWAITING_REGISTRATION, _R.REGISTERED, _R.DRAINING)

#: Every state change of :class:`RunnerConnection`; triggers are wire types or method names.
RUNNER_TRANSITIONS: Final = TransitionTable(
    "runner connection",
    [
        Transition(_R.AWAITING_INFO_REQUEST, BrokerInfoRequest.TYPE, _R.AWAITING_REGISTRATION),
        Transition(_R.AWAITING_REGISTRATION, BrokerRunnerRegistered.TYPE, _R.REGISTERED),
        *(Transition(s, BrokerDrain.TYPE, _R.DRAINING) for s in _LIVE),
        *(Transition(s, "stop_offering", _R.DRAINING) for s in _LIVE),
        *(Transition(s, "connection_closed", _R.CLOSED) for s in _LIVE),
    ],
)

#: Every state change of one task; triggers are wire types or method names.
TASK_TRANSITIONS: Final = TransitionTable(
    "runner task",
    [
        Transition(_T.WAITING_FOR_SETTINGS, BrokerTaskSettings.TYPE, _T.RUNNING),
        Transition(_T.WAITING_FOR_SETTINGS, BrokerTaskCancel.TYPE, _T.DONE),
        Transition(_T.WAITING_FOR_SETTINGS, "expire_waiting", _T.DONE),
        Transition(_T.WAITING_FOR_SETTINGS, "connection_closed", _T.DONE),
        Transition(_T.RUNNING, BrokerTaskCancel.TYPE, _T.ABORTING),
        Transition(_T.RUNNING, "connection_closed", _T.ABORTING),
        Transition(_T.RUNNING, "rpc", _T.RUNNING),
        Transition(_T.RUNNING, "task_done", _T.DONE),
        Transition(_T.RUNNING, "task_failed", _T.DONE),
        Transition(_T.ABORTING, "connection_closed", _T.ABORTING),
        Transition(_T.ABORTING, "rpc", _T.ABORTING),
        Transition(_T.ABORTING, "task_done", _T.DONE),
        Transition(_T.ABORTING, "task_failed", _T.DONE),
    ],
)


# --- events for the application ------------------------------------------------


@attrs.frozen
class Registered:
    """The broker registered the runner; offers are now due."""


@attrs.frozen
class TaskAccepted:
    """We accepted a task; its settings are on their way (reset an idle timer here)."""

    task_id: str


@attrs.frozen
class StartTask:
    """A task's settings arrived: run it now, then call ``task_done`` or ``task_failed``."""

    task_id: str
    settings: Any


@attrs.frozen
class CancelTask:
    """The broker cancelled a running task, or the connection closed under it.

    Stop it, then call ``task_done`` or ``task_failed``; nothing will be sent.
    """

    task_id: str
    reason: str


@attrs.frozen
class TaskDropped:
    """A task that never started is gone (cancelled, or its settings never came)."""

    task_id: str
    reason: str


@attrs.frozen
class RpcAnswered:
    """The broker answered a :class:`RunnerRpc` call; ``data`` may be ``ABSENT``."""

    task_id: str
    call_id: str
    status: str
    data: Any


@attrs.frozen
class TaskDataAnswered:
    """The broker answered a task data request (JS runners)."""

    task_id: str
    request_id: str
    data: Any


@attrs.frozen
class NodeTypesAnswered:
    """The broker answered a node types request (JS runners)."""

    task_id: str
    request_id: str
    node_types: Any


@attrs.frozen
class DrainRequested:
    """The broker is shutting down: no more offers; finish the tasks held, then close."""


Event: TypeAlias = (
    Registered
    | TaskAccepted
    | StartTask
    | CancelTask
    | TaskDropped
    | RpcAnswered
    | TaskDataAnswered
    | NodeTypesAnswered
    | DrainRequested
)


@attrs.frozen
class Step:
    """What one input produced: messages to send, in order, then events to handle."""

    to_send: tuple[RunnerToBroker, ...] = ()
    events: tuple[Event, ...] = ()


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


# --- the machine ------------------------------------------------------------------


@attrs.frozen
class _Offer:
    task_type: str
    expires_at: float


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
        self._validity_ms = round(offer_validity * 1000)
        self._jitter_ms = round(offer_jitter * 1000)
        self._settings_timeout = math.inf if settings_timeout is None else settings_timeout
        self._new_offer_id = new_offer_id
        self._new_call_id = new_call_id
        self._random = random if random is not None else Random()
        self._state = RunnerState.AWAITING_INFO_REQUEST
        self._offers: dict[str, _Offer] = {}
        self._tasks: dict[str, _Task] = {}
        self._next_type = 0

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
        offer = self._offers.pop(msg.offer_id, None)  # used up by the broker, whatever we answer
        reason = self._reject_reason(msg.task_id, offer, now)
        if reason is not None:
            return Step(to_send=(RunnerTaskRejected(task_id=msg.task_id, reason=reason),))
        deadline = now + self._settings_timeout
        self._tasks[msg.task_id] = _Task(TaskState.WAITING_FOR_SETTINGS, deadline)
        return Step(
            to_send=(RunnerTaskAccepted(task_id=msg.task_id),),
            events=(TaskAccepted(task_id=msg.task_id),),
        )

    def _reject_reason(self, task_id: str, offer: _Offer | None, now: float) -> str | None:
        """Why an accept must be refused, checked in the JS runner's (v2.41) order."""
        if self._state is RunnerState.DRAINING:
            return reasons.SHUTTING_DOWN
        if len(self._tasks) >= self.max_concurrency:
            return reasons.AT_CAPACITY
        if offer is None or now >= offer.expires_at:
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
        for offer_id in [o for o, offer in self._offers.items() if now >= offer.expires_at]:
            del self._offers[offer_id]
        return [self._new_offer(now) for _ in range(self._free_slots())]

    def _free_slots(self) -> int:
        return self.max_concurrency - len(self._offers) - len(self._tasks)

    def _new_offer(self, now: float) -> RunnerTaskOffer:
        valid_for = self._validity_ms + self._random.randint(0, self._jitter_ms)
        offer = RunnerTaskOffer(
            offer_id=self._new_offer_id(), task_type=self._next_task_type(), valid_for=valid_for
        )
        expires_at = now + valid_for / 1000 + OFFER_EXPIRY_MARGIN
        self._offers[offer.offer_id] = _Offer(offer.task_type, expires_at)
        return offer

    def _next_task_type(self) -> str:
        open_per_type = {t: 0 for t in self.task_types}
        for offer in self._offers.values():
            open_per_type[offer.task_type] += 1
        n = len(self.task_types)
        order = [self.task_types[(self._next_type + i) % n] for i in range(n)]
        task_type = min(order, key=open_per_type.__getitem__)
        self._next_type = (self.task_types.index(task_type) + 1) % n
        return task_type

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
            deadlines += [offer.expires_at for offer in self._offers.values()]
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
