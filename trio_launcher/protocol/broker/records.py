"""The broker core's records: a runner connection, an offer, a request and its task."""

from __future__ import annotations

import math

import attrs

from .states import RequestState, RunnerState

__all__ = ["NO_TIMER", "Job", "Offer", "Runner"]

#: The timer handle of a job that has no such timer armed (never a real handle).
NO_TIMER = -1


@attrs.define(eq=False)
class Runner:
    """One runner connection, from its WebSocket opening to its end."""

    connection: int
    runner_id: str
    state: RunnerState = RunnerState.CONNECTED
    name: str = ""
    types: tuple[str, ...] = ()
    offers: dict[int, Offer] = attrs.Factory(dict)  # by offer key
    jobs: dict[str, Job] = attrs.Factory(dict)  # by task id, from match to end
    ended: dict[str, None] = attrs.Factory(dict)  # ids of its ended tasks, oldest first
    accept_timeouts: int = 0
    last_accept_timeout: float = -math.inf


@attrs.define(eq=False)
class Offer:
    """A runner's offer of one slot for ``task_type``, live until taken, dropped or expired."""

    key: int
    offer_id: str
    task_type: str
    valid_until: float
    runner: Runner
    live: bool = True


@attrs.define(eq=False)
class Job:
    """A request, and later its task."""

    requester: str
    request_id: str
    task_type: str
    seq: int
    state: RequestState = RequestState.PENDING
    task_id: str | None = None
    runner: Runner | None = None
    deferrals: int = 0
    request_timer: int = NO_TIMER
    phase_timer: int = NO_TIMER  # accept, settings, task or shutdown timer
    phase_deadline: float = math.inf
