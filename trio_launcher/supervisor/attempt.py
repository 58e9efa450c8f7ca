"""One attempt of a plugin: one child process, from spawn to exit, with its readiness check.

:meth:`Attempt.run` spawns the child with the plugin's ``spawn``
(:func:`~trio_launcher.process.run_child` or a stand-in for tests), checks its
readiness while it runs (:func:`~.readiness.wait_ready`) and returns once it
has exited: its :class:`~trio_launcher.process.ExitStatus`, or the
:class:`~trio_launcher.process.SpawnError` that kept it from starting.
:meth:`Attempt.cancel` stops the child (TERM, grace period, KILL). The plugin
hears of each step through its :class:`AttemptHooks`; what it does then
(state, events, restarts) is the plugin's business.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import attrs
import trio

from ..process import ChildProcess, ExitStatus, OutputCallback, SpawnError
from .plugin_settings import Readiness
from .readiness import LineWatch, wait_ready

__all__ = ["Attempt", "AttemptHooks", "ChildSpec", "Spawn"]

#: Starts a child: :func:`~trio_launcher.process.run_child` or a stand-in for tests.
Spawn = Callable[..., Awaitable[ExitStatus]]


@attrs.frozen
class ChildSpec:
    """What one child is started with, and when it counts as ready."""

    command: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    grace_period: float
    ready: Readiness


@attrs.frozen
class AttemptHooks:
    """What the plugin is told: each output line, the start, the readiness, the exit."""

    on_output: OutputCallback
    on_started: Callable[[ChildProcess, tuple[str, ...]], None]
    #: ``(pid, ready)``: ready, or ``ready.timeout`` passed first.
    on_readiness: Callable[[int, bool], None]
    on_exit: Callable[[int, ExitStatus], None]


class Attempt:
    """One child process of a plugin; see the module docstring."""

    def __init__(self, spawn: Spawn, spec: ChildSpec, lines: LineWatch, hooks: AttemptHooks):
        self.spec = spec
        self._spawn = spawn
        self._lines = lines
        self._hooks = hooks
        self._scope = trio.CancelScope()
        self._status: ExitStatus | None = None  # what spawn returned, if it returned

    def cancel(self) -> None:
        """Stop the child (TERM, grace period, KILL); :meth:`run` then returns."""
        self._scope.cancel()

    async def run(self) -> ExitStatus | SpawnError | None:
        """Spawn the child, check its readiness and wait until it has exited.

        None if the attempt was cancelled before the child had started.
        """
        child: ChildProcess | None = None
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    try:
                        child = await nursery.start(self._run_child, nursery)
                    except SpawnError as exc:
                        return exc
                    self._hooks.on_started(child, self.spec.command)
                    nursery.start_soon(self._check_ready, child.pid)
        finally:
            if child is not None:
                self._hooks.on_exit(child.pid, self._exit_status(child))
        return None if child is None else self._exit_status(child)

    def _exit_status(self, child: ChildProcess) -> ExitStatus:
        # spawn's return value, or (when it was cancelled) the handle's status.
        return self._status or child.status or ExitStatus(signal=signal.SIGKILL)

    async def _run_child(
        self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[ChildProcess]
    ) -> None:
        spec = self.spec
        self._status = await self._spawn(
            spec.command,
            env=spec.env,
            cwd=spec.cwd,
            on_output=self._hooks.on_output,
            grace_period=spec.grace_period,
            task_status=task_status,
        )
        nursery.cancel_scope.cancel()  # the child is gone: stop the readiness check

    async def _check_ready(self, pid: int) -> None:
        spec = self.spec
        ready = await wait_ready(spec.ready, self._lines, env=spec.env, cwd=spec.cwd)
        self._hooks.on_readiness(pid, ready)
