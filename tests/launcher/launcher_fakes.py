"""Helpers for launcher tests: configs around the embedded broker and real runners."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from trio_launcher.broker import Broker
from trio_launcher.launcher import HealthProbe, Launcher, LauncherConfig, RunnerSpec, run_launcher
from trio_launcher.launcher.config import default_runner
from trio_launcher.process import Backoff

FAST_BACKOFF = Backoff(initial=0.05, maximum=0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def python_runner(**overrides: Any) -> RunnerSpec:
    spec = default_runner("python")
    assert spec is not None
    return attrs.evolve(spec, health_check_port=free_port(), **overrides)


def script_runner(code: str, runner_type: str = "python") -> RunnerSpec:
    """A 'runner' that is just a Python script (to crash, hang or misbehave)."""
    return RunnerSpec(
        runner_type=runner_type,
        command=sys.executable,
        args=("-c", code),
        workdir=os.getcwd(),
        health_check_port=free_port(),
    )


def launcher_config(broker: Broker, *specs: RunnerSpec, **overrides: Any) -> LauncherConfig:
    values: dict[str, Any] = {
        "auth_token": broker.auth_token,
        "runners": specs or (python_runner(),),
        "task_broker_uri": broker.url,
        "auto_shutdown_timeout": 30,
        "health_check_port": 0,
        "graceful_shutdown_timeout": 2.0,
        "environ": {**os.environ, "TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB": "0"},
    }
    values.update(overrides)
    return LauncherConfig(**values)


def code_task(code: str) -> dict[str, Any]:
    return {"code": code, "nodeMode": "runOnceForAllItems", "items": [{"json": {}}]}


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# --- running launchers in-process ------------------------------------------------------

#: The fake runner of a second task type (see fake_echo_runner.py).
ECHO_RUNNER_SCRIPT = Path(__file__).with_name("fake_echo_runner.py")


def echo_runner(**overrides: Any) -> RunnerSpec:
    """A runner of task type ``echo`` that answers each task with its settings."""
    values: dict[str, Any] = {
        "runner_type": "echo",
        "command": sys.executable,
        "args": (str(ECHO_RUNNER_SCRIPT),),
        "workdir": os.getcwd(),
        "health_check_port": free_port(),
    }
    values.update(overrides)
    return RunnerSpec(**values)


@asynccontextmanager
async def launching(
    config: LauncherConfig,
    *,
    backoff: Backoff = FAST_BACKOFF,
    probe: HealthProbe | None = None,
) -> AsyncIterator[Launcher]:
    """Run a launcher for the duration of the block, then cancel it."""
    async with trio.open_nursery() as nursery:
        launcher: Launcher = await nursery.start(
            partial(run_launcher, config, backoff=backoff, probe=probe)
        )
        yield launcher
        nursery.cancel_scope.cancel()


# --- the command line in a subprocess -------------------------------------------------


def cli_command(*args: str) -> list[str]:
    """``trio-launcher ARGS...`` run by this interpreter (no console script needed)."""
    code = "import sys; from trio_launcher.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, *args]


def cli_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any n8n or trio-launcher setting, plus ``settings``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("N8N_", "TRIO_LAUNCHER_"))
    }
    env.update(settings)
    return env


class OutputLines:
    """``on_output`` for run_child: records every line and lets a test wait for one."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._changed = trio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        self._changed.set()
        self._changed = trio.Event()

    def of(self, stream: str) -> list[str]:
        return [line for name, line in self.lines if name == stream]

    async def wait_for(self, text: str) -> str:
        """Wait for a line (either stream) containing ``text`` and return it."""
        seen = 0
        while True:
            for _, line in self.lines[seen:]:
                if text in line:
                    return line
            seen = len(self.lines)
            await self._changed.wait()


def open_pidfds(pids: Iterable[int]) -> dict[int, int]:
    """A pidfd per live process (pid -> fd): it stays valid even if the pid is reused."""
    fds = {}
    for pid in pids:
        try:
            fds[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
    return fds


def has_exited(pidfd: int) -> bool:
    """Whether the process behind ``pidfd`` has exited (zombies count): its pidfd is readable."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


async def wait_exited(pidfds: dict[int, int]) -> None:
    """Wait until every process behind ``pidfds`` has exited."""
    for fd in pidfds.values():
        await trio.lowlevel.wait_readable(fd)


def close_pidfds(pidfds: dict[int, int]) -> None:
    """SIGKILL any process still running (a failing test leaks nothing), close the fds."""
    for fd in pidfds.values():
        if not has_exited(fd):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        os.close(fd)
