"""The states of a runner's broker connection and of each task it holds, and their tables."""

from __future__ import annotations

import enum
from typing import Final

from ..messages import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerRunnerRegistered,
    BrokerTaskCancel,
    BrokerTaskSettings,
)
from ..transitions import Transition, TransitionTable

__all__ = ["RUNNER_TRANSITIONS", "TASK_TRANSITIONS", "RunnerState", "TaskState"]


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
    reaches it is removed, so it never appears in
    :attr:`~.machine.RunnerConnection.tasks`.
    """

    WAITING_FOR_SETTINGS = enum.auto()
    RUNNING = enum.auto()
    ABORTING = enum.auto()
    DONE = enum.auto()


_R = RunnerState
_T = TaskState
_LIVE = (_R.AWAITING_INFO_REQUEST, _R.AWAITING_REGISTRATION, _R.REGISTERED, _R.DRAINING)

#: Every state change of the connection; triggers are wire types or method names.
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
