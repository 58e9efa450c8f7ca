"""The Python task runner: one WebSocket to the broker, tasks in isolated processes.

:class:`TaskRunner` is a thin Trio loop around the sans-IO
:class:`~trio_launcher.protocol.runner.RunnerConnection`: it reads frames,
feeds the machine, sends what it returns and carries out its events (run a
task in the executor, cancel one, drain).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ..exception_groups import unwrap_lone_exception
from ..mailbox import Mailbox
from ..protocol import LocalProtocolError, Message, RemoteProtocolError, decode, encode
from ..protocol.ids import alphanumeric_id
from ..protocol.messages import RunnerTaskError
from ..protocol.n8n_errors import CANCELLED_ERROR
from ..protocol.reasons import CLOSE_NORMAL
from ..protocol.runner import (
    CancelTask,
    DrainRequested,
    Registered,
    RunnerConnection,
    StartTask,
    Step,
    TaskAccepted,
    TaskDropped,
)
from ..pulse import Pulse
from ..transport import websocket
from ..transport.websocket import ConnectionClosed, ConnectionRejected, HandshakeError
from .config import RunnerConfig
from .errors import (
    EXIT_OK,
    EXIT_TASKS_KILLED,
    AuthenticationRefused,
    GrantTokenSpent,
    NoIdleTimeoutHandlerError,
)
from .executor.outcome import TaskOutcome

if TYPE_CHECKING:
    from .executor.task_executor import TaskExecutor

__all__ = ["TaskRunner", "run_runner"]

log = logging.getLogger(__name__)

STOPPED_ERROR = {
    "message": "Task was stopped: the runner is shutting down",
    "description": "The task ran past N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT after the runner "
    "was asked to stop.",
}
INTERNAL_ERROR = {
    "message": "Task failed inside the runner",
    "description": "The runner's log says why; the runner goes on with other tasks.",
}
UNSENDABLE_RESULT_ERROR = {
    "message": "Task result could not be sent: it is not JSON",
    "description": "Return only JSON values: NaN and Infinity cannot be sent "
    "(use None or a string instead).",
}
#: How long connecting and the WebSocket upgrade may take (as n8n's Python runner).
HANDSHAKE_TIMEOUT = 10.0
#: How long a stop waits for killed tasks to report before closing the socket.
KILL_REPORT_TIMEOUT = 2.0


class TaskRunner:
    """An n8n-compatible Python task runner.

    ``await runner.start()`` connects, registers and serves tasks until
    :meth:`stop` is called, the broker drains it, or (with auto-shutdown on)
    ``on_idle_timeout`` stops it. ``exit_code`` then says how it ended.
    """

    def __init__(
        self, config: RunnerConfig, *, on_idle_timeout: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.on_idle_timeout = on_idle_timeout
        self.runner_id = config.runner_id or alphanumeric_id(22)
        self.exit_code = EXIT_OK
        self.connected = False
        #: The port of the health endpoint once it listens (it may be OS-assigned).
        self.health_port: int | None = None
        self._stop_requested = trio.Event()
        self._stopped = trio.Event()
        self._grant_token = config.grant_token
        self._machine: RunnerConnection | None = None
        self._executor: TaskExecutor | None = None
        self._executor_ready = trio.Event()
        self._sandbox = config.sandbox
        self._wake = Pulse()
        self._tick_deadline = -math.inf  # when the ticker wakes by itself
        self._task_finished = Pulse()
        self._idle_deadline = math.inf
        self._task_scopes: dict[str, trio.CancelScope] = {}
        #: Frames for the writer, in order, then how to close.
        self._outbox: Mailbox[str | websocket.Close] | None = None
        self._drained = False
        #: The scope of a connection attempt until the broker accepts it.
        self._connecting: trio.CancelScope | None = None

    # --- public API ----------------------------------------------------------------

    @property
    def running_tasks(self) -> int:
        """Tasks being executed right now."""
        return len(self._task_scopes)

    async def start(self) -> None:
        """Run until stopped. Validates the configuration first.

        Raises :class:`~trio_launcher.envconfig.ConfigError`
        (:class:`NoIdleTimeoutHandlerError` when auto-shutdown has no
        handler), :class:`AuthenticationRefused` when the broker refuses the
        token, and :class:`GrantTokenSpent` when the connection is lost with no
        way to get a new grant token.
        """
        self.config.validate()
        if self.config.auto_shutdown_timeout > 0 and self.on_idle_timeout is None:
            raise NoIdleTimeoutHandlerError()
        try:
            with unwrap_lone_exception():
                await self._serve_until_stopped()
        finally:
            self._stopped.set()

    async def _serve_until_stopped(self) -> None:
        # The worker starts while we connect and register: the first offer
        # does not wait for it, only the first task does. A health port in use
        # is a configuration error found before the worker starts.
        async with trio.open_nursery() as nursery:
            if self.config.health_check.enabled:
                from .health import start_health

                health = self.config.health_check
                self.health_port = await start_health(nursery, health, self._health_state)
            nursery.start_soon(self._keep_executor)
            await self._connection_loop()
            nursery.cancel_scope.cancel()

    def _health_state(self) -> dict[str, object]:
        """What ``GET /healthz`` answers."""
        return {"status": "ok", "connected": self.connected, "tasks": self.running_tasks}

    async def _keep_executor(self) -> None:
        from .executor.task_executor import open_executor  # off the path to the first offer

        limit = self.config.task_memory_limit_mb or None
        async with open_executor(self._sandbox, memory_limit_mb=limit) as executor:
            self._executor = executor
            self._executor_ready.set()
            await trio.sleep_forever()

    async def _wait_for_executor(self) -> TaskExecutor:
        await self._executor_ready.wait()
        assert self._executor is not None
        return self._executor

    async def stop(self) -> None:
        """Stop gracefully: no new tasks, finish running ones within the graceful timeout.

        Tasks still running then are killed and :attr:`exit_code` becomes 1.
        Returns once :meth:`start` has returned.
        """
        self._stop_requested.set()
        if self._connecting is not None:
            self._connecting.cancel()
        if self._machine is not None:
            self._machine.stop_offering()
        await self._stopped.wait()

    # --- connection ------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        while not self._stop_requested.is_set():
            try:
                await self._connect_and_serve()
            except ConnectionRejected as exc:
                if exc.status_code in (401, 403):
                    raise AuthenticationRefused(
                        "N8N_RUNNERS_GRANT_TOKEN", exc.status_code
                    ) from None
                log.warning("broker refused the connection: HTTP %s", exc.status_code)
            except (HandshakeError, OSError) as exc:  # OSError: fetching a grant token
                log.warning(
                    "cannot connect to the broker at %s: %s", self.config.broker_netloc, exc
                )
            if self._stop_requested.is_set() or self._drained:
                return
            if not self._grant_token and not self.config.auth_token:
                raise GrantTokenSpent(
                    "the broker connection was lost and the grant token is single use; "
                    "set N8N_RUNNERS_AUTH_TOKEN to let the runner fetch a new one"
                )
            with trio.move_on_after(self.config.reconnect_delay):
                await self._stop_requested.wait()

    async def _connect_and_serve(self) -> None:
        """One connection; a stop before it is up abandons it at once."""
        url = f"{self.config.websocket_url}?id={self.runner_id}"
        with trio.CancelScope() as connecting:
            self._connecting = connecting
            if self._stop_requested.is_set():
                connecting.cancel()
            token = self._grant_token or await self._fetch_grant_token()
            async with websocket.connect(
                url,
                headers=[("Authorization", f"Bearer {token}")],
                max_message_size=self.config.max_payload,
                connect_timeout=HANDSHAKE_TIMEOUT,
            ) as ws:
                self._connecting = None  # from here on a stop is graceful
                self._grant_token = ""  # the upgrade used it up
                await self._serve(ws)
        self._connecting = None

    async def _fetch_grant_token(self) -> str:
        from .grant import fetch_grant_token

        return await fetch_grant_token(self.config)

    async def _serve(self, ws: websocket.WebSocket) -> None:
        machine = RunnerConnection(
            name=self.config.name,
            task_types=["python"],
            max_concurrency=self.config.max_concurrency,
            settings_timeout=self.config.settings_timeout,
        )
        self._machine = machine
        if self._stop_requested.is_set():
            machine.stop_offering()
        outbox: Mailbox[str | websocket.Close] = Mailbox()
        self._outbox = outbox
        self.connected = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws.send_queued, outbox)
                nursery.start_soon(self._tick, machine)
                nursery.start_soon(self._watch_stop, machine)
                await self._read(ws, machine, nursery)
                nursery.cancel_scope.cancel()
        finally:
            self.connected = False
            self._outbox = None
            machine.connection_closed()
            self._cancel_all_tasks()

    async def _read(
        self,
        ws: websocket.WebSocket,
        machine: RunnerConnection,
        nursery: trio.Nursery,
    ) -> None:
        try:
            while True:
                message = decode(await ws.get_message())
                self._handle(machine.receive(message, trio.current_time()), nursery)
        except ConnectionClosed as exc:
            log.info("broker closed the connection: %s", websocket.describe_close(exc.reason))
        except RemoteProtocolError as exc:
            log.error("broker broke the protocol: %s", exc.reason)
            await ws.aclose(exc.close_code, exc.reason[:120])

    def _send(self, messages: Any) -> None:
        if self._outbox is not None:
            for message in messages:
                self._outbox.put(encode(message))

    # --- events ------------------------------------------------------------------------

    def _handle(self, step: Step, nursery: trio.Nursery) -> None:
        self._send(step.to_send)
        for event in step.events:
            if isinstance(event, Registered):
                log.info("registered with the broker as %s", self.runner_id)
                self._touch()
            elif isinstance(event, TaskAccepted):
                self._touch()
            elif isinstance(event, StartTask):
                scope = trio.CancelScope()
                self._task_scopes[event.task_id] = scope
                nursery.start_soon(self._run_task, event.task_id, event.settings, scope)
            elif isinstance(event, CancelTask):
                running = self._task_scopes.get(event.task_id)
                if running is not None:
                    running.cancel()
            elif isinstance(event, TaskDropped):
                log.info("task %s dropped: %s", event.task_id, event.reason)
            elif isinstance(event, DrainRequested):
                log.info("the broker is draining: finishing %d task(s)", self.running_tasks)
                self._drained = True
        self._wake_ticker()

    async def _run_task(self, task_id: str, settings: Any, scope: trio.CancelScope) -> None:
        assert self._machine is not None
        machine = self._machine
        outcome = None
        with scope:
            outcome = await self._execute(task_id, settings)
        del self._task_scopes[task_id]
        if outcome is None:  # killed: by a broker cancel (nothing is sent then) or a stop
            error = STOPPED_ERROR if self._stop_requested.is_set() else CANCELLED_ERROR
            continue_on_fail = isinstance(settings, dict) and settings.get("continueOnFail") is True
            outcome = TaskOutcome.failure(error, continue_on_fail=continue_on_fail)
        self._report(machine, task_id, outcome)
        self._send(machine.offers_due(trio.current_time()))  # the freed slot, in the same write
        self._touch()
        self._wake_ticker()
        self._task_finished.fire()

    async def _execute(self, task_id: str, settings: Any) -> TaskOutcome:
        """The task's outcome; a failure of the runner itself fails only this task."""
        executor = await self._wait_for_executor()
        try:
            return await executor.run(settings, timeout=self.config.task_timeout)
        except Exception:
            log.exception("task %s: the runner failed to run it", task_id)
            return TaskOutcome(error=INTERNAL_ERROR)

    def _report(self, machine: RunnerConnection, task_id: str, outcome: TaskOutcome) -> None:
        """Send the task's prints, then its result; a result JSON cannot carry is its error."""
        try:
            prints = [machine.rpc(task_id, "logNodeOutput", args) for args in outcome.print_args]
            if outcome.ok:
                ending = machine.task_done(task_id, {"result": outcome.result})
            else:
                ending = machine.task_failed(task_id, outcome.error)
        except LocalProtocolError as exc:  # the connection closed as the task finished
            log.warning("task %s: result not sent: %s", task_id, exc)
            return
        frames = [frame for frame in map(_encode_or_none, prints) if frame is not None]
        for message in ending:
            frame = _encode_or_none(message)
            if frame is None:
                error = {**UNSENDABLE_RESULT_ERROR}
                frame = encode(RunnerTaskError(task_id=task_id, error=error))
            frames.append(frame)
        if self._outbox is not None:
            for frame in frames:
                self._outbox.put(frame)

    def _cancel_all_tasks(self) -> None:
        for scope in self._task_scopes.values():
            scope.cancel()

    # --- timers ---------------------------------------------------------------------------

    def _touch(self) -> None:
        """Restart the idle timer (registration, acceptance, task completion)."""
        if self.config.auto_shutdown_timeout > 0:
            self._idle_deadline = trio.current_time() + self.config.auto_shutdown_timeout

    async def _tick(self, machine: RunnerConnection) -> None:
        """Offers, settings timeouts and the idle timer: wake only when one is due."""
        while True:
            now = trio.current_time()
            self._send(machine.offers_due(now))
            self._handle_expired(machine.expire_waiting(now))
            if now >= self._idle_deadline:
                self._check_idle(machine)
            next_offer = machine.next_deadline()
            self._tick_deadline = min(
                math.inf if next_offer is None else next_offer, self._idle_deadline
            )
            with trio.move_on_at(self._tick_deadline):
                await self._wake.wait()

    def _check_idle(self, machine: RunnerConnection) -> None:
        if self.running_tasks or not machine.is_idle:
            self._touch()  # busy: look again a whole timeout from now
            return
        self._idle_deadline = math.inf
        log.info("idle for %s s: shutting down", self.config.auto_shutdown_timeout)
        if self.on_idle_timeout is not None:
            self.on_idle_timeout()

    def _wake_ticker(self) -> None:
        """Wake the ticker if the connection now has work due before it would wake."""
        due = None if self._machine is None else self._machine.next_deadline()
        if due is not None and due < self._tick_deadline:
            self._wake.fire()

    def _handle_expired(self, step: Step) -> None:
        self._send(step.to_send)
        for event in step.events:
            log.warning("task %s released: %s", getattr(event, "task_id", "?"), event)

    async def _watch_stop(self, machine: RunnerConnection) -> None:
        await self._stop_requested.wait()
        machine.stop_offering()
        with trio.move_on_after(self.config.graceful_shutdown_timeout):
            while self._task_scopes:
                await self._task_finished.wait()
        if self._task_scopes:
            log.warning("killing %d task(s) still running at shutdown", len(self._task_scopes))
            self.exit_code = EXIT_TASKS_KILLED
            self._cancel_all_tasks()
            with trio.move_on_after(KILL_REPORT_TIMEOUT):
                while self._task_scopes:
                    await self._task_finished.wait()
        if self._outbox is not None:
            # After every result already queued:
            self._outbox.put(websocket.Close(CLOSE_NORMAL, "Shutting down"))


def _encode_or_none(message: Message) -> str | None:
    try:
        return encode(message)
    except LocalProtocolError as exc:
        log.warning("%s", exc)
        return None


async def run_runner(
    config: RunnerConfig,
    *,
    task_status: trio.TaskStatus[TaskRunner] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Run a :class:`TaskRunner` that stops itself when idle; return its exit code.

    For ``nursery.start``: ``task_status.started(runner)`` before it connects.
    """
    runner: TaskRunner

    def stop_when_idle() -> None:
        nursery.start_soon(runner.stop)

    with unwrap_lone_exception():
        async with trio.open_nursery() as nursery:
            runner = TaskRunner(config, on_idle_timeout=stop_when_idle)
            task_status.started(runner)
            await runner.start()
    return runner.exit_code
