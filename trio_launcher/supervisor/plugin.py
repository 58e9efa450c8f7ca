"""One plugin's lifecycle: start, readiness, restart policy with backoff, stop.

A :class:`Plugin` is started with :meth:`Plugin.start`, which launches a
*run* in the supervisor's nursery. A run loops: prepare (credentials, log
file), run one :class:`~.attempt.Attempt` (the child, spawned with
:func:`~trio_launcher.process.run_child`, and its readiness check) until the
child exits, then either finish or back off and start another, as the
restart policy says. :meth:`Plugin.stop` cancels the run; ``run_child`` then
terminates the whole process group (TERM, grace period, KILL). The child's
output goes through a :class:`~.plugin_output.PluginOutput`.

A run's cancel scope is shielded: cancelling the supervisor does not stop
plugins all at once. The supervisor stops them one by one, in reverse start
order, with :meth:`Plugin.stop`.

Where a plugin is in all this is one :class:`~.lifecycle.Lifecycle` state, and
every change goes through :data:`~.lifecycle.LIFECYCLE_TRANSITIONS`.
"""

from __future__ import annotations

import itertools
import logging
import os
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from random import Random

import attrs
import trio

from ..process import ChildProcess, ExitStatus, ResourceSample, run_child
from ..pulse import Pulse
from . import lifecycle
from .attempt import Attempt, AttemptHooks, ChildSpec, Spawn
from .credentials import ensure_credentials
from .events import (
    BackingOff,
    Crashed,
    EventBus,
    Failed,
    GaveUp,
    Ready,
    Restarted,
    Started,
    Stopped,
    ThresholdExceeded,
)
from .inventory import PluginEntry
from .lifecycle import LIFECYCLE_TRANSITIONS, Lifecycle, PluginState, shown_as
from .monitor import ThresholdTracker
from .plugin_output import PluginOutput
from .plugin_settings import PluginConfig, RestartPolicy
from .status import PluginStatus

__all__ = ["Plugin", "PluginContext", "PluginError"]

logger = logging.getLogger("trio_launcher.supervisor")

#: Environment variable giving a plugin its own name.
PLUGIN_NAME_ENV = "TRIO_LAUNCHER_PLUGIN"


class PluginError(Exception):
    """A plugin cannot be started or is unknown."""


@attrs.define
class PluginContext:
    """What all plugins of one supervisor share."""

    bus: EventBus
    nursery: trio.Nursery
    logs_dir: Path
    credentials_dir: Path | None
    base_dir: Path
    spawn: Spawn = run_child
    random: Random | None = None
    #: Numbers the runs of all plugins in the order they were launched.
    launch_numbers: Iterator[int] = attrs.Factory(lambda: itertools.count(1))


