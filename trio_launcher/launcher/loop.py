"""The lifecycle loop of one runner type: wait, grant, handshake, launch, wait for exit.

Each phase is its own function with its own scope, and every change of phase
goes through :data:`~.phases.PHASE_TRANSITIONS`. The runner child lives
inside the loop's scope, so cancelling the loop stops the runner's whole
process group before the loop returns.
"""

from __future__ import annotations

import logging

import attrs
import httpx
import trio

from ..broker_uri import broker_http_url, broker_websocket_url
from ..process import Backoff, ChildProcess, ExitStatus
from ..protocol.transitions import IllegalTransition
from ..pulse import Pulse
from ..transport.http_client import broker_http_client
from . import phases
from .broker_client import fetch_grant_token, handshake, wait_for_broker
from .config import LauncherConfig, RunnerSpec
from .environment import runner_environment
from .errors import LauncherError, RunnerStartFailed
from .phases import PHASE_TRANSITIONS, Phase
from .runner_child import HealthProbe, run_runner_process

__all__ = ["RunnerTypeLoop", "RunnerTypeStatus"]

log = logging.getLogger(__name__)

SHUTDOWN_MARGIN = 5.0


@attrs.frozen
class RunnerTypeStatus:
    """A snapshot of one runner type's loop."""

    runner_type: str
    phase: Phase
    since: float
    pid: int | None = None
    reason: str | None = None
    retry_in: float | None = None
    launches: int = 0
    last_exit: str | None = None
    #: The broker answered and accepted the auth token, and has not failed since.
    broker_ready: bool = False

    def as_json(self) -> dict[str, object]:
        """The snapshot as a JSON-ready dict."""
        data = attrs.asdict(self)
        data["phase"] = self.phase.value
        return data


class RunnerTypeLoop:
    """Runs the on-demand lifecycle of one runner type forever (until cancelled)."""

    def __init__(
        self, config: LauncherConfig, spec: RunnerSpec, *, probe: HealthProbe, backoff: Backoff
    ) -> None:
        self._config = config
        self._spec = spec
        self._probe = probe
        self._backoff = backoff
        self._base_url = broker_http_url(config.task_broker_uri)
        self._logged_problem: str | None = None
        self._changed = Pulse()
        self.status = RunnerTypeStatus(spec.runner_type, Phase.WAITING_FOR_BROKER, 0.0)

    async def wait_for_phase(self, phase: Phase) -> RunnerTypeStatus:
        """Return the status once the loop enters ``phase`` (now, if it is there)."""
        while self.status.phase is not phase:
            await self._changed.wait()
        return self.status

    async def wait_until_broker_ready(self) -> RunnerTypeStatus:
        """Return the status once the broker has accepted the auth token (now, if it has)."""
        while not self.status.broker_ready:
            await self._changed.wait()
        return self.status

    async def wait_for_change(self) -> RunnerTypeStatus:
        """Return the status after the loop's next phase change."""
        await self._changed.wait()
        return self.status

    async def run(self) -> None:
        """Loop: every phase failure goes through the same capped backoff.

        An illegal phase change is a bug in the loop: it ends the loop.
        """
        self.status = attrs.evolve(self.status, since=trio.current_time())
        async with broker_http_client(self._config.task_broker_uri) as http:
            while True:
                try:
                    exit_status = await self._one_cycle(http)
                except IllegalTransition:
                    raise
                except LauncherError as exc:
                    if not isinstance(exc, RunnerStartFailed):
                        self.status = attrs.evolve(self.status, broker_ready=False)
                    await self._back_off(str(exc))
                    continue
                except Exception as exc:  # a bug must not end the launcher either
                    log.exception("[launcher:%s] unexpected failure", self._type)
                    self.status = attrs.evolve(self.status, broker_ready=False)
                    await self._back_off(f"unexpected failure: {exc!r}")
                    continue
                self._log_recovered()
                if exit_status.ok:
                    self._backoff.reset()
                    self._enter(phases.RUNNER_EXITED)
                else:
                    await self._back_off(f"runner {exit_status.describe()}")

    async def _one_cycle(self, http: httpx.AsyncClient) -> ExitStatus:
        await wait_for_broker(http, self._base_url)
        self._enter(phases.BROKER_ANSWERED)
        grant = await fetch_grant_token(http, self._base_url, self._config.auth_token)
        self.status = attrs.evolve(self.status, broker_ready=True)
        self._enter(phases.GRANTED)
        url = broker_websocket_url(self._config.task_broker_uri)
        task_id = await handshake(url, self._spec.runner_type, grant)
        self._enter(phases.TASK_WAITING)
        log.info("[launcher:%s] task %s is waiting; starting the runner", self._type, task_id)
        self._log_recovered()
        return await self._launch(http)

    async def _launch(self, http: httpx.AsyncClient) -> ExitStatus:
        grant = await fetch_grant_token(http, self._base_url, self._config.auth_token)
        env = runner_environment(self._config, self._spec, grant)
        started = trio.current_time()
        status = await run_runner_process(
            self._spec,
            env,
            probe=self._probe,
            grace_period=self._config.graceful_shutdown_timeout + SHUTDOWN_MARGIN,
            on_started=self._on_runner_started,
        )
        took = trio.current_time() - started
        if status.ok:
            log.info("[launcher:%s] runner exited on idle timeout after %.1f s", self._type, took)
        else:
            log.error("[launcher:%s] runner %s after %.1f s", self._type, status.describe(), took)
        self.status = attrs.evolve(self.status, pid=None, last_exit=status.describe())
        return status

    def _on_runner_started(self, child: ChildProcess) -> None:
        self._enter(phases.RUNNER_STARTED, pid=child.pid)
        self.status = attrs.evolve(self.status, launches=self.status.launches + 1)
        log.info("[launcher:%s] runner started, pid %d", self._type, child.pid)

    async def _back_off(self, reason: str) -> None:
        delay = self._backoff.next_delay()
        self._enter(phases.FAILED, reason=reason, retry_in=delay)
        if reason != self._logged_problem:
            log.warning("[launcher:%s] %s; retrying in %.1f s", self._type, reason, delay)
            self._logged_problem = reason
        await trio.sleep(delay)
        self._enter(phases.RETRY)

    def _log_recovered(self) -> None:
        if self._logged_problem is not None:
            log.info("[launcher:%s] recovered from: %s", self._type, self._logged_problem)
            self._logged_problem = None

    def _enter(
        self,
        trigger: str,
        *,
        pid: int | None = None,
        reason: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        """Change phase as the table says ``trigger`` does, and wake whoever waits for it."""
        self.status = attrs.evolve(
            self.status,
            phase=PHASE_TRANSITIONS.advance(self.status.phase, trigger),
            since=trio.current_time(),
            pid=pid,
            reason=reason,
            retry_in=retry_in,
        )
        self._changed.fire()

    @property
    def _type(self) -> str:
        return self._spec.runner_type
