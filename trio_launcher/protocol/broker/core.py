"""The broker core: its calls and its message handlers.

See the package docstring for what the core does and the rules it follows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from .. import n8n_errors, reasons
from ..errors import LocalProtocolError, RemoteProtocolError
from ..ids import nanoid
from ..messages import (
    BrokerDrain,
    BrokerInfoRequest,
    BrokerRequestExpired,
    BrokerRunnerRegistered,
    BrokerTaskDone,
    BrokerTaskError,
    BrokerTaskSettings,
    Message,
    RequesterTaskCancel,
    RequesterTaskRequest,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerTaskAccepted,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskOffer,
    RunnerTaskRejected,
    UnknownMessage,
)
from . import states
from .acceptance import Acceptances
from .forwarding import ABOUT_A_TASK, TO_REQUESTER, TO_RUNNER
from .matching import OfferBook
from .outputs import (
    EVICTED_REASON,
    FOREIGN_TASK_REASON,
    UNRESPONSIVE_REASON,
    CloseRunner,
    DisconnectCause,
    Output,
    SendToRequester,
    SendToRunner,
    disconnect_error,
)
from .records import Job, Runner
from .runners import RunnerTable
from .states import IN_FLIGHT, REQUEST_TRANSITIONS, WAITING_FOR_A_RUNNER
from .states import RequestState as _R
from .states import RunnerState as _C
from .statistics import BrokerStatistics
from .tasks import TaskTable, TimerKind
from .timeouts import BrokerTimeouts

__all__ = ["BrokerCore"]


def _default_task_id() -> str:
    return nanoid(8)


_N8N_TIMEOUTS: Final = BrokerTimeouts()
_INFO_REQUEST: Final = BrokerInfoRequest()
_REGISTERED: Final = BrokerRunnerRegistered()
_DRAIN: Final = BrokerDrain()

_RunnerHandler: TypeAlias = Callable[[Runner, Any, float, list[Output]], None]
_RequesterHandler: TypeAlias = Callable[[str, Any, float, list[Output]], None]


class BrokerCore:
    """The broker's state machine: feed it events and the time, carry out what it returns.

    ``new_task_id`` makes task ids (n8n: ``nanoid(8)``); an id still in use is
    never handed out twice.
    """

    def __init__(
        self,
        timeouts: BrokerTimeouts = _N8N_TIMEOUTS,
        *,
        new_task_id: Callable[[], str] = _default_task_id,
    ) -> None:
        self.timeouts: Final = timeouts
        self._runners = RunnerTable()
        self._offers = OfferBook()
        self._table = TaskTable(timeouts)
        self._acceptances = Acceptances(timeouts, self._table, self._offers, new_task_id)
        self._draining = False
        self._runner_handlers: dict[type[Any], _RunnerHandler] = {
            RunnerInfo: self._on_info,
            RunnerTaskOffer: self._on_offer,
            RunnerTaskAccepted: self._on_accepted,
            RunnerTaskRejected: self._on_rejected,
            RunnerTaskDeferred: self._on_deferred,
            RunnerTaskDone: self._on_done,
            RunnerTaskError: self._on_error,
            **dict.fromkeys(TO_REQUESTER, self._forward_to_requester),
        }
        self._requester_handlers: dict[type[Any], _RequesterHandler] = {
            RequesterTaskRequest: self._on_request,
            RequesterTaskSettings: self._on_settings,
            RequesterTaskCancel: self._on_cancel,
            **dict.fromkeys(TO_RUNNER, self._forward_to_runner),
        }

    # --- public API: runners ----------------------------------------------------------

    def connect_runner(self, connection: int, runner_id: str, now: float) -> list[Output]:
        """A runner's WebSocket opened; returns the ``broker:inforequest`` to send.

        ``connection`` is any int unique among open connections. A live
        connection with the same ``runner_id`` is evicted only when this one
        sends ``runner:info`` (4.1).
        """
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        self._runners.open(connection, runner_id)
        return [SendToRunner(connection, _INFO_REQUEST)]

    def receive_from_runner(self, connection: int, message: Message, now: float) -> list[Output]:
        """Handle one decoded frame from a runner.

        Frames before ``runner:info``, frames from unknown (closed, evicted)
        connections and :class:`~..messages.UnknownMessage` are dropped, as are
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
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        runner = self._runners.by_connection.get(connection)
        if handler is None or runner is None:
            return []
        if (runner.state is _C.CONNECTED) != (type(message) is RunnerInfo):
            return []  # before runner:info, or a second runner:info
        out: list[Output] = []
        if isinstance(message, ABOUT_A_TASK) and not self._was_given(runner, message.task_id):
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
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        runner = self._runners.by_connection.get(connection)
        if runner is None:
            return []
        out: list[Output] = []
        self._remove_runner(runner, states.DISCONNECT, cause, now, out)
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
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        out: list[Output] = []
        handler(requester, message, now, out)
        return out

    def forget_requester(self, requester: str, now: float) -> list[Output]:
        """The requester went away: drop its requests and cancel its tasks on their runners."""
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        out: list[Output] = []
        for job in self._table.requests_of(requester):
            self._table.cancel(job, reasons.CANCELLED_BY_USER, states.REQUESTER_GONE, out)
        return out

    # --- public API: time and shutdown ----------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`advance_time` next has something to do; ``None`` if no timer is armed."""
        return self._table.next_deadline()

    def advance_time(self, now: float) -> list[Output]:
        """Fire every timer due at or before ``now``, in deadline order."""
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        out: list[Output] = []
        while (due := self._table.pop_due(now)) is not None:
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
        if now > self._offers.next_expiry:
            self._offers.purge(now)
        if self._draining:
            return []
        self._draining = True
        out: list[Output] = []
        for runner in self._runners.by_connection.values():
            if runner.state is _C.REGISTERED:
                self._drain_runner(runner, out)
        self._offers.drop_all_offers()
        for job in self._table.in_arrival_order():
            if job.state not in WAITING_FOR_A_RUNNER:
                continue
            cancel_reason = reasons.BROKER_SHUTTING_DOWN
            self._table.expire(job, reasons.EXPIRED_DRAINING, states.DRAIN, cancel_reason, out)
        if task_deadline is not None:
            self._table.cap_tasks(task_deadline)
        return out

    @property
    def tasks_in_flight(self) -> int:
        """Tasks accepted by a runner and not yet ended (cheap: no snapshot is built)."""
        return self._table.in_flight

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` was called."""
        return self._draining

    # --- public API: queries -----------------------------------------------------------

    def statistics(self) -> BrokerStatistics:
        """A snapshot of the counts (as of the last call that passed the time)."""
        return BrokerStatistics.tally(
            self._table.counts,
            self._table.totals,
            runners=self._runners.registered(),
            connections=len(self._runners.by_connection),
            offers_by_type=self._offers.offers_by_type(),
            tasks_assigned=self._acceptances.assigned,
            draining=self._draining,
        )

    def connections(self) -> tuple[int, ...]:
        """Every open runner connection, registered or not."""
        return tuple(self._runners.by_connection)

    def runner_state(self, connection: int) -> states.RunnerState | None:
        """The state of an open connection; ``None`` if unknown or gone."""
        runner = self._runners.by_connection.get(connection)
        return None if runner is None else runner.state

    def runner_id(self, connection: int) -> str | None:
        """The runner id an open connection was opened with."""
        runner = self._runners.by_connection.get(connection)
        return None if runner is None else runner.runner_id

    def runner_task_ids(self, connection: int) -> frozenset[str]:
        """Task ids held by a runner: offered (acceptance in progress), waiting or running."""
        runner = self._runners.by_connection.get(connection)
        return frozenset() if runner is None else frozenset(runner.jobs)

    def task_state(self, task_id: str) -> states.RequestState | None:
        """The state of a live task; ``None`` once it ended (or never existed)."""
        job = self._table.task(task_id)
        return None if job is None else job.state

    def task_connection(self, task_id: str) -> int | None:
        """The runner connection holding a live task."""
        job = self._table.task(task_id)
        return None if job is None or job.runner is None else job.runner.connection

    # --- runner messages ---------------------------------------------------------

    def _on_info(self, runner: Runner, msg: RunnerInfo, now: float, out: list[Output]) -> None:
        for other in self._runners.others_with_id(runner):
            out.append(CloseRunner(other.connection, reasons.CLOSE_NORMAL, EVICTED_REASON))
            self._remove_runner(other, states.CLOSE, DisconnectCause.EVICTED, now, out)
        self._runners.advance(runner, RunnerInfo.TYPE)
        runner.name, runner.types = msg.name, msg.types
        out.append(SendToRunner(runner.connection, _REGISTERED))
        if self._draining:
            self._drain_runner(runner, out)

    def _on_offer(
        self, runner: Runner, msg: RunnerTaskOffer, now: float, out: list[Output]
    ) -> None:
        if runner.state is not _C.REGISTERED or self._draining:
            return
        valid_until = math.inf if msg.valid_for == -1 else now + msg.valid_for / 1000
        if valid_until < now:
            return
        self._offers.add_offer(runner, msg.offer_id, msg.task_type, valid_until)
        self._acceptances.match(msg.task_type, now, out)

    def _on_accepted(
        self, runner: Runner, msg: RunnerTaskAccepted, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, RunnerTaskAccepted.TYPE)
        if job is not None:
            self._acceptances.accepted(runner, job, now, out)

    def _on_rejected(
        self, runner: Runner, msg: RunnerTaskRejected, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, RunnerTaskRejected.TYPE)
        if job is not None:
            self._acceptances.rejected(runner, job, now, out)

    def _on_deferred(
        self, runner: Runner, msg: RunnerTaskDeferred, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, RunnerTaskDeferred.TYPE)
        if job is not None:
            self._acceptances.deferred(runner, job, now, out)

    def _on_done(self, runner: Runner, msg: RunnerTaskDone, now: float, out: list[Output]) -> None:
        job = self._runner_job(runner, msg.task_id, RunnerTaskDone.TYPE)
        if job is not None:
            out.append(SendToRequester(job.requester, BrokerTaskDone(msg.task_id, msg.data)))
            self._table.finish(job, RunnerTaskDone.TYPE)

    def _on_error(
        self, runner: Runner, msg: RunnerTaskError, now: float, out: list[Output]
    ) -> None:
        job = self._runner_job(runner, msg.task_id, RunnerTaskError.TYPE)
        if job is not None:
            out.append(SendToRequester(job.requester, BrokerTaskError(msg.task_id, msg.error)))
            self._table.finish(job, RunnerTaskError.TYPE)

    @staticmethod
    def _was_given(runner: Runner, task_id: str) -> bool:
        """Whether ``task_id`` is, or (as far as remembered) was, one of the runner's tasks."""
        return task_id in runner.jobs or task_id in runner.ended

    def _close_for_foreign_task(
        self, runner: Runner, message_type: str, now: float, out: list[Output]
    ) -> None:
        """Close a runner that spoke of a task it was not given; that task goes on."""
        reason = FOREIGN_TASK_REASON.format(type=message_type)
        out.append(CloseRunner(runner.connection, reasons.CLOSE_POLICY_VIOLATION, reason))
        self._remove_runner(runner, states.FOREIGN_TASK, DisconnectCause.FOREIGN_TASK, now, out)

    def _runner_job(self, runner: Runner, task_id: str, trigger: str) -> Job | None:
        """The runner's own task ``task_id`` if ``trigger`` fits its state, else ``None``."""
        job = runner.jobs.get(task_id)
        if job is None or not REQUEST_TRANSITIONS.allows(job.state, trigger):
            return None
        return job

    def _forward_to_requester(
        self, runner: Runner, msg: Any, now: float, out: list[Output]
    ) -> None:
        """RPCs and data requests of a task in flight go to its requester."""
        job = runner.jobs.get(msg.task_id)
        if job is not None and job.state in IN_FLIGHT:
            out.append(SendToRequester(job.requester, TO_REQUESTER[type(msg)](msg)))

    # --- requester messages ----------------------------------------------------------

    def _on_request(
        self, requester: str, msg: RequesterTaskRequest, now: float, out: list[Output]
    ) -> None:
        if self._draining:
            if self._table.request(requester, msg.request_id) is not None:
                raise LocalProtocolError(f"request {msg.request_id!r} is still live")
            expired = BrokerRequestExpired(msg.request_id, reasons.EXPIRED_DRAINING)
            out.append(SendToRequester(requester, expired))
            self._table.totals[_R.EXPIRED] += 1
            return
        job = self._table.open(requester, msg.request_id, msg.task_type, now)
        self._offers.enqueue(job)
        self._acceptances.match(job.task_type, now, out)

    def _on_settings(
        self, requester: str, msg: RequesterTaskSettings, now: float, out: list[Output]
    ) -> None:
        job = self._requester_task(requester, msg.task_id)
        if job is None:
            return
        self._table.advance(job, RequesterTaskSettings.TYPE)
        self._table.arm_task_timer(job, now)
        settings = BrokerTaskSettings(msg.task_id, msg.settings)
        out.append(SendToRunner(self._table.connection_of(job), settings))

    def _on_cancel(
        self, requester: str, msg: RequesterTaskCancel, now: float, out: list[Output]
    ) -> None:
        job = self._requester_task(requester, msg.task_id)
        if job is None:
            job = self._table.request(requester, msg.task_id)
        if job is not None:
            self._table.cancel(job, msg.reason, RequesterTaskCancel.TYPE, out)

    def _forward_to_runner(self, requester: str, msg: Any, now: float, out: list[Output]) -> None:
        """Answers to a task's RPCs and data requests go to its runner."""
        job = self._requester_task(requester, msg.task_id)
        if job is not None and job.state in IN_FLIGHT:
            out.append(SendToRunner(self._table.connection_of(job), TO_RUNNER[type(msg)](msg)))

    def _requester_task(self, requester: str, task_id: str) -> Job | None:
        """The live task ``task_id``; another requester's task is a local bug."""
        job = self._table.task(task_id)
        if job is not None and job.requester != requester:
            raise LocalProtocolError(f"task {task_id!r} belongs to another requester")
        return job

    # --- timers ----------------------------------------------------------------

    def _fire(self, kind: TimerKind, job: Job, now: float, out: list[Output]) -> None:
        table, timeouts = self._table, self.timeouts
        if kind is TimerKind.REQUEST:
            trigger, cancel_reason = states.REQUEST_TIMEOUT, reasons.REQUEST_EXPIRED
            table.expire(job, reasons.EXPIRED_TIMEOUT, trigger, cancel_reason, out)
        elif kind is TimerKind.ACCEPT:
            self._accept_timed_out(job, now, out)
        elif kind is TimerKind.SETTINGS:
            error = n8n_errors.settings_timed_out(timeouts.accept)
            table.abort(job, reasons.REQUESTER_TOO_SLOW, error, states.SETTINGS_TIMEOUT, out)
        elif kind is TimerKind.TASK:
            error = n8n_errors.task_timed_out(timeouts.task)
            table.abort(job, reasons.TASK_TIMED_OUT, error, states.TASK_TIMEOUT, out)
        else:
            error = n8n_errors.shutdown_deadline_passed()
            table.abort(job, reasons.BROKER_SHUTTING_DOWN, error, states.SHUTDOWN_TIMEOUT, out)

    def _accept_timed_out(self, job: Job, now: float, out: list[Output]) -> None:
        runner = job.runner
        assert runner is not None
        if self._acceptances.timed_out(job, now, out):
            code = reasons.CLOSE_PROTOCOL_ERROR
            out.append(CloseRunner(runner.connection, code, UNRESPONSIVE_REASON))
            self._remove_runner(runner, states.CLOSE, DisconnectCause.UNRESPONSIVE, now, out)

    # --- runners --------------------------------------------------------------------

    def _drain_runner(self, runner: Runner, out: list[Output]) -> None:
        self._runners.advance(runner, BrokerDrain.TYPE)
        out.append(SendToRunner(runner.connection, _DRAIN))

    def _remove_runner(
        self, runner: Runner, trigger: str, cause: DisconnectCause, now: float, out: list[Output]
    ) -> None:
        """4.7: deregister, drop offers, fail tasks in flight, re-match acceptances."""
        self._runners.advance(runner, trigger)
        self._offers.drop_runner_offers(runner)
        retry: dict[str, None] = {}
        for job in list(runner.jobs.values()):
            if job.state is _R.ACCEPTING:
                self._acceptances.requeue(job, states.RUNNER_GONE)
                retry[job.task_type] = None
            else:
                assert job.task_id is not None
                error = BrokerTaskError(job.task_id, disconnect_error(cause))
                out.append(SendToRequester(job.requester, error))
                self._table.finish(job, states.RUNNER_GONE)
        for task_type in retry:
            self._acceptances.match(task_type, now, out)
