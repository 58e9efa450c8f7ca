"""The states of a request and of a runner connection in the broker, and their tables.

Every state change of the broker core goes through :data:`REQUEST_TRANSITIONS`
or :data:`RUNNER_TRANSITIONS`. A trigger is the wire ``TYPE`` of the message
that causes the change, or one of the local events named here.
"""

from __future__ import annotations

import enum
from typing import Final

from ..messages import (
    BrokerDrain,
    RequesterTaskCancel,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerTaskAccepted,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskRejected,
)
from ..transitions import Transition, TransitionTable

__all__ = [
    "ACCEPT_TIMEOUT",
    "CLOSE",
    "DISCONNECT",
    "DRAIN",
    "FOREIGN_TASK",
    "IN_FLIGHT",
    "LIVE",
    "MATCH",
    "REQUESTER_GONE",
    "REQUEST_TIMEOUT",
    "REQUEST_TRANSITIONS",
    "RUNNER_GONE",
    "RUNNER_TRANSITIONS",
    "SETTINGS_TIMEOUT",
    "SHUTDOWN_TIMEOUT",
    "TASK_TIMEOUT",
    "WAITING_FOR_A_RUNNER",
    "RequestState",
    "RunnerState",
]


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


# Local triggers of a request.
MATCH: Final = "match"  #: an offer of the request's type was found
ACCEPT_TIMEOUT: Final = "accept-timeout"
REQUEST_TIMEOUT: Final = "request-timeout"
SETTINGS_TIMEOUT: Final = "settings-timeout"
TASK_TIMEOUT: Final = "task-timeout"
SHUTDOWN_TIMEOUT: Final = "shutdown-timeout"  #: draining, past the tasks' deadline
RUNNER_GONE: Final = "runner-gone"
REQUESTER_GONE: Final = "requester-gone"
DRAIN: Final = "drain"

# Local triggers of a runner connection.
DISCONNECT: Final = "disconnect"  #: reported by the server
CLOSE: Final = "close"  #: the core closes it (eviction, unresponsive runner)
FOREIGN_TASK: Final = "foreign-task"  #: it spoke of a task it was not given

_R = RequestState
#: Requests without a task yet.
WAITING_FOR_A_RUNNER: Final = (_R.PENDING, _R.ACCEPTING)
#: Tasks a runner accepted that have not ended.
IN_FLIGHT: Final = (_R.WAITING_FOR_SETTINGS, _R.RUNNING)
#: Every state but the final ones.
LIVE: Final = frozenset((*WAITING_FOR_A_RUNNER, *IN_FLIGHT))


def _each(
    sources: tuple[RequestState, ...], trigger: str, target: RequestState
) -> list[Transition[RequestState]]:
    return [Transition(source, trigger, target) for source in sources]


#: Every legal change of a :class:`RequestState`. Triggers are message types,
#: or local events: ``match``, ``*-timeout``, ``runner-gone``, ``drain``,
#: ``requester-gone``.
REQUEST_TRANSITIONS: Final = TransitionTable[RequestState](
    "broker request",
    [
        Transition(_R.PENDING, MATCH, _R.ACCEPTING),
        Transition(_R.ACCEPTING, RunnerTaskAccepted.TYPE, _R.WAITING_FOR_SETTINGS),
        Transition(_R.ACCEPTING, RunnerTaskRejected.TYPE, _R.PENDING),
        Transition(_R.ACCEPTING, RunnerTaskDeferred.TYPE, _R.PENDING),
        Transition(_R.ACCEPTING, ACCEPT_TIMEOUT, _R.PENDING),
        Transition(_R.ACCEPTING, RUNNER_GONE, _R.PENDING),
        *_each(WAITING_FOR_A_RUNNER, REQUEST_TIMEOUT, _R.EXPIRED),
        *_each(WAITING_FOR_A_RUNNER, DRAIN, _R.EXPIRED),
        Transition(_R.WAITING_FOR_SETTINGS, RequesterTaskSettings.TYPE, _R.RUNNING),
        Transition(_R.WAITING_FOR_SETTINGS, SETTINGS_TIMEOUT, _R.FAILED),
        Transition(_R.RUNNING, RunnerTaskDone.TYPE, _R.DONE),
        *_each(IN_FLIGHT, RunnerTaskError.TYPE, _R.FAILED),
        *_each(IN_FLIGHT, RUNNER_GONE, _R.FAILED),
        Transition(_R.RUNNING, TASK_TIMEOUT, _R.FAILED),
        Transition(_R.RUNNING, SHUTDOWN_TIMEOUT, _R.FAILED),
        *_each((*WAITING_FOR_A_RUNNER, *IN_FLIGHT), RequesterTaskCancel.TYPE, _R.CANCELLED),
        *_each((*WAITING_FOR_A_RUNNER, *IN_FLIGHT), REQUESTER_GONE, _R.CANCELLED),
    ],
)

_C = RunnerState
_OPEN = (_C.CONNECTED, _C.REGISTERED, _C.DRAINING)
#: Every legal change of a :class:`RunnerState`. ``disconnect`` is reported by
#: the server; ``close`` is the core closing the connection itself (eviction,
#: unresponsive runner); ``foreign-task`` closes a registered runner that sent a
#: message about a task it was not given (frames before ``runner:info`` are
#: dropped unread).
RUNNER_TRANSITIONS: Final = TransitionTable[RunnerState](
    "broker runner connection",
    [
        Transition(_C.CONNECTED, RunnerInfo.TYPE, _C.REGISTERED),
        Transition(_C.REGISTERED, BrokerDrain.TYPE, _C.DRAINING),
        *[Transition(state, DISCONNECT, _C.GONE) for state in _OPEN],
        *[Transition(state, CLOSE, _C.GONE) for state in _OPEN],
        *[Transition(state, FOREIGN_TASK, _C.GONE) for state in (_C.REGISTERED, _C.DRAINING)],
    ],
)
