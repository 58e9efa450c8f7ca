"""The task table: every live request and task, its state, its timers, its end, the counts.

A request's record (:class:`~.records.Job`) lives from ``requester:taskrequest``
to its end. :meth:`TaskTable.advance` is the one place its state changes, and
the live counts by state and task type follow it there.

A job has at most two timers armed: its request timer while it waits for a
runner, and the timer of the phase its task is in. Timers live in one heap
with lazy invalidation (a cancelled timer's handle is simply forgotten):
:meth:`TaskTable.next_deadline` and :meth:`TaskTable.pop_due` are O(log n) per
timer, and cancelled timers never pile up.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator

from ..errors import LocalProtocolError
from ..messages import BrokerRequestExpired, BrokerTaskCancel, BrokerTaskError
from .heap import CompactingHeap
from .outputs import Output, SendToRequester, SendToRunner
from .records import NO_TIMER, Job, Runner
from .states import IN_FLIGHT, LIVE, REQUEST_TRANSITIONS, RequestState
from .timeouts import BrokerTimeouts

__all__ = ["TaskTable", "TimerKind"]

_R = RequestState


class TimerKind(enum.Enum):
    """What a timer ends: a request's wait, or the phase its task is in."""

    REQUEST = enum.auto()
    ACCEPT = enum.auto()
    SETTINGS = enum.auto()
    TASK = enum.auto()
    SHUTDOWN = enum.auto()


