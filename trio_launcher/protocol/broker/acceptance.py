"""The acceptance of a matched request (4.3): the ways into and out of ``ACCEPTING``.

A pending request matched with an offer gets a task id and goes to the
offer's runner as ``broker:taskofferaccept``; the runner accepts it, rejects
or defers it, or lets the accept window pass. A rejection, a deferral, the
window passing or the runner's loss put the request back among the pending
ones, in its place, and its type is matched again.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import reasons
from ..messages import (
    BrokerTaskCancel,
    BrokerTaskOfferAccept,
    BrokerTaskReady,
    RunnerTaskAccepted,
    RunnerTaskDeferred,
    RunnerTaskRejected,
)
from . import states
from .matching import OfferBook
from .outputs import Output, SendToRequester, SendToRunner
from .records import Job, Offer, Runner
from .states import IN_FLIGHT
from .tasks import TaskTable, TimerKind
from .timeouts import BrokerTimeouts

__all__ = ["Acceptances"]


class Acceptances:
    """Hands matched requests to the offers' runners and takes the runners' answers."""

    def __init__(
        self,
        timeouts: BrokerTimeouts,
        table: TaskTable,
        offers: OfferBook,
        new_task_id: Callable[[], str],
    ) -> None:
        self._timeouts = timeouts
        self._table = table
        self._offers = offers
        self._new_task_id = new_task_id
        #: Tasks a runner accepted, over the core's life.
        self.assigned = 0

    def match(self, task_type: str, now: float, out: list[Output]) -> None:
        """Give this type's pending requests (oldest first) its offers (oldest first).

        Nothing matches while the broker drains: it holds no offers then.
        """
        for job, offer in self._offers.take_matches(task_type):
            self._start(job, offer, now, out)

    def _start(self, job: Job, offer: Offer, now: float, out: list[Output]) -> None:
        self._table.advance(job, states.MATCH)
        task_id = self._table.attach(job, offer.runner, self._new_task_id)
        self._table.arm_phase(job, now + self._timeouts.accept, TimerKind.ACCEPT)
        accept = BrokerTaskOfferAccept(task_id, offer.offer_id)
        out.append(SendToRunner(offer.runner.connection, accept))

    def accepted(self, runner: Runner, job: Job, now: float, out: list[Output]) -> None:
        """The runner took the task: the requester may send its settings."""
        self._table.advance(job, RunnerTaskAccepted.TYPE)
        runner.accept_timeouts = 0
        self.assigned += 1
        self._table.stop_request_timer(job)
        self._table.arm_phase(job, now + self._timeouts.accept, TimerKind.SETTINGS)
        assert job.task_id is not None
        out.append(SendToRequester(job.requester, BrokerTaskReady(job.request_id, job.task_id)))

    def rejected(self, runner: Runner, job: Job, now: float, out: list[Output]) -> None:
        """The runner refused the task: the request waits for another offer."""
        runner.accept_timeouts = 0
        self.back_to_pending(job, RunnerTaskRejected.TYPE, now, out)

    def deferred(self, runner: Runner, job: Job, now: float, out: list[Output]) -> None:
        """A launcher deferred the task; the first deferrals restart the request's wait."""
        runner.accept_timeouts = 0
        if job.deferrals < self._timeouts.max_deferrals:
            job.deferrals += 1
            self._table.arm_request_timer(job, now)
        self.back_to_pending(job, RunnerTaskDeferred.TYPE, now, out)

    def timed_out(self, job: Job, now: float, out: list[Output]) -> bool:
        """4.3 step 6 (v2.41): cancel, drop the runner's offers, refresh, match again.

        Returns whether the runner is now unresponsive (4.8) and must be closed.
        """
        runner, task_id = job.runner, job.task_id
        assert runner is not None and task_id is not None
        cancel = BrokerTaskCancel(task_id, reasons.ACCEPT_WINDOW_ELAPSED)
        out.append(SendToRunner(runner.connection, cancel))
        self._offers.drop_runner_offers(runner)
        self._table.arm_request_timer(job, now)
        self.back_to_pending(job, states.ACCEPT_TIMEOUT, now, out)
        if now - runner.last_accept_timeout >= self._timeouts.accept:
            runner.accept_timeouts += 1
            runner.last_accept_timeout = now
        limit = self._timeouts.max_accept_timeouts
        return bool(limit) and runner.accept_timeouts >= limit and not _has_tasks_in_flight(runner)

    def back_to_pending(self, job: Job, trigger: str, now: float, out: list[Output]) -> None:
        """The acceptance ended by ``trigger``: queue the request again and match its type."""
        self.requeue(job, trigger)
        self.match(job.task_type, now, out)

    def requeue(self, job: Job, trigger: str) -> None:
        """As :meth:`back_to_pending`, without matching (the caller matches later)."""
        self._table.advance(job, trigger)
        self._table.release(job)
        self._offers.enqueue(job)


def _has_tasks_in_flight(runner: Runner) -> bool:
    return any(job.state in IN_FLIGHT for job in runner.jobs.values())
