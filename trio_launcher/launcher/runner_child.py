"""One run of a runner process: start it, log its output, probe its health, wait for exit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Final

import attrs
import httpx
import trio

from ..exception_groups import unwrap_lone_exception
from ..process import ChildProcess, ExitStatus, SpawnError, run_child
from ..transport.http_client import plain_http_client
from .config import RunnerSpec
from .errors import RunnerStartFailed

__all__ = ["HealthProbe", "run_runner_process"]

log = logging.getLogger("trio_launcher.runner_output")


@attrs.frozen(kw_only=True)
class HealthProbe:
    """How the runner's ``/healthz`` is probed (n8n: 3 s, then every 10 s, 6 failures)."""

    host: str = "127.0.0.1"
    initial_delay: float = 3.0
    interval: float = 10.0
    timeout: float = 5.0
    failures: int = 6


async def run_runner_process(
    spec: RunnerSpec,
    env: Mapping[str, str],
    *,
    probe: HealthProbe,
    grace_period: float,
    on_started: Callable[[ChildProcess], None],
) -> ExitStatus:
    """Run the runner until it exits; stop it (TERM, grace, KILL) if it stops answering.

    Cancellation stops the runner's whole process group before returning.
    """
    prefix = f"[runner:{spec.runner_type}]"
    levels = OutputLevels()

    def log_line(stream: str, line: str) -> None:
        level, message = levels.of(stream, line)
        log.log(level, "%s %s", prefix, message)

    command = [spec.command, *spec.args]
    with unwrap_lone_exception():
        async with trio.open_nursery() as nursery:
            try:
                child: ChildProcess = await nursery.start(
                    partial(
                        run_child,
                        command,
                        env=env,
                        cwd=spec.workdir,
                        on_output=log_line,
                        grace_period=grace_period,
                        # The runner makes task cgroups with a pids cap: no cgroup of ours.
                        own_cgroup=False,
                    )
                )
            except SpawnError as exc:
                raise RunnerStartFailed(f"{prefix} cannot start {spec.command!r}: {exc}") from None
            on_started(child)
            nursery.start_soon(_watch_health, child, spec, probe)
            status = await child.wait()
            nursery.cancel_scope.cancel()
    return status


class OutputLevels:
    """The log level of each output line of a runner.

    A line that starts with a level name (``ERROR ...``, as our runner writes
    when piped) is logged at that level without it; an indented line goes on
    the record before it (a traceback, a list of problems) and keeps its
    level; any other line is INFO on stdout and ERROR on stderr, as n8n's
    launcher logs stderr.
    """

    NAMES: Final = {
        "DEBUG": logging.DEBUG,
        "INFO": logging.INFO,
        "WARNING": logging.WARNING,
        "WARN": logging.WARNING,
        "ERROR": logging.ERROR,
        "CRITICAL": logging.CRITICAL,
    }
    STREAMS: Final = {"stdout": logging.INFO, "stderr": logging.ERROR}

    def __init__(self) -> None:
        self._last = dict(self.STREAMS)

    def of(self, stream: str, line: str) -> tuple[int, str]:
        """``(level, message)`` for one line of ``stream``."""
        name, _, rest = line.partition(" ")
        level = self.NAMES.get(name)
        if level is not None:
            self._last[stream] = level
            return level, rest
        if line[:1].isspace():
            return self._last[stream], line
        self._last[stream] = self.STREAMS[stream]
        return self._last[stream], line


async def _watch_health(child: ChildProcess, spec: RunnerSpec, probe: HealthProbe) -> None:
    url = f"http://{probe.host}:{spec.health_check_port}/healthz"
    failures = 0
    await trio.sleep(probe.initial_delay)
    async with plain_http_client(timeout=probe.timeout) as http:
        while True:
            failures = 0 if await _healthy(http, url) else failures + 1
            if failures >= probe.failures:
                log.warning(
                    "[launcher:%s] runner pid %d failed %d health checks; stopping it",
                    spec.runner_type,
                    child.pid,
                    failures,
                )
                await child.terminate()
                return
            await trio.sleep(probe.interval)


async def _healthy(http: httpx.AsyncClient, url: str) -> bool:
    try:
        response = await http.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
