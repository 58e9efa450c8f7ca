"""Find, from the test, a process that task code knows by its pid in the worker's namespace."""

from __future__ import annotations

import os
from pathlib import Path

from trio_launcher.runner.executor.task_executor import TaskExecutor
from trio_launcher.runner.sandbox.confinement_check import is_on

#: Task code: forks a child that leaves the task's process group and session, and
#: returns the child's pid once it has left.
LEAVE_THE_GROUP = """\
import os, time
left, settled = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()
    os.write(settled, b'.')
    time.sleep(600)
    os._exit(0)
os.read(left, 1)
return pid
"""


def running(pid: int) -> bool:
    """Whether host *pid* runs (a zombie, killed and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def host_pid(executor: TaskExecutor, pid: int) -> int | None:
    """The host pid of the process that is *pid* in the executor's worker, if it exists.

    Without its own PID namespace, the worker's pids are the host's.
    """
    if not is_on(executor.worker_confinement().get("namespaces", "")):
        return pid
    keeper = executor.statistics().worker_pid
    assert keeper is not None
    [worker] = Path(f"/proc/{keeper}/task/{keeper}/children").read_text().split()
    namespace = os.stat(f"/proc/{worker}/ns/pid").st_ino
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "ns" / "pid").stat().st_ino != namespace:
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile, or not ours to see
        line = next(line for line in status.splitlines() if line.startswith("NSpid:"))
        if int(line.split()[-1]) == pid:
            return int(entry.name)
    return None


def running_in_worker(executor: TaskExecutor, pid: int) -> bool:
    """Whether the process task code knows as *pid* still runs."""
    found = host_pid(executor, pid)
    return found is not None and running(found)