class Plugin:
    """One supervised plugin; see the module docstring."""

    def __init__(self, entry: PluginEntry, context: PluginContext) -> None:
        self.entry = entry
        self._ctx = context
        if entry.problem is None:
            self._life, self._shown = Lifecycle.STOPPED, PluginState.STOPPED
        else:
            self._life, self._shown = Lifecycle.FAILED, PluginState.FAILED
        self._last_error = entry.problem or ""
        self._since = time.time()
        self._pid: int | None = None
        self._starts = self._restarts = 0
        self._usage: ResourceSample | None = None
        self._backoff = entry.config.backoff.make(context.random)
        self._tracker = ThresholdTracker(entry.config.limits)
        self._output = PluginOutput(entry.name)
        self._lock = trio.Lock()
        self.launch_order = 0
        # The current run, if any, and its current attempt (one child process).
        self._run_scope: trio.CancelScope | None = None
        self._run_ended = Pulse()
        self._current: Attempt | None = None
        self._hooks = AttemptHooks(
            on_output=self._on_output,
            on_started=self._on_started,
            on_readiness=self._on_readiness,
            on_exit=self._on_exit,
        )
        self._outcome = Pulse()  # fired when the current attempt's outcome is known
        self._skip_backoff = Pulse()
        #: Whether the current (or last) attempt's process became ready.
        self._attempt_ready = False
        #: Attempts in a row that were not spawned or ended before they were ready.
        self._failed_starts = 0
        self._restart_reason: str | None = None  # why the child is stopped to restart it
        self._next_reason: str | None = None  # reason to report with the next start

    def __repr__(self) -> str:
        return f"<Plugin {self.name} {self._life.name} pid={self._pid}>"

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.entry.name

    @property
    def config(self) -> PluginConfig:
        """The plugin's settings."""
        return self.entry.config

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if any."""
        return self._pid

    @property
    def lifecycle(self) -> Lifecycle:
        """Where the plugin is in its life."""
        return self._life

    @property
    def active(self) -> bool:
        """True from :meth:`start` until the plugin is stopped or has given up."""
        return self._life not in (Lifecycle.STOPPED, Lifecycle.FAILED)

    @property
    def log_path(self) -> Path | None:
        """The plugin's log file, or None if it does not log to a file."""
        if not self.config.log.to_file:
            return None
        return self._ctx.logs_dir / f"{self.name}.log"

    def status(self) -> PluginStatus:
        """A snapshot of the plugin's state."""
        usage = self._usage
        log_path = self.log_path
        return PluginStatus(
            name=self.name,
            status=self._shown,
            pid=self._pid,
            starts=self._starts,
            restarts=self._restarts,
            ready=self._attempt_ready and self._pid is not None,
            cpu_percent=None if usage is None else round(usage.cpu_percent, 1),
            memory_bytes=None if usage is None else usage.rss_bytes,
            since=self._since,
            last_error=self._last_error,
            log_file=None if log_path is None else str(log_path),
        )

    def update_entry(self, entry: PluginEntry) -> None:
        """Take a new inventory entry (used from the next start on)."""
        old, self.entry = self.entry, entry
        if entry.config.backoff != old.config.backoff:
            self._backoff = entry.config.backoff.make(self._ctx.random)
        self._tracker.limits = entry.config.limits
        if self.active:
            return
        if entry.problem is not None:
            self._advance(lifecycle.REFUSED, error=entry.problem)
        elif old.problem is not None and self._life is Lifecycle.FAILED:
            self._advance(lifecycle.CONFIG_FIXED, error="")

    async def start(self) -> PluginStatus:
        """Start the plugin if needed; return once it is ready or its attempt failed.

        Starting a plugin that is backing off starts it right away.

        Raises:
            PluginError: the plugin cannot be started (no executable, refused config).
        """
        async with self._lock:
            if self._life is Lifecycle.STOPPING:
                await self._wait_run_ended()
            if not self.active:
                if self.entry.command is None:
                    problem = self.entry.problem or "cannot be started"
                    self._advance(lifecycle.REFUSED, error=problem)
                    raise PluginError(f"{self.name}: {problem}")
                self._backoff.reset()
                self._launch()
            elif self._life in (Lifecycle.RUNNING, Lifecycle.RESTARTING):
                return self.status()
            elif self._life is Lifecycle.BACKOFF:
                self._backoff.reset()
                self._failed_starts = 0
                self._skip_backoff.fire()
            await self._outcome.wait()
        return self.status()

    async def stop(self) -> PluginStatus:
        """Stop the plugin (TERM, grace period, KILL) and disable its restarts."""
        if self._run_scope is not None:
            self._advance(lifecycle.STOP)
            self._run_scope.cancel()
            await self._wait_run_ended()
        return self.status()

    def cancel_restarts(self) -> None:
        """Restart no more: a backoff ends now, a running child is let be until stopped.

        The supervisor calls it on every plugin before stopping them one by
        one, so that no backoff timer fires and restarts a plugin meanwhile.
        """
        if self._run_scope is None:
            return
        self._advance(lifecycle.STOP)
        if self._current is None:  # backing off, or about to spawn
            self._run_scope.cancel()

    async def restart(self) -> PluginStatus:
        """Stop the plugin if it is running, then start it."""
        was_active = self.active
        await self.stop()
        if was_active:
            self._next_reason = "requested"
        return await self.start()

    def record_usage(self, pid: int, now: float, sample: ResourceSample | None) -> None:
        """Take a resource sample of process tree ``pid`` (from the monitor)."""
        if pid != self._pid:
            return
        self._usage = sample
        if sample is None:
            return
        for exceeded in self._tracker.update(now, sample):
            self._ctx.bus.publish(
                ThresholdExceeded(
                    name=self.name,
                    pid=pid,
                    resource=exceeded.resource,
                    value=exceeded.value,
                    limit=exceeded.limit,
                    duration=round(exceeded.duration, 3),
                )
            )
            self._last_error = f"{exceeded.resource} over the limit for {exceeded.duration:.1f}s"
            self._restart_in_place(f"{exceeded.resource} threshold")

    def close(self) -> None:
        """Close the log file (the plugin must not be running)."""
        self._output.close()

    # -- the run ---------------------------------------------------------------

    def _launch(self) -> None:
        self._advance(lifecycle.START)
        self._failed_starts = 0
        self._restart_reason = None
        self._run_scope = trio.CancelScope(shield=True)
        self.launch_order = next(self._ctx.launch_numbers)
        self._ctx.nursery.start_soon(self._run, self._run_scope, name=f"plugin {self.name}")

    async def _run(self, scope: trio.CancelScope) -> None:
        try:
            with scope:
                await self._loop()
        finally:
            self._run_scope = None
            if self._life is Lifecycle.STOPPING:  # stopped with no process to wait for
                announce = self._shown is not PluginState.STOPPED
                self._advance(lifecycle.RUN_ENDED)
                if announce:
                    self._publish_stopped(None, None, "requested")
            self.close()
            self._wake_starters()
            self._run_ended.fire()

    async def _wait_run_ended(self) -> None:
        while self._run_scope is not None:
            await self._run_ended.wait()

    async def _loop(self) -> None:
        while True:
            result = await self._attempt()
            if self._life is not Lifecycle.EXITED:  # stopped
                return
            reason, self._restart_reason = self._restart_reason, None
            if reason is None:
                if not self._wants_restart(result):
                    failed = isinstance(result, str) or not result.ok
                    self._advance(lifecycle.FAILED if failed else lifecycle.FINISHED)
                    return
                if self._gives_up(result):
                    return
                reason = "exited" if isinstance(result, ExitStatus) and result.ok else "crashed"
            await self._back_off()
            self._next_reason = reason

    def _gives_up(self, result: ExitStatus | str) -> bool:
        """Count a failed start; past ``start_retries`` of them in a row, fail for good."""
        if self._attempt_ready:
            return False
        self._failed_starts += 1
        if self._failed_starts <= self.config.start_retries:
            return False
        error = result if isinstance(result, str) else f"ended before ready: {result}"
        self._advance(lifecycle.FAILED, error=error)
        self._ctx.bus.publish(GaveUp(name=self.name, tries=self._failed_starts, error=error))
        return True

    def _wants_restart(self, result: ExitStatus | str) -> bool:
        policy = self.config.restart
        if isinstance(result, ExitStatus) and result.ok:
            return policy is RestartPolicy.ALWAYS
        return policy is not RestartPolicy.NEVER

    async def _back_off(self) -> None:
        delay = self._backoff.next_delay()
        self._advance(lifecycle.BACK_OFF)
        self._ctx.bus.publish(
            BackingOff(name=self.name, delay=round(delay, 6), attempt=self._backoff.attempts)
        )
        with trio.move_on_after(delay):
            await self._skip_backoff.wait()
        self._advance(lifecycle.RETRY)

    async def _attempt(self) -> ExitStatus | str:
        """Run the child once; its exit status, or why it could not be started."""
        self._attempt_ready = False
        lines = self._output.watch(self.config.ready.line)
        try:
            spec = self._prepare()
        except PluginError as exc:
            return self._fail(str(exc))
        self._current = Attempt(self._ctx.spawn, spec, lines, self._hooks)
        try:
            result = await self._current.run()
        finally:
            self._current = None
        if isinstance(result, ExitStatus):
            return result
        return self._fail(str(result))

    def _on_readiness(self, pid: int, is_ready: bool) -> None:
        ready = self.config.ready
        if is_ready:
            self._attempt_ready = True
            self._failed_starts = 0
            self._last_error = ""  # healthy again
            self._advance(lifecycle.READY)
            self._ctx.bus.publish(Ready(name=self.name, pid=pid))
        else:
            self._last_error = f"not ready after {ready.timeout:g}s"
            logger.warning("%s: %s", self.name, self._last_error)
            self._advance(lifecycle.NOT_READY)
        self._wake_starters()

    def _prepare(self) -> ChildSpec:
        """Command, environment and folder of the next child; raises PluginError."""
        command = self.entry.command
        if command is None:
            raise PluginError(self.entry.problem or "cannot be started")
        env = {**os.environ, **self.config.env, PLUGIN_NAME_ENV: self.name}
        if self._ctx.credentials_dir is not None and self.config.credentials:
            try:
                env.update(ensure_credentials(self._ctx.credentials_dir, self.name).env())
            except OSError as exc:
                raise PluginError(f"cannot create credentials: {exc}") from None
        try:
            self._output.open(self.log_path, self.config.log)
        except OSError as exc:
            raise PluginError(f"cannot open log file: {exc}") from None
        cwd = self.config.cwd or self._ctx.base_dir
        return ChildSpec(command, env, cwd, self.config.grace_period, self.config.ready)

    def _on_output(self, stream: str, line: str) -> None:
        self._output.feed(stream, line, self.config.log)

    def _on_started(self, child: ChildProcess, command: tuple[str, ...]) -> None:
        self._starts += 1
        self._pid = child.pid
        self._usage = None
        self._tracker.reset()
        self._backoff.note_started(trio.current_time())
        self._advance(lifecycle.SPAWNED)
        self._output.record("supervisor", f"started pid {child.pid}: {shlex.join(command)}")
        bus = self._ctx.bus
        bus.publish(Started(name=self.name, pid=child.pid, starts=self._starts))
        if self._next_reason is not None:
            self._restarts += 1
            reason, self._next_reason = self._next_reason, None
            bus.publish(
                Restarted(name=self.name, pid=child.pid, reason=reason, starts=self._starts)
            )

    def _on_exit(self, pid: int, status: ExitStatus) -> None:
        self._pid = None
        self._usage = None
        self._backoff.note_stopped(trio.current_time(), self.config.backoff.reset_after)
        description = status.describe()
        self._output.record("supervisor", f"pid {pid} ended: {description}")
        was = self._life
        self._advance(lifecycle.EXITED)
        if was is Lifecycle.STOPPING:
            self._publish_stopped(pid, status, "requested")
        elif was is Lifecycle.RESTARTING:
            self._publish_stopped(pid, status, "restart")
        elif status.ok:
            self._publish_stopped(pid, status, "exited")
        else:
            self._last_error = description
            self._ctx.bus.publish(
                Crashed(
                    name=self.name,
                    pid=pid,
                    exit_code=status.returncode,
                    signal=status.signal,
                    error=description,
                )
            )
        self._wake_starters()

    def _publish_stopped(self, pid: int | None, status: ExitStatus | None, reason: str) -> None:
        self._ctx.bus.publish(
            Stopped(
                name=self.name,
                pid=pid,
                exit_code=None if status is None else status.returncode,
                signal=None if status is None else status.signal,
                reason=reason,
            )
        )

    def _fail(self, error: str) -> str:
        self._last_error = error
        self._output.record("supervisor", f"cannot start: {error}")
        self._advance(lifecycle.SPAWN_FAILED)
        self._ctx.bus.publish(Failed(name=self.name, error=error))
        self._wake_starters()
        return error

    def _wake_starters(self) -> None:
        """The current attempt is ready, failed or over: wake :meth:`start`."""
        self._outcome.fire()

    def _restart_in_place(self, reason: str) -> None:
        if self._life in (Lifecycle.STARTING, Lifecycle.RUNNING):
            assert self._current is not None
            self._advance(lifecycle.THRESHOLD)
            self._restart_reason = reason
            self._current.cancel()

    def _advance(self, trigger: str, *, error: str | None = None) -> None:
        """The one place the plugin's state changes (``since`` follows the status shown)."""
        self._life = LIFECYCLE_TRANSITIONS.advance(self._life, trigger)
        shown = shown_as(self._life, has_process=self._pid is not None, before=self._shown)
        if shown is not self._shown:
            self._shown, self._since = shown, time.time()
        if error is not None:
            self._last_error = error
