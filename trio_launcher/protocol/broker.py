"""The broker core: offers, pending requests, matching and the task table, sans-IO.

:class:`BrokerCore` reproduces the behaviour of n8n's task broker (reference
section 4, v2.41 semantics without the quirks of section 11). It owns no
sockets, no clock and no tasks: the caller feeds it events with the current
time (float seconds, any monotonic origin) and sends what it returns:

* :meth:`BrokerCore.connect_runner`, :meth:`~BrokerCore.receive_from_runner`,
  :meth:`~BrokerCore.disconnect_runner`: a runner's WebSocket, identified by an
  ``int`` the server chooses;
* :meth:`~BrokerCore.receive_from_requester`, :meth:`~BrokerCore.forget_requester`:
  the in-process requesters, identified by a ``str``;
* :meth:`~BrokerCore.next_deadline`, :meth:`~BrokerCore.advance_time`: timers.
  Timers fire **only** in :meth:`~BrokerCore.advance_time`; a message that
  arrives after a deadline but before the caller advanced time is handled as if
  it had won the race (as in n8n's event loop);
* :meth:`~BrokerCore.drain`: shutdown (4.9).

Every call returns a list of :data:`Output` effects, in the order they must be
carried out: :class:`SendToRunner`, :class:`SendToRequester`, :class:`CloseRunner`.

Design notes:

* One record per request lives from ``requester:taskrequest`` to its end; its
  life (pending, being accepted, waiting for settings, running, ended) is
  :data:`REQUEST_TRANSITIONS`. A runner connection's life is
  :data:`RUNNER_TRANSITIONS`. Every state change goes through those tables.
* Each request ends exactly once: with ``broker:taskdone``,
  ``broker:taskerror`` or ``broker:requestexpired`` to its requester, or
  silently when the requester cancels it or goes away.
* Matching is per task type: a heap of pending requests (arrival order, so a
  rejected request keeps its place) against an insertion-ordered dict of live
  offers. Matching runs whenever a request or an offer arrives and right after
  a reject, a deferral, an accept timeout or a runner loss; after each call no
  task type has both a pending request and a live offer, so only the touched
  type ever needs matching. Expired offers are purged at the start of every
  call, from a heap ordered by expiry; ``validFor == -1`` never expires.
* Timers live in one heap with lazy invalidation and periodic compaction:
  :meth:`~BrokerCore.next_deadline` and :meth:`~BrokerCore.advance_time` are
  O(log n) per timer, and cancelled timers never pile up.
* A runner may speak only of tasks it was given. Each connection remembers
  the ids of its tasks that ended (the last
  :attr:`BrokerTimeouts.remembered_task_ids`). A message about one of those
  (a result that lost the race with a timeout or a cancel, a late answer to an
  acceptance that timed out) is ignored: that race is normal, and closing over
  it would fail the runner's other tasks. A message about any other task id
  (another runner's task, one that never existed, one forgotten long ago)
  closes the connection with 1008 (:data:`FOREIGN_TASK_REASON`) and fails its
  tasks as any disconnect does; the task it named is not touched. A reply
  about a task the runner holds that does not fit the task's state
  (``taskaccepted`` twice, ``taskdone`` before ``taskaccepted``) is ignored.
  An ended id is never handed to the same connection again while remembered,
  so a late message about it cannot land on a new task.
* When a request ends while its offer acceptance is still out (request
  timeout, drain, cancel), the runner gets ``broker:taskcancel`` at once; it
  received the ``taskofferaccept`` first on the same socket, so it can drop
  the task cleanly, and its late reply is ignored.
* Unresponsive runners (4.8): a runner that lets ``max_accept_timeouts``
  acceptances in a row time out (each at least one accept window apart) and
  has no task in flight is closed with 1002. The "silent runner" check on
  request expiry is not implemented.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import attrs

from . import reasons
from .errors import LocalProtocolError, RemoteProtocolError
from .ids import nanoid
from .messages import (
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
    BrokerToRequester,
    BrokerToRunner,
    Message,
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
from .transitions import Transition, TransitionTable

__all__ = [
    "EVICTED_REASON",
    "FOREIGN_TASK_REASON",
    "REQUEST_TRANSITIONS",
    "RUNNER_TRANSITIONS",
    "UNRESPONSIVE_REASON",
    "BrokerCore",
    "BrokerStatistics",
    "BrokerTimeouts",
    "CloseRunner",
    "DisconnectCause",
    "Output",
    "RequestState",
    "RunnerState",
    "SendToRequester",
    "SendToRunner",
]

#: Close reason when a new connection registers under a live runner's id (4.1).
EVICTED_REASON: Final = "Replaced by a new connection with the same runner id"
#: Close reason for a runner that keeps letting acceptances time out (4.8).
UNRESPONSIVE_REASON: Final = "Runner is unresponsive"
#: Close reason (a format string: ``type`` is the message's wire type) for a
#: runner that sent a message about a task it was not given.
FOREIGN_TASK_REASON: Final = "{type} for a task this runner was not given"


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"BrokerTimeouts.{attribute.name} must be > 0, got {value!r}")


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"BrokerTimeouts.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class BrokerTimeouts:
    """The broker's timeouts in seconds, and its limits; defaults are n8n v2.41's."""

    #: A runner must answer ``taskofferaccept`` within this, and the requester
    #: must send ``tasksettings`` within this after ``taskready``
    #: (``N8N_RUNNERS_TASK_ACCEPT_TIMEOUT``).
    accept: float = attrs.field(default=2.0, validator=_positive)
    #: How long a request waits for a runner (``N8N_RUNNERS_TASK_REQUEST_TIMEOUT``).
    request: float = attrs.field(default=60.0, validator=_positive)
    #: From ``broker:tasksettings`` to the end of the task (``N8N_RUNNERS_TASK_TIMEOUT``).
    task: float = attrs.field(default=300.0, validator=_positive)
    #: How many deferrals of one request refresh its request timeout.
    max_deferrals: int = attrs.field(default=3, validator=_not_negative)
    #: Consecutive accept timeouts after which an idle runner is closed as
    #: unresponsive (4.8); 0 never closes.
    max_accept_timeouts: int = attrs.field(default=3, validator=_not_negative)
    #: How many ids of its ended tasks each runner connection remembers: a late
    #: message about one is ignored, one about any other task not given to the
    #: runner closes it (1008).
    remembered_task_ids: int = attrs.field(default=1024, validator=_not_negative)


class DisconnectCause(enum.Enum):
    """Why a runner's connection ended; it picks the error its tasks fail with."""

    CLOSED = "closed"  #: the socket closed (either side)
    HEARTBEAT = "heartbeat"  #: no pong to the broker's ping (4.6)
    EVICTED = "evicted"  #: a new connection registered under the same runner id (4.1)
    PROTOCOL_ERROR = "protocol-error"  #: the runner broke the protocol
    FOREIGN_TASK = "foreign-task"  #: the runner spoke of a task it was not given
    SHUTDOWN = "shutdown"  #: the broker is shutting down
    UNRESPONSIVE = "unresponsive"  #: accept timeouts in a row (4.8)


