"""A cgroup per task process, so that nothing a task starts outlives it.

A task's process group is left with one ``setsid()``; its cgroup is not:
every process the task forks starts in it, and only a process allowed to
write a ``cgroup.procs`` can leave.  The executor keeps one cgroup v2
subtree (:class:`~trio_launcher.process.cgroup_tree.CgroupTree`) and reuses its
child cgroups from task to task (:class:`TaskCgroups`).

The runner opens each cgroup's files once and passes the fds with the run
request; the worker, which Landlock keeps out of ``/sys/fs/cgroup``, only
writes to them: the task process's pid into ``cgroup.procs``, ``1`` into
``cgroup.kill`` when the task ends, and it reads ``cgroup.events`` to know
when nothing is left.  The task process closes the fds before it runs user
code.  Where the host delegates the ``pids`` controller, each cgroup also
caps the task's processes (``pids.max``, :data:`TASK_MAX_PROCESSES`): a fork
bomb stops there.  Where the host gives no writable cgroup v2 directory,
:func:`open_task_cgroups` says why, and task trees are killed by process
group only.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import ClassVar

from trio_launcher.process.cgroup import Cgroup
from trio_launcher.process.cgroup_discovery import discover_cgroup
from trio_launcher.process.cgroup_stale import remove_stale_trees
from trio_launcher.process.cgroup_tree import CgroupTree
from trio_launcher.runner.worker.confine.layers import ON

__all__ = [
    "TASK_MAX_PROCESSES",
    "TaskCgroup",
    "TaskCgroups",
    "open_cgroup_layer",
    "open_task_cgroups",
]

#: The most processes (threads included) one task may have, where ``pids`` is delegated.
TASK_MAX_PROCESSES = 256


class TaskCgroup:
    """One reusable cgroup and its open files."""

    def __init__(self, cgroup: Cgroup) -> None:
        self.cgroup = cgroup
        path = cgroup.path
        self._procs = os.open(os.path.join(path, "cgroup.procs"), os.O_RDWR)
        self._events = os.open(os.path.join(path, "cgroup.events"), os.O_RDONLY)
        try:
            self._kill = os.open(os.path.join(path, "cgroup.kill"), os.O_WRONLY)
        except FileNotFoundError:  # Linux < 5.14: the worker signals each pid
            self._kill = -1

    @property
    def fds(self) -> list[int]:
        """``cgroup.procs``, ``cgroup.events`` and, where it exists, ``cgroup.kill``."""
        return [self._procs, self._events] + ([self._kill] if self._kill >= 0 else [])

    def populated(self) -> bool:
        """Whether a process is still in it."""
        return b"populated 1" in os.pread(self._events, 4096, 0)

    def kill(self) -> None:
        """SIGKILL what is in it, without waiting (the worker that watched it is gone)."""
        if self._kill >= 0:
            os.write(self._kill, b"1")
        else:
            for pid in os.pread(self._procs, 65536, 0).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)

    def close(self) -> None:
        """Close its files (the cgroup itself stays, for :meth:`TaskCgroups.close`)."""
        for fd in self.fds:
            os.close(fd)


class TaskCgroups:
    """The executor's cgroup subtree: a cgroup per concurrent task, reused."""

    def __init__(self, tree: CgroupTree) -> None:
        self.tree = tree
        self._idle: list[TaskCgroup] = []
        self._all: list[TaskCgroup] = []
        #: Whether each task cgroup caps its processes (``pids.max``).
        self.limits_processes = _enable_pids(tree.path)

    @property
    def path(self) -> str:
        """The subtree's directory."""
        return self.tree.path

    def acquire(self) -> TaskCgroup:
        """An empty cgroup for the next task (a killed one still emptying is skipped)."""
        for index, candidate in enumerate(self._idle):
            if not candidate.populated():
                return self._idle.pop(index)
        child = self.tree.child(f"task-{len(self._all) + 1}")
        if self.limits_processes:
            with open(os.path.join(child.path, "pids.max"), "w") as limit:
                limit.write(str(TASK_MAX_PROCESSES))
        cgroup = TaskCgroup(child)
        self._all.append(cgroup)
        return cgroup

    def release(self, cgroup: TaskCgroup, *, emptied: bool) -> None:
        """Take *cgroup* back; unless the worker reported it *emptied*, kill what is in it."""
        if not emptied:
            with contextlib.suppress(OSError):
                cgroup.kill()
        self._idle.append(cgroup)

    def close(self) -> None:
        """Kill everything in the subtree and remove it (blocks for at most a few seconds)."""
        for cgroup in self._all:
            cgroup.close()
        self._all.clear()
        self._idle.clear()
        self.tree.close()


def _enable_pids(tree: str) -> bool:
    """Turn the ``pids`` controller on for the tree's children, if the parent passes it down."""
    try:
        with open(os.path.join(tree, "cgroup.controllers")) as available:
            if "pids" not in available.read().split():
                return False
        with open(os.path.join(tree, "cgroup.subtree_control"), "w") as control:
            control.write("+pids")
    except OSError:
        return False
    return True


class _Discovery:
    """Where this process makes its subtrees, found once per process."""

    directory: ClassVar[str | None] = None
    reason: ClassVar[str | None] = None


def open_task_cgroups() -> TaskCgroups | str:
    """A fresh subtree for one executor, or why there can be none.

    The first call in a process finds the cgroup directory and removes the
    subtrees that owners killed with ``SIGKILL`` left behind.
    """
    if _Discovery.reason is None:
        found = discover_cgroup()
        _Discovery.directory, _Discovery.reason = found.directory, found.reason
        if found.directory is not None:
            remove_stale_trees(found.directory)
    if _Discovery.directory is None:
        return _Discovery.reason or "no cgroup v2 directory"
    try:
        return TaskCgroups(CgroupTree.create(_Discovery.directory))
    except OSError as exc:
        return f"cannot create a cgroup in {_Discovery.directory}: {exc.strerror or exc}"


def open_cgroup_layer() -> tuple[TaskCgroups | None, str]:
    """:func:`open_task_cgroups`, and the *cgroup* layer's status for the report."""
    found = open_task_cgroups()
    if isinstance(found, str):
        return None, f"unavailable: {found}; task trees are killed by process group"
    limit = (
        f"at most {TASK_MAX_PROCESSES} processes"
        if found.limits_processes
        else "no pids controller: processes not capped"
    )
    return found, f"{ON} (a cgroup per task, in {found.path}; {limit})"
