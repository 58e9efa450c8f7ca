"""Run n8n Code-node tasks in isolated processes, from Trio.

:func:`open_executor` starts the pre-started worker (:mod:`trio_launcher.runner.worker.zygote`) and
keeps one alive: if it dies, tasks in flight fail with a clear error and a
new worker is started transparently.  :meth:`TaskExecutor.run` checks and
compiles the code in the runner (:mod:`.prepare`), has the worker fork a
task process, sends it the task over a private socket and reconciles the
reply with how the process ended.

Every task process is gone when :meth:`~TaskExecutor.run` returns or raises:
on timeout or cancellation its process group is killed, and ``run`` waits
until the worker has reaped it.
"""

from __future__ import annotations

import json
import logging
import marshal
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from trio_launcher.process import Backoff
from trio_launcher.pulse import Pulse
from trio_launcher.runner.executor.channel import exchange
from trio_launcher.runner.executor.outcome import (
    BAD_RESULT_ERROR,
    WORKER_LOST_ERROR,
    TaskOutcome,
    exit_error,
    timeout_error,
)
from trio_launcher.runner.executor.prepare import PreparedTask, prepare_task
from trio_launcher.runner.executor.task_cgroups import TaskCgroups, open_cgroup_layer
from trio_launcher.runner.executor.worker_handle import (
    TaskProcess,
    WorkerLost,
    WorkerProcess,
    WorkerStartError,
    worker_environment,
)
from trio_launcher.runner.sandbox.confinement_check import ConfinementCheck
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.worker.confine.layers import CGROUP

__all__ = ["ExecutorStatistics", "TaskExecutor", "TaskOutcome", "open_executor"]

log = logging.getLogger(__name__)

#: Tries to start a task when the worker dies before the task process started.
START_ATTEMPTS = 3
#: Payloads above this size are (de)serialised in a thread.
_BIG_PAYLOAD = 256 * 1024
#: A worker that lived this long before it died is replaced at once.
_STABLE_WORKER = 1.0


@attrs.frozen
class ExecutorStatistics:
    """A snapshot of the executor's state."""

    worker_pid: int | None
    tasks_running: int
    worker_restarts: int


@attrs.define
class _Attempt:
    reply: dict[str, Any] | None = None
    task: TaskProcess | None = None
    timed_out: bool = False
    start_error: str | None = None