@attrs.frozen
class SendToRunner:
    """Send ``message`` on runner connection ``connection``."""

    connection: int
    message: BrokerToRunner


@attrs.frozen
class SendToRequester:
    """Deliver ``message`` to requester ``requester``."""

    requester: str
    message: BrokerToRequester


@attrs.frozen
class CloseRunner:
    """Close runner connection ``connection``; the core has already forgotten it."""

    connection: int
    code: int
    reason: str


Output: TypeAlias = SendToRunner | SendToRequester | CloseRunner


@attrs.frozen
class BrokerStatistics:
    """A snapshot of the broker's state, from :meth:`BrokerCore.statistics`."""

    #: Registered runner connections (including draining ones).
    runners: int
    #: Live offers (expired ones are purged on every call).
    offers: int
    #: Requests without a task yet, including those whose acceptance is in progress.
    pending_requests: int
    #: Tasks accepted by a runner and not ended (waiting for settings or running).
    tasks_in_flight: int
    draining: bool
    #: Open connections, registered or not.
    connections: int = 0
    #: Pending requests whose offer acceptance is in progress.
    accepting: int = 0
    offers_by_type: dict[str, int] = attrs.Factory(dict)
    pending_by_type: dict[str, int] = attrs.Factory(dict)
    tasks_by_type: dict[str, int] = attrs.Factory(dict)
    #: Totals since the core was created.
    tasks_assigned: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    requests_expired: int = 0
    requests_cancelled: int = 0


# --- state machines -----------------------------------------------------------


class RequestState(enum.Enum):
    """The life of one request and of the task it becomes."""

    PENDING = enum.auto()  #: waiting for an offer
    ACCEPTING = enum.auto()  #: taskofferaccept sent, waiting for the runner's answer
    WAITING_FOR_SETTINGS = enum.auto()  #: taskready sent, waiting for the requester
    RUNNING = enum.auto()  #: tasksettings sent to the runner
    DONE = enum.auto()
    FAILED = enum.auto()
    EXPIRED = enum.auto()
    CANCELLED = enum.auto()

    # Members are singletons, so identity hashing is exact, and far cheaper than
    # Enum's hash of the name: states key the core's counters and tables.
    __hash__ = object.__hash__


class RunnerState(enum.Enum):
    """The life of one runner connection."""

    CONNECTED = enum.auto()  #: inforequest sent, runner:info not yet received
    REGISTERED = enum.auto()
    DRAINING = enum.auto()  #: broker:drain sent
    GONE = enum.auto()


def _each(
    sources: tuple[RequestState, ...], trigger: str, target: RequestState
) -> list[Transition[RequestState]]:
    return [Transition(source, trigger, target) for source in sources]


_R = RequestState
_WAITING_FOR_A_RUNNER = (_R.PENDING, _R.ACCEPTING)
_IN_FLIGHT = (_R.WAITING_FOR_SETTINGS, _R.RUNNING)
_LIVE = frozenset((*_WAITING_FOR_A_RUNNER, *_IN_FLIGHT))

#: Every legal change of a :class:`RequestState`. Triggers are message types,
#: or local events: ``match``, ``*-timeout``, ``runner-gone``, ``drain``,
#: ``requester-gone``.
REQUEST_TRANSITIONS: Final = TransitionTable[RequestState](
    "broker request",
    [
        Transition(_R.PENDING, "match", _R.ACCEPTING),
        Transition(_R.ACCEPTING, "runner:taskaccepted", _R.WAITING_FOR_SETTINGS),
        Transition(_R.ACCEPTING, "runner:taskrejected", _R.PENDING),
        Transition(_R.ACCEPTING, "runner:taskdeferred", _R.PENDING),
        Transition(_R.ACCEPTING, "accept-timeout", _R.PENDING),
        Transition(_R.ACCEPTING, "runner-gone", _R.PENDING),
        *_each(_WAITING_FOR_A_RUNNER, "request-timeout", _R.EXPIRED),
        *_each(_WAITING_FOR_A_RUNNER, "drain", _R.EXPIRED),
        Transition(_R.WAITING_FOR_SETTINGS, "requester:tasksettings", _R.RUNNING),
        Transition(_R.WAITING_FOR_SETTINGS, "settings-timeout", _R.FAILED),
        Transition(_R.RUNNING, "runner:taskdone", _R.DONE),
        *_each(_IN_FLIGHT, "runner:taskerror", _R.FAILED),
        *_each(_IN_FLIGHT, "runner-gone", _R.FAILED),
        Transition(_R.RUNNING, "task-timeout", _R.FAILED),
        Transition(_R.RUNNING, "shutdown-timeout", _R.FAILED),
        *_each((*_WAITING_FOR_A_RUNNER, *_IN_FLIGHT), "requester:taskcancel", _R.CANCELLED),
        *_each((*_WAITING_FOR_A_RUNNER, *_IN_FLIGHT), "requester-gone", _R.CANCELLED),
    ],
)

