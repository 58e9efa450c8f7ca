"""``run_launcher``: one lifecycle loop per runner type, and the launcher's health endpoint."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping

import attrs
import trio

from ..config_error import ConfigError
from ..exception_groups import unwrap_lone_exception
from ..ports import cannot_listen_message
from ..process import Backoff
from ..transport.json_server import serve_json
from .config import LauncherConfig
from .loop import RunnerTypeLoop, RunnerTypeStatus
from .phases import Phase
from .runner_child import HealthProbe

__all__ = ["Launcher", "run_launcher"]

log = logging.getLogger(__name__)


@attrs.frozen
class LauncherStatistics:
    """A snapshot of every runner type's loop."""

    runners: Mapping[str, RunnerTypeStatus]

    @property
    def ready(self) -> bool:
        """Whether, for every runner type, the broker answers and accepted the auth token."""
        return all(status.broker_ready for status in self.runners.values())

    def as_json(self) -> dict[str, object]:
        """``{"status": "ok", "ready": .., "runners": {type: {...}}}``, as ``GET /healthz``."""
        runners = {t: s.as_json() for t, s in self.runners.items()}
        return {"status": "ok", "ready": self.ready, "runners": runners}


class Launcher:
    """Handle on a running launcher."""

    def __init__(self, loops: Mapping[str, RunnerTypeLoop]) -> None:
        self._loops = loops
        #: The port of the health endpoint once it listens (it may be OS-assigned).
        self.health_port: int | None = None

    def statistics(self) -> LauncherStatistics:
        """Where each runner type's loop is now."""
        return LauncherStatistics({t: loop.status for t, loop in self._loops.items()})

    async def wait_for_phase(self, runner_type: str, phase: Phase) -> RunnerTypeStatus:
        """Return once ``runner_type``'s loop is in ``phase``."""
        return await self._loops[runner_type].wait_for_phase(phase)

    async def wait_until_ready(self) -> None:
        """Return once the broker answers and accepted the auth token for every runner type."""
        while not self.statistics().ready:  # one may lose it while we wait for another
            for loop in self._loops.values():
                await loop.wait_until_broker_ready()

    async def wait_for_change(self, runner_type: str) -> RunnerTypeStatus:
        """Return the status of ``runner_type``'s loop after its next phase change."""
        return await self._loops[runner_type].wait_for_change()

    async def serve_health(
        self, host: str, port: int, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Serve ``GET /healthz``; :class:`ConfigError` naming the setting if it cannot listen."""
        async with trio.open_nursery() as nursery:
            routes = {"/healthz": lambda: self.statistics().as_json()}
            try:
                self.health_port = await nursery.start(serve_json, routes, host, port)
            except OSError as exc:
                problem = cannot_listen_message(
                    exc,
                    host=host,
                    port=port,
                    port_setting="N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT",
                    host_setting="N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_HOST",
                )
                raise ConfigError([problem]) from None
            task_status.started()


async def run_launcher(
    config: LauncherConfig,
    *,
    probe: HealthProbe | None = None,
    backoff: Backoff | None = None,
    serve_health: bool = True,
    task_status: trio.TaskStatus[Launcher] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Launch runners on demand until cancelled.

    One loop per runner type in ``config.runners``, each posing as a runner
    until the broker has a task of its type, then starting the real runner and
    waiting for it to exit. ``task_status.started(launcher)`` once the health
    endpoint listens (:class:`ConfigError`, naming the setting, if it cannot).
    Cancelling stops every runner's process group (TERM,
    grace, KILL) before returning. ``backoff`` is the retry policy: each
    runner type backs off on its own copy of it, so one type's failures
    never delay (or reset) another's retries.
    """
    for line in config.ignored_keys:
        log.warning("%s", line)
    probe = probe or HealthProbe(host=config.runner_health_host)
    policy = backoff or Backoff(initial=1.0, maximum=30.0)
    loops = {
        spec.runner_type: RunnerTypeLoop(config, spec, probe=probe, backoff=copy.deepcopy(policy))
        for spec in config.runners
    }
    launcher = Launcher(loops)
    with unwrap_lone_exception():
        async with trio.open_nursery() as nursery:
            if serve_health:
                await nursery.start(
                    launcher.serve_health, config.health_check_host, config.health_check_port
                )
            for loop in loops.values():
                nursery.start_soon(loop.run)
            task_status.started(launcher)