class TaskExecutor:
    """Owns the worker process; runs tasks.  Create it with :func:`open_executor`.

    Task attempts run in *nursery*; tasks get cgroups from *cgroups* when
    the host gives them, and *cgroup_status* is the *cgroup* layer's report.
    """

    def __init__(
        self,
        policy: SandboxPolicy,
        nursery: trio.Nursery,
        *,
        memory_limit_mb: int | None = None,
        cgroups: TaskCgroups | None = None,
        cgroup_status: str = "off (disabled)",
    ) -> None:
        self._policy = policy
        self._nursery = nursery
        self._memory_limit_mb = memory_limit_mb
        self._cgroups = cgroups
        self._cgroup_status = cgroup_status
        self._worker: WorkerProcess | None = None
        self._worker_changed = Pulse()
        self._closed = False
        self._running = 0
        self._restarts = 0
        self._unreaped = 0
        self._reaped = Pulse()
        self._confinement = ConfinementCheck(policy)

    async def run(
        self,
        settings: Mapping[str, Any],
        *,
        timeout: float,  # noqa: ASYNC109 - the task's own time limit, reported in its error
        on_started: Callable[[int], object] | None = None,
    ) -> TaskOutcome:
        """Run one task (n8n's Python settings payload) in its own process.

        Returns the outcome; task failures of every kind (user errors,
        security violations, timeout after *timeout* seconds, a killed or
        crashed process) are outcomes, not exceptions.  *on_started* is called
        with the task process's pid once it exists.  If the caller is
        cancelled, the task process is killed and ``Cancelled`` propagates.
        Raises :class:`trio.ClosedResourceError` once the executor is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("the task executor is closed")
        prepared = prepare_task(settings, self._policy)
        if not isinstance(prepared, PreparedTask):
            return TaskOutcome(error=prepared)
        try:
            request = await _encode(prepared)
        except ValueError as exc:
            return TaskOutcome(error={"message": f"Invalid task settings: {exc}"})
        self._running += 1
        try:
            attempt = await self._execute(request, trio.current_time() + timeout, on_started)
        finally:
            self._running -= 1
        return self._outcome(attempt, prepared, timeout)

    async def wait_reaped(self) -> None:
        """Return once every task process started so far has exited and been reaped.

        :meth:`run` returns as soon as a task's result is complete; its process
        is reaped just after, in the background (and always before the
        executor closes).
        """
        while self._unreaped:
            await self._reaped.wait()

    def statistics(self) -> ExecutorStatistics:
        """Worker pid (None while restarting), running tasks, worker restarts."""
        worker = self._worker
        return ExecutorStatistics(
            worker_pid=worker.pid if worker is not None else None,
            tasks_running=self._running,
            worker_restarts=self._restarts,
        )

    def worker_confinement(self) -> dict[str, str]:
        """Each kernel layer's status in the current worker (empty while restarting)."""
        worker = self._worker
        return dict(worker.confinement) if worker is not None else {}

    # -- running a task ------------------------------------------------------

    async def _execute(
        self, request: bytes, deadline: float, on_started: Callable[[int], object] | None
    ) -> _Attempt:
        """Run the task; return as soon as its reply is complete.

        The process is reaped in the background (a crash after a complete
        reply cannot change the result). If the caller is cancelled, the task
        is killed and reaped before ``Cancelled`` propagates.
        """
        attempt = _Attempt()
        scope = trio.CancelScope()
        answered, finished = trio.Event(), trio.Event()
        self._nursery.start_soon(
            self._attempt, attempt, request, deadline, on_started, scope, answered, finished
        )
        try:
            await answered.wait()
        except BaseException:
            scope.cancel()
            with trio.CancelScope(shield=True):
                await finished.wait()
            raise
        return attempt

    async def _attempt(
        self,
        attempt: _Attempt,
        request: bytes,
        deadline: float,
        on_started: Callable[[int], object] | None,
        scope: trio.CancelScope,
        answered: trio.Event,
        finished: trio.Event,
    ) -> None:
        self._unreaped += 1
        try:
            with scope, trio.move_on_at(deadline) as timer:
                for _ in range(START_ATTEMPTS):
                    worker = await self._wait_worker()
                    try:
                        async with worker.open_task() as task:
                            attempt.task = task
                            if on_started is not None and task.pid is not None:
                                on_started(task.pid)
                            attempt.reply = await _decode(await exchange(task.stream, request))
                            if attempt.reply is not None:
                                answered.set()
                            await task.exited.wait()
                        break
                    except WorkerLost:
                        await worker.wait_gone()  # then the supervisor replaces it
                        continue
                    except WorkerStartError as exc:
                        attempt.start_error = str(exc)
                        break
            attempt.timed_out = timer.cancelled_caught and attempt.reply is None
        finally:
            answered.set()
            finished.set()
            self._unreaped -= 1
            self._reaped.fire()

    def _outcome(self, attempt: _Attempt, prepared: PreparedTask, timeout: float) -> TaskOutcome:
        if attempt.reply is not None:
            return TaskOutcome.from_reply(attempt.reply)
        if attempt.timed_out:
            error = timeout_error(timeout)
        elif attempt.start_error is not None:
            error = {"message": attempt.start_error, "description": ""}
        elif attempt.task is None or attempt.task.lost:
            error = WORKER_LOST_ERROR
        else:
            error = exit_error(attempt.task.returncode)
        return TaskOutcome.failure(dict(error), continue_on_fail=prepared.continue_on_fail)

    # -- the worker ----------------------------------------------------------

    async def _wait_worker(self) -> WorkerProcess:
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the task executor is closed")
            worker = self._worker
            if worker is not None and worker.alive:
                return worker
            await self._worker_changed.wait()

    def _worker_config(self) -> dict[str, Any]:
        sandbox = self._policy.to_wire()
        sandbox["confine"]["task_cgroup"] = self._cgroups is not None
        return {
            "parent_pid": os.getpid(),
            "memory_limit_mb": self._memory_limit_mb,
            "sandbox": sandbox,
        }

    async def _spawn(self) -> WorkerProcess:
        env = worker_environment(
            os.environ,
            block_env_access=self._policy.block_env_access,
            env_allow=self._policy.env_allow,
        )
        worker = await WorkerProcess.spawn(self._worker_config(), env, self._cgroups)
        worker.confinement[CGROUP] = self._cgroup_status
        try:
            self._confinement.check(worker.confinement)
        except BaseException:
            with trio.CancelScope(shield=True):
                await worker.aclose()
            raise
        return worker

    async def _supervise(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        worker = await self._spawn()
        task_status.started()
        backoff = _restart_backoff()
        while True:
            backoff.note_started(trio.current_time())
            await self._serve(worker)
            backoff.note_stopped(trio.current_time(), _STABLE_WORKER)
            worker = await self._respawn(backoff)

    async def _serve(self, worker: WorkerProcess) -> None:
        self._worker = worker
        self._worker_changed.fire()
        try:
            await worker.serve()
        finally:
            self._worker = None
            self._worker_changed.fire()
            with trio.CancelScope(shield=True):
                await worker.aclose()
        log.warning("task worker (pid %d) exited unexpectedly; starting a new one", worker.pid)

    async def _respawn(self, backoff: Backoff) -> WorkerProcess:
        """A new worker: at once the first time, later and later while workers die at once."""
        first = backoff.attempts == 0
        delay = backoff.next_delay()
        await trio.sleep(0.0 if first else delay)
        while True:
            try:
                worker = await self._spawn()
            except (WorkerStartError, OSError) as exc:
                log.error("could not restart the task worker: %s", exc)
                await backoff.sleep()
                continue
            self._restarts += 1
            return worker

    def _close(self) -> None:
        self._closed = True
        self._worker_changed.fire()  # wake runs waiting for a worker


@asynccontextmanager
async def open_executor(
    policy: SandboxPolicy, *, memory_limit_mb: int | None = None
) -> AsyncIterator[TaskExecutor]:
    """Start the worker; on exit stop it and every task process it started.

    Raises :class:`~.worker_handle.WorkerStartError` if the worker does not start.
    """
    if memory_limit_mb is not None and memory_limit_mb <= 0:
        raise ValueError("memory_limit_mb must be positive (or None for no limit)")
    if CGROUP in policy.kernel_layers:
        cgroups, cgroup_status = open_cgroup_layer()
    else:
        cgroups, cgroup_status = None, "off (disabled)"
    try:
        async with trio.open_nursery() as nursery:
            executor = TaskExecutor(
                policy,
                nursery,
                memory_limit_mb=memory_limit_mb,
                cgroups=cgroups,
                cgroup_status=cgroup_status,
            )
            await nursery.start(executor._supervise)
            try:
                yield executor
            finally:
                executor._close()
                nursery.cancel_scope.cancel()
    finally:
        if cgroups is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(cgroups.close)


def _restart_backoff() -> Backoff:
    """The delays before a new worker: 0.1 s, 0.2 s ... 5 s while workers keep dying at once.

    Its first delay (0.05 s) is not slept: the first restart is immediate, and
    so is the next one after a worker that lived :data:`_STABLE_WORKER` seconds.
    """
    return Backoff(initial=0.05, maximum=5.0, jitter=0.0)


async def _encode(prepared: PreparedTask) -> bytes:
    """The task process's request frame; :class:`ValueError` for a value marshal cannot write."""

    def encode() -> bytes:
        return marshal.dumps((prepared.request, prepared.code))

    if len(prepared.request["items"]) > 1000 or len(prepared.request["code"]) > _BIG_PAYLOAD:
        return await trio.to_thread.run_sync(encode)
    return encode()


async def _decode(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        if len(data) > _BIG_PAYLOAD:
            reply = await trio.to_thread.run_sync(json.loads, data)
        else:
            reply = json.loads(data)
    except ValueError:
        return {"error": BAD_RESULT_ERROR}
    return reply if isinstance(reply, dict) else {"error": BAD_RESULT_ERROR}
