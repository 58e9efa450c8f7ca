"""The worker's own namespaces: a task sees no other process, no network, and dies with it.

Skips with the reason where the host gives no user namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
import trio
from worker_pids import LEAVE_THE_GROUP, host_pid, running

from trio_launcher.runner.executor.task_executor import TaskExecutor, open_executor
from trio_launcher.runner.sandbox.confinement_check import is_on
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.worker.confine.layers import NAMESPACES


def _host_has_user_namespaces() -> bool:
    """Whether a process may make a user namespace here (tried in a child, which is lost)."""
    probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x10000000) != 0)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _host_has_user_namespaces(),
    reason="needs Linux with user namespaces that this user may create",
)

ALL = "runOnceForAllItems"
#: Only the namespaces stand between the task and the host.
OPEN = {"stdlib_allow": "*", "external_allow": "*", "builtins_deny": "", "mode": "best-effort"}


def _executor(disabled: str) -> Any:
    policy = SandboxPolicy.from_strings(**OPEN, disabled_layers=disabled)
    return open_executor(policy, memory_limit_mb=512)


async def _run(executor: TaskExecutor, code: str) -> Any:
    outcome = await executor.run({"code": code, "nodeMode": ALL, "items": []}, timeout=20)
    assert outcome.error is None, outcome.error
    return outcome.result


async def test_a_task_sees_only_the_worker_and_its_task_processes() -> None:
    code = "import os\nreturn sorted(int(name) for name in os.listdir('/proc') if name.isdigit())"
    with trio.fail_after(60):
        async with _executor("landlock,seccomp,cgroup") as executor:
            status = executor.worker_confinement()[NAMESPACES]
            assert is_on(status)
            visible = await _run(executor, code)
    if "/proc not remounted" in status:
        pytest.skip(f"the host does not let a fresh /proc be mounted: {status}")
    assert visible[0] == 1  # the worker
    assert os.getpid() not in visible
    assert len(visible) <= 4  # worker, this task, the spare, maybe the last task's


async def test_a_task_has_no_network_but_a_loopback_that_is_down() -> None:
    code = "import socket\nreturn [name for _index, name in socket.if_nameindex()]"
    with trio.fail_after(60):
        async with _executor("landlock,seccomp") as executor:
            assert await _run(executor, code) == ["lo"]


async def test_without_the_layer_the_task_sees_the_host() -> None:
    """The tests above can fail: in the host's namespaces, the host is in view."""
    code = "import socket, os\nreturn [os.path.exists(f'/proc/{os.getppid()}'), os.getppid()]"
    with trio.fail_after(60):
        async with _executor("landlock,seccomp,namespaces") as executor:
            assert executor.worker_confinement()[NAMESPACES] == "off (disabled)"
            exists, parent = await _run(executor, code)
            assert exists and parent == executor.statistics().worker_pid


async def test_what_a_task_left_running_dies_when_the_worker_is_killed() -> None:
    """No cgroup, no seccomp: only the PID namespace ends the escaped child."""
    with trio.fail_after(60):
        async with _executor("landlock,seccomp,cgroup") as executor:
            escaped = host_pid(executor, await _run(executor, LEAVE_THE_GROUP))
            assert escaped is not None and running(escaped)
            keeper = executor.statistics().worker_pid
            assert keeper is not None
            pidfd = os.pidfd_open(escaped)  # before the kill: it may be gone at once
            os.kill(keeper, signal.SIGKILL)
            try:
                await trio.lowlevel.wait_readable(pidfd)  # readable once it has exited
            finally:
                os.close(pidfd)


#: A runner on a host whose seccomp profile refuses ``unshare`` (as Docker's does).
_REFUSED = """
import json, trio
from trio_launcher.runner.worker.confine import seccomp
from trio_launcher.runner.executor.task_executor import open_executor
from trio_launcher.runner.sandbox.policy import SandboxPolicy

seccomp.FilterLoader().attach(seccomp.worker_filter(allow_exec=True))

async def main():
    policy = SandboxPolicy.from_strings(mode="best-effort", disabled_layers="seccomp")
    async with open_executor(policy) as executor:
        outcome = await executor.run(
            {"code": "return 6 * 7", "nodeMode": "runOnceForAllItems", "items": []}, timeout=20
        )
        print(json.dumps([executor.worker_confinement()["namespaces"], outcome.result]))

trio.run(main)
"""


async def test_where_the_host_refuses_namespaces_the_runner_says_so_and_runs() -> None:
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-c", _REFUSED], capture_stdout=True, capture_stderr=True
        )
    status, result = json.loads(done.stdout)
    assert status.startswith("unavailable: cannot make a user namespace")
    assert result == 42
