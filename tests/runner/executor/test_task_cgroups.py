"""A cgroup per task: what a task starts dies with it, even outside its process group.

The tests need a writable cgroup v2 directory and skip with the reason without one.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
import trio
from worker_pids import LEAVE_THE_GROUP, host_pid, running, running_in_worker

from trio_launcher.process.cgroup_discovery import discover_cgroup
from trio_launcher.runner.executor.task_cgroups import TaskCgroups, open_task_cgroups
from trio_launcher.runner.executor.task_executor import open_executor
from trio_launcher.runner.sandbox.confinement_check import is_on
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.worker.confine.layers import CGROUP

_FOUND = discover_cgroup() if sys.platform.startswith("linux") else None
pytestmark = pytest.mark.skipif(
    _FOUND is None or not _FOUND.usable,
    reason=f"needs a writable cgroup v2 directory ({_FOUND.reason if _FOUND else 'not Linux'})",
)

ALL = "runOnceForAllItems"
LEAVE = {"code": LEAVE_THE_GROUP, "nodeMode": ALL, "items": []}
#: Only the cgroup stands between a task and a process that outlives it.
OPEN = {"stdlib_allow": "*", "external_allow": "*", "builtins_deny": "", "mode": "best-effort"}


def _task_cgroups() -> TaskCgroups:
    found = open_task_cgroups()
    assert isinstance(found, TaskCgroups), found
    return found


def _executor(**policy: str) -> Any:
    return open_executor(SandboxPolicy.from_strings(**{**OPEN, **policy}), memory_limit_mb=512)


async def test_a_child_that_left_the_process_group_dies_with_its_task() -> None:
    with trio.fail_after(60):
        async with _executor(disabled_layers="seccomp") as executor:
            assert is_on(executor.worker_confinement()[CGROUP])
            outcome = await executor.run(LEAVE, timeout=20)
            await executor.wait_reaped()
            assert isinstance(outcome.result, int)
            assert not running_in_worker(executor, outcome.result)


async def test_without_the_cgroup_layer_the_same_child_survives() -> None:
    """The test above can fail: the process group alone does not hold."""
    with trio.fail_after(60):
        async with _executor(disabled_layers="seccomp,cgroup") as executor:
            assert executor.worker_confinement()[CGROUP] == "off (disabled)"
            outcome = await executor.run(LEAVE, timeout=20)
            await executor.wait_reaped()
            survivor = host_pid(executor, outcome.result)
            assert survivor is not None and running(survivor)
            os.kill(survivor, 9)


async def test_a_task_holds_no_file_but_stdio_and_its_socket() -> None:
    """No other task's socket, no cgroup file: nothing to kill or move another task with."""
    code = (
        "import os\n"
        "held = []\n"
        "for fd in range(3, 256):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "    except OSError:\n"
        "        continue\n"
        "    held.append(fd)\n"
        "return held"
    )
    with trio.fail_after(60):
        async with _executor() as executor, trio.open_nursery() as nursery:
            results: list[Any] = []

            async def run() -> None:
                settings = {"code": code, "nodeMode": ALL, "items": []}
                results.append((await executor.run(settings, timeout=20)).result)

            for _ in range(3):
                nursery.start_soon(run)
    assert [len(held) for held in results] == [1, 1, 1]


async def test_the_executor_removes_its_subtree_when_it_closes() -> None:
    async with _executor() as executor:
        status = executor.worker_confinement()[CGROUP]
        await executor.run({"code": "return 1", "nodeMode": ALL, "items": []}, timeout=20)
    path = trio.Path(status.split(" in ", 1)[1].split(";")[0])
    assert path.is_absolute() and not await path.exists()


def test_cgroups_are_reused_once_empty() -> None:
    cgroups = _task_cgroups()
    try:
        first = cgroups.acquire()
        cgroups.release(first, emptied=True)
        assert cgroups.acquire() is first
        second = cgroups.acquire()
        assert second is not first
    finally:
        cgroups.close()
    assert not os.path.exists(cgroups.path)


def test_a_cgroup_given_back_with_processes_in_it_is_killed_and_skipped() -> None:
    cgroups = _task_cgroups()
    try:
        held = cgroups.acquire()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child
            os.read(os.pipe()[0], 1)
            os._exit(0)
        held.cgroup.add(child)
        cgroups.release(held, emptied=False)
        _pid, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == -9
        held.cgroup.wait_empty(5)
        assert cgroups.acquire() is held
    finally:
        cgroups.close()
