"""``trio-launcher launch`` as a process: n8n's environment in, a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import trio
from launcher_fakes import (
    OutputLines,
    cli_command,
    cli_environment,
    close_pidfds,
    code_task,
    free_port,
    has_exited,
    open_pidfds,
    wait_exited,
)

from trio_launcher.broker import Broker, TaskError
from trio_launcher.process import ExitStatus, run_child

HANG_GUARD = 60
TASK_RUNNING = "task process is running"
#: Writes straight to the task process's fd 2, which the launcher logs as a runner line.
BLOCKING_TASK = f"""
import os, time
os.write(2, b"{TASK_RUNNING}\\n")
time.sleep(600)
return []
"""


def runner_entry(workdir: Path, **fields: Any) -> dict[str, Any]:
    """A ``python`` entry running our runner, its sandbox opened for the blocking task."""
    return {
        "runner-type": "python",
        "workdir": str(workdir),
        "command": sys.executable,
        "args": ["-m", "trio_launcher.runner"],
        "health-check-server-port": str(free_port()),
        "allowed-env": [
            "PATH",
            "HOME",
            "VIRTUAL_ENV",
            "PYTHONPATH",
            "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT",
            "TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB",
        ],
        "env-overrides": {"N8N_RUNNERS_STDLIB_ALLOW": "os,time", "N8N_RUNNERS_BUILTINS_DENY": ""},
        **fields,
    }


def write_config(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"task-runners": list(entries)}))
    return path


def launcher_environment(broker: Broker, config_path: Path, **settings: str) -> dict[str, str]:
    return cli_environment(
        N8N_RUNNERS_AUTH_TOKEN=broker.auth_token,
        N8N_RUNNERS_TASK_BROKER_URI=broker.url,
        N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT=str(free_port()),
        N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT="1",
        N8N_RUNNERS_CONFIG_PATH=str(config_path),
        TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB="0",
        **settings,
    )


@asynccontextmanager
async def launcher_process(env: dict[str, str], output: OutputLines) -> AsyncIterator[trio.Process]:
    """``trio-launcher launch python`` as a plain child: no process group or cgroup of ours
    kills what it leaves behind, so only its own ties to its children are tested."""
    launcher = await trio.lowlevel.open_process(
        cli_command("launch", "python"), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    async def pump(stream: trio.abc.ReceiveStream) -> None:
        buffer = b""
        while data := await stream.receive_some():
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                output("stdout", line.decode(errors="replace"))

    try:
        async with trio.open_nursery() as nursery:
            assert launcher.stdout is not None
            nursery.start_soon(pump, launcher.stdout)
            yield launcher
            nursery.cancel_scope.cancel()
    finally:
        launcher.kill()
        await launcher.wait()


@pytest.mark.parametrize(
    ("signum", "expected"),
    [
        (signal.SIGTERM, ExitStatus(returncode=0)),
        (signal.SIGHUP, ExitStatus(returncode=0)),
        (signal.SIGKILL, ExitStatus(signal=signal.SIGKILL)),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGKILL"],
)
async def test_a_stop_signal_or_sigkill_leaves_nothing_of_the_runner_tree(
    broker: Broker, tmp_path: Path, signum: int, expected: ExitStatus
) -> None:
    config_path = write_config(tmp_path / "n8n-task-runners.json", runner_entry(tmp_path))
    env = launcher_environment(broker, config_path)
    health_url = f"http://127.0.0.1:{env['N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT']}/healthz"
    output = OutputLines()
    outcome: list[object] = []

    async def submit() -> None:
        try:
            outcome.append(await broker.run_task("python", code_task(BLOCKING_TASK)))
        except TaskError as exc:
            outcome.append(exc)

    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery, launcher_process(env, output) as launcher:
            await output.wait_for("launcher ready")
            nursery.start_soon(submit)
            await output.wait_for(TASK_RUNNING)
            async with httpx.AsyncClient() as http:
                health = (await http.get(health_url)).json()
            python = health["runners"]["python"]
            assert python["phase"] == "runner_running"
            runner_pid = python["pid"]
            tree = [runner_pid, *(p.pid for p in psutil.Process(runner_pid).children(True))]
            pidfds = open_pidfds(tree)  # held: a pid reused meanwhile cannot fool us
            try:
                os.kill(launcher.pid, signum)
                status = ExitStatus.from_returncode(await launcher.wait())
                # Processes killed by PR_SET_PDEATHSIG die a moment after their parent.
                with trio.move_on_after(HANG_GUARD / 2):  # hang guard, not a deadline
                    await wait_exited(pidfds)
                left = [pid for pid, fd in pidfds.items() if not has_exited(fd)]
            finally:
                close_pidfds(pidfds)

    assert status == expected, output.lines
    # The runner, its worker, the task process and the worker's spare task process.
    assert len(tree) >= 3
    assert set(pidfds) == set(tree)
    assert left == []
    # The task did not hang: the broker reported it as failed once the runner was gone.
    assert len(outcome) == 1 and isinstance(outcome[0], TaskError)


async def test_a_config_error_exits_2_naming_the_key(broker: Broker, tmp_path: Path) -> None:
    config_path = write_config(
        tmp_path / "n8n-task-runners.json",
        runner_entry(tmp_path, **{"health-check-server-port": "5680"}),
    )
    env = launcher_environment(broker, config_path)
    output = OutputLines()
    with trio.fail_after(HANG_GUARD):
        status = await run_child(cli_command("launch", "python"), env=env, on_output=output)
    assert status == ExitStatus(returncode=2)
    stderr = "\n".join(output.of("stderr"))
    assert str(config_path) in stderr
    assert "health-check-server-port" in stderr


async def test_an_unusable_command_exits_2_naming_it(broker: Broker, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    config_path = write_config(
        tmp_path / "n8n-task-runners.json", runner_entry(tmp_path, command=missing)
    )
    output = OutputLines()
    with trio.fail_after(HANG_GUARD):
        status = await run_child(
            cli_command("launch", "python"),
            env=launcher_environment(broker, config_path),
            on_output=output,
        )
    assert status == ExitStatus(returncode=2)
    assert missing in "\n".join(output.of("stderr"))
