"""The phases of one runner type's loop, and every change between them in one table.

The loop waits for the broker, fetches a grant token, handshakes (poses as a
runner until a task of its type waits), launches the runner (with a grant
token of its own) and waits for it to exit, then starts over; any failure in
any phase backs off before it starts over. :data:`PHASE_TRANSITIONS` is the
whole story; the loop asks it for every change, and an illegal change raises
:class:`~trio_launcher.protocol.transitions.IllegalTransition` (a bug in the
loop, never retried).
"""

from __future__ import annotations

import enum
from typing import Final

from ..protocol.transitions import Transition, TransitionTable

__all__ = [
    "BROKER_ANSWERED",
    "FAILED",
    "GRANTED",
    "PHASE_TRANSITIONS",
    "RETRY",
    "RUNNER_EXITED",
    "RUNNER_STARTED",
    "TASK_WAITING",
    "Phase",
]


class Phase(enum.Enum):
    """Where the loop of one runner type is (the ``phase`` of ``GET /healthz``)."""

    WAITING_FOR_BROKER = "waiting_for_broker"
    FETCHING_GRANT = "fetching_grant"
    HANDSHAKING = "handshaking"
    LAUNCHING = "launching"
    RUNNER_RUNNING = "runner_running"
    BACKING_OFF = "backing_off"


BROKER_ANSWERED: Final = "broker-answered"  #: its ``/healthz`` answered
GRANTED: Final = "granted"  #: it traded the auth token for a grant token
TASK_WAITING: Final = "task-waiting"  #: it accepted the handshake's offer
RUNNER_STARTED: Final = "runner-started"
RUNNER_EXITED: Final = "runner-exited"  #: exit code 0: the runner was idle
FAILED: Final = "failed"  #: anything that went wrong, the runner's crash included
RETRY: Final = "retry"  #: the backoff delay ran out

_P = Phase
#: Every phase but the backoff: each may fail.
_ACTIVE = tuple(phase for phase in Phase if phase is not _P.BACKING_OFF)

#: Every legal change of a :class:`Phase`.
PHASE_TRANSITIONS: Final = TransitionTable[Phase](
    "launcher phase",
    [
        Transition(_P.WAITING_FOR_BROKER, BROKER_ANSWERED, _P.FETCHING_GRANT),
        Transition(_P.FETCHING_GRANT, GRANTED, _P.HANDSHAKING),
        Transition(_P.HANDSHAKING, TASK_WAITING, _P.LAUNCHING),
        Transition(_P.LAUNCHING, RUNNER_STARTED, _P.RUNNER_RUNNING),
        Transition(_P.RUNNER_RUNNING, RUNNER_EXITED, _P.WAITING_FOR_BROKER),
        *(
            Transition(phase, FAILED, _P.BACKING_OFF)
            for phase in Phase
            if phase is not _P.BACKING_OFF
        ),
        Transition(_P.BACKING_OFF, RETRY, _P.WAITING_FOR_BROKER),
    ],
)
