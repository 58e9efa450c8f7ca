"""The worker and its task processes do not outlive the runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trio

from trio_launcher.process.pidfd import wait_for_exit

ROOT = Path(__file__).resolve().parents[2]

RUNNER = """
import trio
from trio_launcher.runner.executor.task_executor import open_executor
from trio_launcher.runner.sandbox.policy import SandboxPolicy

async def main():
    async with open_executor(SandboxPolicy()) as executor:
        print(executor.statistics().worker_pid, flush=True)
        settings = {"code": "while True:\\n    pass", "nodeMode": "runOnceForAllItems"}
        await executor.run(settings, timeout=60, on_started=lambda pid: print(pid, flush=True))

trio.run(main)
"""


async def test_worker_and_tasks_die_when_the_runner_is_killed() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with trio.fail_after(30):
        runner = await trio.lowlevel.open_process(
            [sys.executable, "-c", RUNNER], stdout=subprocess.PIPE, env=env
        )
        assert runner.stdout is not None
        lines = b""
        while lines.count(b"\n") < 2:
            chunk = await runner.stdout.receive_some()
            assert chunk, "the runner exited early"
            lines += chunk
        worker_pid, task_pid = (int(line) for line in lines.split())
        runner.kill()  # SIGKILL: no clean-up code runs in the runner
        await runner.wait()
        await runner.stdout.aclose()
        assert await wait_for_exit(worker_pid)
        assert await wait_for_exit(task_pid)