_C = RunnerState
#: Every legal change of a :class:`RunnerState`. ``disconnect`` is reported by
#: the server; ``close`` is the core closing the connection itself (eviction,
#: unresponsive runner); ``foreign-task`` closes a registered runner that sent a
#: message about a task it was not given (frames before ``runner:info`` are
#: dropped unread).
RUNNER_TRANSITIONS: Final = TransitionTable[RunnerState](
    "broker runner connection",
    [
        Transition(_C.CONNECTED, "runner:info", _C.REGISTERED),
        Transition(_C.REGISTERED, "broker:drain", _C.DRAINING),
        *[Transition(s, "disconnect", _C.GONE) for s in (_C.CONNECTED, _C.REGISTERED, _C.DRAINING)],
        *[Transition(s, "close", _C.GONE) for s in (_C.CONNECTED, _C.REGISTERED, _C.DRAINING)],
        *[Transition(s, "foreign-task", _C.GONE) for s in (_C.REGISTERED, _C.DRAINING)],
    ],
)


# --- internal records -------------------------------------------------------------


@attrs.define(eq=False)
class _Runner:
    connection: int
    runner_id: str
    state: RunnerState = _C.CONNECTED
    name: str = ""
    types: tuple[str, ...] = ()
    offers: dict[int, _Offer] = attrs.Factory(dict)
    jobs: dict[str, _Job] = attrs.Factory(dict)  # by task id, from match to end
    ended: dict[str, None] = attrs.Factory(dict)  # ids of its ended tasks, oldest first
    accept_timeouts: int = 0
    last_accept_timeout: float = -math.inf


@attrs.define(eq=False)
class _Offer:
    key: int
    offer_id: str
    task_type: str
    valid_until: float
    runner: _Runner
    live: bool = True


@attrs.define(eq=False)
class _Job:
    """A request, and later its task."""

    requester: str
    request_id: str
    task_type: str
    seq: int
    state: RequestState = _R.PENDING
    task_id: str | None = None
    runner: _Runner | None = None
    deferrals: int = 0
    request_timer: int | None = None
    phase_timer: int | None = None  # accept, settings, task or shutdown timer
    phase_deadline: float = math.inf


class _TimerKind(enum.Enum):
    REQUEST = enum.auto()
    ACCEPT = enum.auto()
    SETTINGS = enum.auto()
    TASK = enum.auto()
    SHUTDOWN = enum.auto()


class _Timers:
    """A heap of ``(deadline, handle)``; cancelled handles are skipped, then compacted away."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, tuple[_TimerKind, _Job]] = {}
        self._handles = itertools.count()

    def arm(self, deadline: float, kind: _TimerKind, job: _Job) -> int:
        handle = next(self._handles)
        self._live[handle] = (kind, job)
        heapq.heappush(self._heap, (deadline, handle))
        if len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [entry for entry in self._heap if entry[1] in self._live]
            heapq.heapify(self._heap)
        return handle

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self._live.pop(handle, None)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][1] not in self._live:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> tuple[_TimerKind, _Job] | None:
        deadline = self.next_deadline()
        if deadline is None or deadline > now:
            return None
        _, handle = heapq.heappop(self._heap)
        return self._live.pop(handle)


def _default_task_id() -> str:
    return nanoid(8)


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _error(name: str, message: str, description: str) -> dict[str, str]:
    """A broker-made error object; ``name`` is n8n's error class, for requesters to branch on."""
    return {"name": name, "message": message, "description": description}


_DISCONNECT_DETAIL: Final = {
    DisconnectCause.CLOSED: "its connection closed",
    DisconnectCause.EVICTED: "a new connection with the same runner id replaced it",
    DisconnectCause.PROTOCOL_ERROR: "it broke the broker protocol",
    DisconnectCause.FOREIGN_TASK: "it sent a message about a task it was not given",
    DisconnectCause.UNRESPONSIVE: "it stopped answering task offers",
}


def _disconnect_error(cause: DisconnectCause) -> dict[str, str]:
    if cause is DisconnectCause.HEARTBEAT:
        return _error(
            "TaskRunnerFailedHeartbeatError",
            "Task execution aborted because runner became unresponsive",
            "The task runner stopped answering the broker's heartbeat, so the broker dropped it. "
            "Check that the runner is not overloaded or stuck, then execute the node again.",
        )
    if cause is DisconnectCause.SHUTDOWN:
        return _error(
            "TaskRunnerShutdownError",
            reasons.BROKER_SHUTTING_DOWN,
            "The broker shut down before the task finished. Execute the node again later.",
        )
    return _error(
        "TaskRunnerDisconnectedError",
        "Node execution failed",
        f"The task runner disconnected while running this task ({_DISCONNECT_DETAIL[cause]}). "
        "A runner can run out of memory or be restarted. Execute the node again; if this "
        "keeps happening, process fewer items at a time or give the runner more memory.",
    )


#: What the broker passes on while a task is in flight: incoming type -> outgoing message.
_TO_REQUESTER: Final[dict[type[Any], Callable[[Any], BrokerToRequester]]] = {
    RunnerRpc: lambda m: BrokerRpc(m.call_id, m.task_id, m.name, m.params),
    RunnerTaskDataRequest: lambda m: BrokerTaskDataRequest(
        m.task_id, m.request_id, m.request_params
    ),
    RunnerNodeTypesRequest: lambda m: BrokerNodeTypesRequest(
        m.task_id, m.request_id, m.request_params
    ),
}
_TO_RUNNER: Final[dict[type[Any], Callable[[Any], BrokerToRunner]]] = {
    RequesterTaskDataResponse: lambda m: BrokerTaskDataResponse(m.task_id, m.request_id, m.data),
    RequesterNodeTypesResponse: lambda m: BrokerNodeTypes(m.task_id, m.request_id, m.node_types),
    RequesterRpcResponse: lambda m: BrokerRpcResponse(m.call_id, m.task_id, m.status, m.data),
}