class TaskTable:
    """Live requests by requester and request id, live tasks by task id, and their timers."""

    def __init__(self, timeouts: BrokerTimeouts) -> None:
        self._timeouts = timeouts
        self._requests: dict[str, dict[str, Job]] = {}  # requester -> request id -> job
        self._tasks: dict[str, Job] = {}  # task id -> job
        self._seq = itertools.count()
        self._armed: dict[int, tuple[TimerKind, Job]] = {}  # timer handle -> what it ends
        self._deadlines = CompactingHeap[int](self._armed.__contains__)
        self._handles = itertools.count()
        #: Live requests by state and task type.
        self.counts: Counter[tuple[RequestState, str]] = Counter()
        #: Ended requests by final state.
        self.totals: Counter[RequestState] = Counter()
        #: Tasks accepted by a runner that have not ended.
        self.in_flight = 0
        #: Tasks may not run past this (set while draining).
        self.task_cap = math.inf

    # --- lookups ----------------------------------------------------------------------

    def task(self, task_id: str) -> Job | None:
        """The live task ``task_id``."""
        return self._tasks.get(task_id)

    def request(self, requester: str, request_id: str) -> Job | None:
        """The live request ``request_id`` of ``requester``."""
        jobs = self._requests.get(requester)
        return None if jobs is None else jobs.get(request_id)

    def requests_of(self, requester: str) -> list[Job]:
        """Every live request of ``requester``."""
        return list(self._requests.get(requester, {}).values())

    def in_arrival_order(self) -> list[Job]:
        """Every live request, oldest first."""
        jobs = [job for by_id in self._requests.values() for job in by_id.values()]
        return sorted(jobs, key=lambda job: job.seq)

    def running(self) -> Iterator[Job]:
        """Every task that got its settings."""
        return (job for job in self._tasks.values() if job.state is _R.RUNNING)

    # --- changes ----------------------------------------------------------------------

    def open(self, requester: str, request_id: str, task_type: str, now: float) -> Job:
        """A new pending request, its request timer armed; a live ``request_id`` is a bug."""
        jobs = self._requests.get(requester)
        if jobs is None:
            jobs = self._requests[requester] = {}
        elif request_id in jobs:
            raise LocalProtocolError(f"request {request_id!r} is still live")
        job = jobs[request_id] = Job(requester, request_id, task_type, next(self._seq))
        self.counts[(_R.PENDING, task_type)] += 1
        job.request_timer = self._arm(now + self._timeouts.request, TimerKind.REQUEST, job)
        return job

    def advance(self, job: Job, trigger: str) -> None:
        """The one place a request changes state (and the per-state counts follow)."""
        old = job.state
        new = REQUEST_TRANSITIONS.advance(old, trigger)
        self.counts[(old, job.task_type)] -= 1
        if new in LIVE:
            self.counts[(new, job.task_type)] += 1
            if new is _R.WAITING_FOR_SETTINGS:  # the one way into IN_FLIGHT
                self.in_flight += 1
        else:
            self.totals[new] += 1
            if old in IN_FLIGHT:
                self.in_flight -= 1
        job.state = new

    def attach(self, job: Job, runner: Runner, new_task_id: Callable[[], str]) -> str:
        """Give the job a fresh task id on ``runner`` (never one the runner remembers)."""
        task_id = new_task_id()
        while task_id in self._tasks or task_id in runner.ended:
            task_id = new_task_id()
        job.task_id, job.runner = task_id, runner
        self._tasks[task_id] = job
        runner.jobs[task_id] = job
        return task_id

    def release(self, job: Job) -> None:
        """Detach the job from its task id and runner (the task id is discarded)."""
        self._armed.pop(job.phase_timer, None)
        job.phase_timer = NO_TIMER
        if job.task_id is not None:
            del self._tasks[job.task_id]
            if job.runner is not None:
                del job.runner.jobs[job.task_id]
                self._remember_ended(job.runner, job.task_id)
        job.task_id, job.runner = None, None

    def finish(self, job: Job, trigger: str) -> None:
        """End the request for good: ``trigger`` must lead to a final state."""
        self.advance(job, trigger)
        self._armed.pop(job.request_timer, None)
        job.request_timer = NO_TIMER
        self.release(job)
        jobs = self._requests[job.requester]
        del jobs[job.request_id]
        if not jobs:
            del self._requests[job.requester]

    def _remember_ended(self, runner: Runner, task_id: str) -> None:
        """Keep ``task_id`` among the runner's ended tasks, forgetting the oldest past the limit."""
        ended = runner.ended
        ended[task_id] = None
        if len(ended) > self._timeouts.remembered_task_ids:
            del ended[next(iter(ended))]

    # --- ends -----------------------------------------------------------------------

    def connection_of(self, job: Job) -> int:
        """The connection of the runner holding the job's task."""
        assert job.runner is not None
        return job.runner.connection

    def cancel(self, job: Job, reason: str, trigger: str, out: list[Output]) -> None:
        """The requester gave up: tell the runner, if any; the requester hears nothing."""
        self._cancel_on_runner(job, reason, out)
        self.finish(job, trigger)

    def expire(
        self, job: Job, reason: str, trigger: str, cancel_reason: str, out: list[Output]
    ) -> None:
        """A request without a task expires; an acceptance in progress is cancelled."""
        self._cancel_on_runner(job, cancel_reason, out)
        out.append(SendToRequester(job.requester, BrokerRequestExpired(job.request_id, reason)))
        self.finish(job, trigger)

    def abort(
        self, job: Job, reason: str, error: dict[str, str], trigger: str, out: list[Output]
    ) -> None:
        """The broker ends a task: cancel it on the runner and fail it to the requester."""
        assert job.task_id is not None
        self._cancel_on_runner(job, reason, out)
        out.append(SendToRequester(job.requester, BrokerTaskError(job.task_id, error)))
        self.finish(job, trigger)

    @staticmethod
    def _cancel_on_runner(job: Job, reason: str, out: list[Output]) -> None:
        if job.task_id is not None and job.runner is not None:
            out.append(SendToRunner(job.runner.connection, BrokerTaskCancel(job.task_id, reason)))

    # --- timers -----------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest armed deadline; ``None`` if no timer is armed."""
        first = self._deadlines.peek()
        return None if first is None else first[0]

    def pop_due(self, now: float) -> tuple[TimerKind, Job] | None:
        """Disarm and return the earliest timer due at or before ``now``."""
        first = self._deadlines.peek()
        if first is None or first[0] > now:
            return None
        self._deadlines.pop()
        kind, job = self._armed.pop(first[1])
        if kind is TimerKind.REQUEST:
            job.request_timer = NO_TIMER
        else:
            job.phase_timer = NO_TIMER
        return kind, job

    def _arm(self, deadline: float, kind: TimerKind, job: Job) -> int:
        handle = next(self._handles)
        self._armed[handle] = (kind, job)
        self._deadlines.push(deadline, handle)
        return handle

    def arm_request_timer(self, job: Job, now: float) -> None:
        """(Re)start the request's wait for a runner."""
        self._armed.pop(job.request_timer, None)
        job.request_timer = self._arm(now + self._timeouts.request, TimerKind.REQUEST, job)

    def stop_request_timer(self, job: Job) -> None:
        """The request got its task, or ended."""
        self._armed.pop(job.request_timer, None)
        job.request_timer = NO_TIMER

    def arm_phase(self, job: Job, deadline: float, kind: TimerKind) -> None:
        """Start the timer of the phase the task enters (accept, settings, task, shutdown)."""
        self._armed.pop(job.phase_timer, None)
        job.phase_timer = self._arm(deadline, kind, job)
        job.phase_deadline = deadline

    def arm_task_timer(self, job: Job, now: float) -> None:
        """The task got its settings: it may run for the task timeout, or up to the cap."""
        deadline = now + self._timeouts.task
        if deadline > self.task_cap:
            self.arm_phase(job, self.task_cap, TimerKind.SHUTDOWN)
        else:
            self.arm_phase(job, deadline, TimerKind.TASK)

    def cap_tasks(self, deadline: float) -> None:
        """No task may run past ``deadline`` (draining)."""
        self.task_cap = deadline
        for job in self.running():
            if job.phase_deadline > deadline:
                self.arm_phase(job, deadline, TimerKind.SHUTDOWN)