#: Runner messages about one task: the runner must have been given it.
_ABOUT_A_TASK: Final = (
    RunnerTaskAccepted,
    RunnerTaskRejected,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerRpc,
    RunnerTaskDataRequest,
    RunnerNodeTypesRequest,
)

_INFO_REQUEST: Final = BrokerInfoRequest()
_REGISTERED: Final = BrokerRunnerRegistered()
_DRAIN: Final = BrokerDrain()

_RunnerHandler: TypeAlias = Callable[[_Runner, Any, float, list[Output]], None]
_RequesterHandler: TypeAlias = Callable[[str, Any, float, list[Output]], None]


# --- the core -----------------------------------------------------------------------


class BrokerCore:
    """The broker's state machine: feed it events and the time, carry out what it returns.

    ``new_task_id`` makes task ids (n8n: ``nanoid(8)``); an id still in use is
    never handed out twice.
    """

    def __init__(
        self,
        timeouts: BrokerTimeouts = BrokerTimeouts(),
        *,
        new_task_id: Callable[[], str] = _default_task_id,
    ) -> None:
        self.timeouts: Final = timeouts
        self._new_task_id = new_task_id
        self._runners: dict[int, _Runner] = {}
        self._by_runner_id: dict[str, dict[int, _Runner]] = {}
        self._offers: dict[str, OrderedDict[int, _Offer]] = {}  # by type, FIFO
        self._offer_count = 0
        self._offer_keys = itertools.count()
        self._offer_expiry: list[tuple[float, int, _Offer]] = []
        self._pending: dict[str, list[tuple[int, _Job]]] = {}  # by type, heap by arrival
        self._requests: dict[str, dict[str, _Job]] = {}  # requester -> request id -> job
        self._tasks: dict[str, _Job] = {}  # task id -> job
        self._timers = _Timers()
        self._seq = itertools.count()
        self._counts: Counter[tuple[RequestState, str]] = Counter()
        self._totals: Counter[RequestState] = Counter()
        self._assigned = 0
        self._draining = False
        self._task_cap = math.inf
        self._runner_handlers: dict[type[Any], _RunnerHandler] = {
            RunnerInfo: self._on_info,
            RunnerTaskOffer: self._on_offer,
            RunnerTaskAccepted: self._on_accepted,
            RunnerTaskRejected: self._on_rejected,
            RunnerTaskDeferred: self._on_deferred,
            RunnerTaskDone: self._on_done,
            RunnerTaskError: self._on_error,
            **dict.fromkeys(_TO_REQUESTER, self._forward_to_requester),
        }
        self._requester_handlers: dict[type[Any], _RequesterHandler] = {
            RequesterTaskRequest: self._on_request,
            RequesterTaskSettings: self._on_settings,
            RequesterTaskCancel: self._on_cancel,
            **dict.fromkeys(_TO_RUNNER, self._forward_to_runner),
        }

    # --- public API: runners ----------------------------------------------------------

    def connect_runner(self, connection: int, runner_id: str, now: float) -> list[Output]:
        """A runner's WebSocket opened; returns the ``broker:inforequest`` to send.

        ``connection`` is any int unique among open connections. A live
        connection with the same ``runner_id`` is evicted only when this one
        sends ``runner:info`` (4.1).
        """
        if connection in self._runners:
            raise LocalProtocolError(f"runner connection {connection} is already open")
        self._purge_offers(now)
        runner = _Runner(connection, runner_id)
        self._runners[connection] = runner
        self._by_runner_id.setdefault(runner_id, {})[connection] = runner
        return [SendToRunner(connection, _INFO_REQUEST)]

    def receive_from_runner(self, connection: int, message: Message, now: float) -> list[Output]:
        """Handle one decoded frame from a runner.

        Frames before ``runner:info``, frames from unknown (closed, evicted)
        connections and :class:`~.messages.UnknownMessage` are dropped, as are
        messages about the runner's own tasks that ended. A message about a
        task the runner was not given returns :class:`CloseRunner` (1008),
        then the failures of the runner's tasks; the core has forgotten the
        connection by then. A message that is not a runner-to-broker type
        raises :class:`RemoteProtocolError` before any state changes; the
        caller then closes the connection and calls :meth:`disconnect_runner`.
        """
        handler = self._runner_handlers.get(type(message))
        if handler is None and not isinstance(message, UnknownMessage):
            name = getattr(message, "TYPE", type(message).__name__)
            raise RemoteProtocolError(f"{name} is not a message a runner may send")
        self._purge_offers(now)
        runner = self._runners.get(connection)
        if handler is None or runner is None:
            return []
        if (runner.state is _C.CONNECTED) != (type(message) is RunnerInfo):
            return []  # before runner:info, or a second runner:info
        out: list[Output] = []
        if isinstance(message, _ABOUT_A_TASK) and not self._was_given(runner, message.task_id):
            self._close_for_foreign_task(runner, message.TYPE, now, out)
        else:
            handler(runner, message, now, out)
        return out

    def disconnect_runner(
        self, connection: int, now: float, *, cause: DisconnectCause = DisconnectCause.CLOSED
    ) -> list[Output]:
        """The runner's connection is gone: fail its tasks, re-match its pending acceptances.

        Unknown connections (already closed or evicted) give ``[]``.
        """
        self._purge_offers(now)
        runner = self._runners.get(connection)
        if runner is None:
            return []
        out: list[Output] = []
        self._remove_runner(runner, "disconnect", cause, now, out)
        return out

    # --- public API: requesters ----------------------------------------------------------

    def receive_from_requester(self, requester: str, message: Message, now: float) -> list[Output]:
        """Handle one message from the in-process requester ``requester``.

        Messages about unknown or ended tasks are ignored (they race with
        timeouts). Misuse raises :class:`LocalProtocolError`: a message that is
        not a requester type, a ``requestId`` that is still live, a task of
        another requester, settings sent twice. ``requester:taskcancel`` also
        accepts the ``requestId`` of a request that has no task yet.
        """
        handler = self._requester_handlers.get(type(message))
        if handler is None:
            name = getattr(message, "TYPE", type(message).__name__)
            raise LocalProtocolError(f"{name} is not a message a requester may send")
        self._purge_offers(now)
        out: list[Output] = []
        handler(requester, message, now, out)
        return out

    def forget_requester(self, requester: str, now: float) -> list[Output]:
        """The requester went away: drop its requests and cancel its tasks on their runners."""
        self._purge_offers(now)
        out: list[Output] = []
        for job in list(self._requests.get(requester, {}).values()):
            self._cancel(job, reasons.CANCELLED_BY_USER, "requester-gone", out)
        return out

    # --- public API: time and shutdown ----------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`advance_time` next has something to do; ``None`` if no timer is armed."""
        return self._timers.next_deadline()

    def advance_time(self, now: float) -> list[Output]:
        """Fire every timer due at or before ``now``, in deadline order."""
        self._purge_offers(now)
        out: list[Output] = []
        while (due := self._timers.pop_due(now)) is not None:
            kind, job = due
            self._fire(kind, job, now, out)
        return out

    def drain(self, now: float, *, task_deadline: float | None = None) -> list[Output]:
        """Start draining (4.9): ``broker:drain`` to every registered runner, requests expire.

        Requests without a task expire with ``"draining"``, and so will every
        new one; offers are dropped and no more are taken. Tasks in flight go
        on; with ``task_deadline`` (n8n: ``now + 0.8 x graceful shutdown
        timeout``) none of them may run past it, and those that would are
        cancelled then with the shutdown reason. Calling it again does nothing.
        """
        self._purge_offers(now)
        if self._draining:
            return []
        self._draining = True
        out: list[Output] = []
        for runner in self._runners.values():
            if runner.state is _C.REGISTERED:
                self._drain_runner(runner, out)
        for offer in [o for offers in self._offers.values() for o in offers.values()]:
            self._drop_offer(offer)
        jobs = [j for by_id in self._requests.values() for j in by_id.values()]
        for job in sorted(jobs, key=lambda j: j.seq):
            if job.state not in _WAITING_FOR_A_RUNNER:
                continue
            self._expire(job, reasons.EXPIRED_DRAINING, "drain", reasons.BROKER_SHUTTING_DOWN, out)
        if task_deadline is not None:
            self._cap_tasks(task_deadline)
        return out

    @property
    def tasks_in_flight(self) -> int:
        """Tasks accepted by a runner and not yet ended (cheap: no snapshot is built)."""
        return sum(n for (state, _), n in self._counts.items() if state in _IN_FLIGHT)

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` was called."""
        return self._draining

    # --- public API: queries -----------------------------------------------------------

    def statistics(self) -> BrokerStatistics:
        """A snapshot of the counts (as of the last call that passed the time)."""
        by_state: Counter[RequestState] = Counter()
        by_type: dict[RequestState, Counter[str]] = {}
        for (state, task_type), count in self._counts.items():
            if count:
                by_state[state] += count
                by_type.setdefault(state, Counter())[task_type] += count
        runners = sum(r.state is not _C.CONNECTED for r in self._runners.values())
        empty: Counter[str] = Counter()
        pending = by_type.get(_R.PENDING, empty) + by_type.get(_R.ACCEPTING, empty)
        in_flight = by_type.get(_R.WAITING_FOR_SETTINGS, empty) + by_type.get(_R.RUNNING, empty)
        return BrokerStatistics(
            runners=runners,
            offers=self._offer_count,
            pending_requests=by_state[_R.PENDING] + by_state[_R.ACCEPTING],
            tasks_in_flight=by_state[_R.WAITING_FOR_SETTINGS] + by_state[_R.RUNNING],
            draining=self._draining,
            connections=len(self._runners),
            accepting=by_state[_R.ACCEPTING],
            offers_by_type={t: len(o) for t, o in self._offers.items() if o},
            pending_by_type=dict(pending),
            tasks_by_type=dict(in_flight),
            tasks_assigned=self._assigned,
            tasks_done=self._totals[_R.DONE],
            tasks_failed=self._totals[_R.FAILED],
            requests_expired=self._totals[_R.EXPIRED],
            requests_cancelled=self._totals[_R.CANCELLED],
        )

    def connections(self) -> tuple[int, ...]:
        """Every open runner connection, registered or not."""
        return tuple(self._runners)

    def runner_state(self, connection: int) -> RunnerState | None:
        """The state of an open connection; ``None`` if unknown or gone."""
        runner = self._runners.get(connection)
        return None if runner is None else runner.state

    def runner_id(self, connection: int) -> str | None:
        """The runner id an open connection was opened with."""
        runner = self._runners.get(connection)
        return None if runner is None else runner.runner_id

    def runner_task_ids(self, connection: int) -> frozenset[str]:
        """Task ids held by a runner: offered (acceptance in progress), waiting or running."""
        runner = self._runners.get(connection)
        return frozenset() if runner is None else frozenset(runner.jobs)

    def task_state(self, task_id: str) -> RequestState | None:
        """The state of a live task; ``None`` once it ended (or never existed)."""
        job = self._tasks.get(task_id)
        return None if job is None else job.state

    def task_connection(self, task_id: str) -> int | None:
        """The runner connection holding a live task."""
        job = self._tasks.get(task_id)
        return None if job is None or job.runner is None else job.runner.connection

    # --- runner messages ---------------------------------------------------------

    def _on_info(self, runner: _Runner, msg: RunnerInfo, now: float, out: list[Output]) -> None:
        for other in list(self._by_runner_id[runner.runner_id].values()):
            if other is not runner:
                out.append(CloseRunner(other.connection, reasons.CLOSE_NORMAL, EVICTED_REASON))
                self._remove_runner(other, "close", DisconnectCause.EVICTED, now, out)
        runner.state = RUNNER_TRANSITIONS.advance(runner.state, "runner:info")
        runner.name, runner.types = msg.name, msg.types
        out.append(SendToRunner(runner.connection, _REGISTERED))
        if self._draining:
            self._drain_runner(runner, out)

    def _on_offer(
        self, runner: _Runner, msg: RunnerTaskOffer, now: float, out: list[Output]
    ) -> None:
        if runner.state is not _C.REGISTERED or self._draining:
            return
        valid_until = math.inf if msg.valid_for == -1 else now + msg.valid_for / 1000
        if valid_until < now:
            return
        offer = _Offer(next(self._offer_keys), msg.offer_id, msg.task_type, valid_until, runner)
        self._offers.setdefault(msg.task_type, OrderedDict())[offer.key] = offer
        runner.offers[offer.key] = offer
        self._offer_count += 1
        if valid_until != math.inf:
            self._push_offer_expiry(offer)
        self._settle(msg.task_type, now, out)

    def _on_accepted(
        self, runner: _Runner, msg: RunnerTaskAccepted, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, "runner:taskaccepted")
        if job is None:
            return
        self._advance(job, "runner:taskaccepted")
        runner.accept_timeouts = 0
        self._assigned += 1
        self._timers.cancel(job.request_timer)
        job.request_timer = None
        self._arm_phase(job, now + self.timeouts.accept, _TimerKind.SETTINGS)
        out.append(SendToRequester(job.requester, BrokerTaskReady(job.request_id, msg.task_id)))

    def _on_rejected(
        self, runner: _Runner, msg: RunnerTaskRejected, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, "runner:taskrejected")
        if job is not None:
            runner.accept_timeouts = 0
            self._back_to_pending(job, "runner:taskrejected", now, out)

    def _on_deferred(
        self, runner: _Runner, msg: RunnerTaskDeferred, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, "runner:taskdeferred")
        if job is None:
            return
        runner.accept_timeouts = 0
        if job.deferrals < self.timeouts.max_deferrals:
            job.deferrals += 1
            self._arm_request_timer(job, now)
        self._back_to_pending(job, "runner:taskdeferred", now, out)

    def _on_done(self, runner: _Runner, msg: RunnerTaskDone, now: float, out: list[Output]) -> None:
        job = self._runner_job(runner, msg.task_id, "runner:taskdone")
        if job is not None:
            out.append(SendToRequester(job.requester, BrokerTaskDone(msg.task_id, msg.data)))
            self._finish(job, "runner:taskdone")

    def _on_error(
        self, runner: _Runner, msg: RunnerTaskError, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, "runner:taskerror")
        if job is not None:
            out.append(SendToRequester(job.requester, BrokerTaskError(msg.task_id, msg.error)))
            self._finish(job, "runner:taskerror")

    @staticmethod
    def _was_given(runner: _Runner, task_id: str) -> bool:
        """Whether ``task_id`` is, or (as far as remembered) was, one of the runner's tasks."""
        return task_id in runner.jobs or task_id in runner.ended

    def _close_for_foreign_task(
        self, runner: _Runner, message_type: str, now: float, out: list[Output]
    ) -> None:
        """Close a runner that spoke of a task it was not given; that task goes on."""
        reason = FOREIGN_TASK_REASON.format(type=message_type)
        out.append(CloseRunner(runner.connection, reasons.CLOSE_POLICY_VIOLATION, reason))
        self._remove_runner(runner, "foreign-task", DisconnectCause.FOREIGN_TASK, now, out)

    def _runner_job(self, runner: _Runner, task_id: str, trigger: str) -> _Job | None:
        """The runner's own task ``task_id`` if ``trigger`` fits its state, else ``None``."""
        job = runner.jobs.get(task_id)
        if job is None or not REQUEST_TRANSITIONS.allows(job.state, trigger):
            return None
        return job

    def _forward_to_requester(
        self, runner: _Runner, msg: Any, now: float, out: list[Output]
    ) -> None:
        """RPCs and data requests of a task in flight go to its requester."""
        job = runner.jobs.get(msg.task_id)
        if job is not None and job.state in _IN_FLIGHT:
            out.append(SendToRequester(job.requester, _TO_REQUESTER[type(msg)](msg)))

    # --- requester messages ----------------------------------------------------------

    def _on_request(
        self, requester: str, msg: RequesterTaskRequest, now: float, out: list[Output]
    ) -> None:
        jobs = self._requests.get(requester)
        if jobs is not None and msg.request_id in jobs:
            raise LocalProtocolError(f"request {msg.request_id!r} is still live")
        if self._draining:
            expired = BrokerRequestExpired(msg.request_id, reasons.EXPIRED_DRAINING)
            out.append(SendToRequester(requester, expired))
            self._totals[_R.EXPIRED] += 1
            return
        job = _Job(requester, msg.request_id, msg.task_type, next(self._seq))
        self._requests.setdefault(requester, {})[msg.request_id] = job
        self._counts[(_R.PENDING, job.task_type)] += 1
        self._arm_request_timer(job, now)
        self._enqueue(job)
        self._settle(job.task_type, now, out)

    def _on_settings(
        self, requester: str, msg: RequesterTaskSettings, now: float, out: list[Output]
    ) -> None:
        job = self._requester_task(requester, msg.task_id)
        if job is None:
            return
        self._advance(job, "requester:tasksettings")
        deadline = now + self.timeouts.task
        if deadline > self._task_cap:
            self._arm_phase(job, self._task_cap, _TimerKind.SHUTDOWN)
        else:
            self._arm_phase(job, deadline, _TimerKind.TASK)
        settings = BrokerTaskSettings(msg.task_id, msg.settings)
        out.append(SendToRunner(self._connection_of(job), settings))

    def _on_cancel(
        self, requester: str, msg: RequesterTaskCancel, now: float, out: list[Output]
    ) -> None:
        job = self._requester_task(requester, msg.task_id)
        if job is None:
            job = self._requests.get(requester, {}).get(msg.task_id)
        if job is not None:
            self._cancel(job, msg.reason, "requester:taskcancel", out)

    def _forward_to_runner(self, requester: str, msg: Any, now: float, out: list[Output]) -> None:
        """Answers to a task's RPCs and data requests go to its runner."""
        job = self._requester_task(requester, msg.task_id)
        if job is not None and job.state in _IN_FLIGHT:
            out.append(SendToRunner(self._connection_of(job), _TO_RUNNER[type(msg)](msg)))

    def _requester_task(self, requester: str, task_id: str) -> _Job | None:
        """The live task ``task_id``; another requester's task is a local bug."""
        job = self._tasks.get(task_id)
        if job is not None and job.requester != requester:
            raise LocalProtocolError(f"task {task_id!r} belongs to another requester")
        return job

    # --- timers ----------------------------------------------------------------

    def _fire(self, kind: _TimerKind, job: _Job, now: float, out: list[Output]) -> None:
        if kind is _TimerKind.REQUEST:
            job.request_timer = None
            self._expire(
                job, reasons.EXPIRED_TIMEOUT, "request-timeout", reasons.REQUEST_EXPIRED, out
            )
            return
        job.phase_timer = None
        if kind is _TimerKind.ACCEPT:
            self._accept_timed_out(job, now, out)
        elif kind is _TimerKind.SETTINGS:
            error = _error(
                "TaskRunnerTimeoutError",
                reasons.REQUESTER_TOO_SLOW,
                f"The task's settings did not arrive within {_seconds(self.timeouts.accept)} "
                "seconds of the task being ready, so the broker cancelled it.",
            )
            self._abort(job, reasons.REQUESTER_TOO_SLOW, error, "settings-timeout", out)
        elif kind is _TimerKind.TASK:
            seconds = _seconds(self.timeouts.task)
            error = _error(
                "TaskRunnerExecutionTimeoutError",
                f"Task execution timed out after {seconds} seconds",
                f"The task ran longer than the broker's task timeout ({seconds} s, "
                "N8N_RUNNERS_TASK_TIMEOUT). Make the code do less per run, or raise the timeout.",
            )
            self._abort(job, reasons.TASK_TIMED_OUT, error, "task-timeout", out)
        else:
            error = _error(
                "TaskRunnerShutdownError",
                reasons.BROKER_SHUTTING_DOWN,
                "The broker is shutting down and the task did not finish within its grace period.",
            )
            self._abort(job, reasons.BROKER_SHUTTING_DOWN, error, "shutdown-timeout", out)

    def _accept_timed_out(self, job: _Job, now: float, out: list[Output]) -> None:
        """4.3 step 6 (v2.41): cancel, drop the runner's offers, refresh, match again."""
        runner, task_id = job.runner, job.task_id
        assert runner is not None and task_id is not None
        cancel = BrokerTaskCancel(task_id, reasons.ACCEPT_WINDOW_ELAPSED)
        out.append(SendToRunner(runner.connection, cancel))
        for offer in list(runner.offers.values()):
            self._drop_offer(offer)
        self._arm_request_timer(job, now)
        self._back_to_pending(job, "accept-timeout", now, out)
        if now - runner.last_accept_timeout >= self.timeouts.accept:
            runner.accept_timeouts += 1
            runner.last_accept_timeout = now
        limit = self.timeouts.max_accept_timeouts
        if limit and runner.accept_timeouts >= limit and not self._has_tasks_in_flight(runner):
            code = reasons.CLOSE_PROTOCOL_ERROR
            out.append(CloseRunner(runner.connection, code, UNRESPONSIVE_REASON))
            self._remove_runner(runner, "close", DisconnectCause.UNRESPONSIVE, now, out)

    @staticmethod
    def _has_tasks_in_flight(runner: _Runner) -> bool:
        return any(job.state in _IN_FLIGHT for job in runner.jobs.values())

    def _arm_request_timer(self, job: _Job, now: float) -> None:
        self._timers.cancel(job.request_timer)
        job.request_timer = self._timers.arm(now + self.timeouts.request, _TimerKind.REQUEST, job)

    def _arm_phase(self, job: _Job, deadline: float, kind: _TimerKind) -> None:
        self._timers.cancel(job.phase_timer)
        job.phase_timer = self._timers.arm(deadline, kind, job)
        job.phase_deadline = deadline

    def _cap_tasks(self, deadline: float) -> None:
        self._task_cap = deadline
        for job in self._tasks.values():
            if job.state is _R.RUNNING and job.phase_deadline > deadline:
                self._arm_phase(job, deadline, _TimerKind.SHUTDOWN)

    # --- matching -----------------------------------------------------------------

    def _settle(self, task_type: str, now: float, out: list[Output]) -> None:
        """Match this type's pending requests (oldest first) with its offers (oldest first)."""
        if self._draining:
            return
        offers = self._offers.get(task_type)
        queue = self._pending.get(task_type)
        while offers and queue:
            _, job = heapq.heappop(queue)
            if job.state is not _R.PENDING:
                continue  # ended while queued
            offer = next(iter(offers.values()))
            self._drop_offer(offer)
            self._start_acceptance(job, offer, now, out)

    def _start_acceptance(self, job: _Job, offer: _Offer, now: float, out: list[Output]) -> None:
        self._advance(job, "match")
        task_id = self._new_task_id()
        while task_id in self._tasks or task_id in offer.runner.ended:
            task_id = self._new_task_id()
        job.task_id, job.runner = task_id, offer.runner
        self._tasks[task_id] = job
        offer.runner.jobs[task_id] = job
        self._arm_phase(job, now + self.timeouts.accept, _TimerKind.ACCEPT)
        accept = BrokerTaskOfferAccept(task_id, offer.offer_id)
        out.append(SendToRunner(offer.runner.connection, accept))

    def _enqueue(self, job: _Job) -> None:
        queue = self._pending.setdefault(job.task_type, [])
        heapq.heappush(queue, (job.seq, job))
        if len(queue) > 2 * self._counts[(_R.PENDING, job.task_type)] + 64:
            queue[:] = [entry for entry in queue if entry[1].state is _R.PENDING]
            heapq.heapify(queue)

    def _back_to_pending(self, job: _Job, trigger: str, now: float, out: list[Output]) -> None:
        self._advance(job, trigger)
        self._release_task(job)
        self._enqueue(job)
        self._settle(job.task_type, now, out)

    # --- offers ---------------------------------------------------------------

    def _push_offer_expiry(self, offer: _Offer) -> None:
        heap = self._offer_expiry
        heapq.heappush(heap, (offer.valid_until, offer.key, offer))
        if len(heap) > 2 * self._offer_count + 64:
            heap[:] = [entry for entry in heap if entry[2].live]
            heapq.heapify(heap)

    def _purge_offers(self, now: float) -> None:
        """Forget every offer whose validity ended before ``now``."""
        heap = self._offer_expiry
        while heap and heap[0][0] < now:
            _, _, offer = heapq.heappop(heap)
            if offer.live:
                self._drop_offer(offer)

    def _drop_offer(self, offer: _Offer) -> None:
        offer.live = False
        del self._offers[offer.task_type][offer.key]
        del offer.runner.offers[offer.key]
        self._offer_count -= 1

    # --- runners --------------------------------------------------------------------

    def _drain_runner(self, runner: _Runner, out: list[Output]) -> None:
        runner.state = RUNNER_TRANSITIONS.advance(runner.state, "broker:drain")
        out.append(SendToRunner(runner.connection, _DRAIN))

    def _remove_runner(
        self, runner: _Runner, trigger: str, cause: DisconnectCause, now: float, out: list[Output]
    ) -> None:
        """4.7: deregister, drop offers, fail tasks in flight, re-match acceptances."""
        runner.state = RUNNER_TRANSITIONS.advance(runner.state, trigger)
        del self._runners[runner.connection]
        same_id = self._by_runner_id[runner.runner_id]
        del same_id[runner.connection]
        if not same_id:
            del self._by_runner_id[runner.runner_id]
        for offer in list(runner.offers.values()):
            self._drop_offer(offer)
        retry: dict[str, None] = {}
        for job in list(runner.jobs.values()):
            if job.state is _R.ACCEPTING:
                self._advance(job, "runner-gone")
                self._release_task(job)
                self._enqueue(job)
                retry[job.task_type] = None
            else:
                assert job.task_id is not None
                error = BrokerTaskError(job.task_id, _disconnect_error(cause))
                out.append(SendToRequester(job.requester, error))
                self._finish(job, "runner-gone")
        for task_type in retry:
            self._settle(task_type, now, out)

    # --- request and task ends ---------------------------------------------------------

    def _advance(self, job: _Job, trigger: str) -> None:
        """The one place a request changes state (and the per-state counts follow)."""
        new = REQUEST_TRANSITIONS.advance(job.state, trigger)
        self._counts[(job.state, job.task_type)] -= 1
        if new in _LIVE:
            self._counts[(new, job.task_type)] += 1
        else:
            self._totals[new] += 1
        job.state = new

    def _release_task(self, job: _Job) -> None:
        """Detach the job from its task id and runner (the task id is discarded)."""
        self._timers.cancel(job.phase_timer)
        job.phase_timer = None
        if job.task_id is not None:
            del self._tasks[job.task_id]
            if job.runner is not None:
                del job.runner.jobs[job.task_id]
                self._remember_ended(job.runner, job.task_id)
        job.task_id, job.runner = None, None

    def _remember_ended(self, runner: _Runner, task_id: str) -> None:
        """Keep ``task_id`` among the runner's ended tasks, forgetting the oldest past the limit."""
        ended = runner.ended
        ended[task_id] = None
        if len(ended) > self.timeouts.remembered_task_ids:
            del ended[next(iter(ended))]

    def _finish(self, job: _Job, trigger: str) -> None:
        """End the request for good: ``trigger`` must lead to a final state."""
        self._advance(job, trigger)
        self._timers.cancel(job.request_timer)
        job.request_timer = None
        self._release_task(job)
        jobs = self._requests[job.requester]
        del jobs[job.request_id]
        if not jobs:
            del self._requests[job.requester]

    def _connection_of(self, job: _Job) -> int:
        assert job.runner is not None
        return job.runner.connection

    def _cancel_on_runner(self, job: _Job, reason: str, out: list[Output]) -> None:
        if job.task_id is not None and job.runner is not None:
            out.append(SendToRunner(job.runner.connection, BrokerTaskCancel(job.task_id, reason)))

    def _cancel(self, job: _Job, reason: str, trigger: str, out: list[Output]) -> None:
        """The requester gave up: tell the runner, if any; the requester hears nothing."""
        self._cancel_on_runner(job, reason, out)
        self._finish(job, trigger)

    def _expire(
        self, job: _Job, reason: str, trigger: str, cancel_reason: str, out: list[Output]
    ) -> None:
        """A request without a task expires; an acceptance in progress is cancelled."""
        self._cancel_on_runner(job, cancel_reason, out)
        out.append(SendToRequester(job.requester, BrokerRequestExpired(job.request_id, reason)))
        self._finish(job, trigger)

    def _abort(
        self, job: _Job, reason: str, error: dict[str, str], trigger: str, out: list[Output]
    ) -> None:
        """The broker ends a task: cancel it on the runner and fail it to the requester."""
        assert job.task_id is not None
        self._cancel_on_runner(job, reason, out)
        out.append(SendToRequester(job.requester, BrokerTaskError(job.task_id, error)))
        self._finish(job, trigger)
