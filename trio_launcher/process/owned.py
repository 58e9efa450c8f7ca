"""What ties every child of this process to it: a parent-death signal and a cgroup.

Each child started by :func:`~trio_launcher.process.run_child` gets, before
it runs its program:

* ``PR_SET_PDEATHSIG`` = SIGKILL: the kernel kills it when this process dies,
  whatever killed this process (SIGKILL and OOM included);
* where the host lets this process make child cgroups, a cgroup v2 of its
  own in this process's subtree (:class:`ChildCgroups`), so that everything
  it starts, ``setsid()`` or not, is killed with it (``cgroup.kill``).

A small watcher process, started with the subtree, waits for this process
to end (the end of a pipe only this process holds) and then kills and
removes the subtree, so that when this process is killed with SIGKILL the
descendants of its children die at once too. Should the watcher be killed
as well, the next trio-launcher process of the same host that makes its own
subtree (:func:`child_cgroups`, at its first child or at start) removes the
stale one, with what is left in it.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import subprocess
import sys
import threading

from . import cgroup as cgroup_module
from .cgroup import Cgroup, CgroupError
from .cgroup_discovery import discover_cgroup
from .cgroup_stale import remove_stale_trees
from .cgroup_tree import CgroupTree

__all__ = ["ChildCgroups", "child_cgroups"]

logger = logging.getLogger("trio_launcher.process")


class ChildCgroups:
    """This process's cgroup subtree, one child cgroup per running child.

    Without a usable cgroup v2 directory :attr:`tree` is None and
    :attr:`reason` says why; :meth:`new_cgroup` then returns None.
    """

    def __init__(self, tree: CgroupTree | None, reason: str = "", stale: int = 0) -> None:
        self.tree = tree
        self.reason = reason
        #: How many subtrees of dead owners were removed when this one was made.
        self.stale_removed = stale
        #: The process that removes the subtree once this one is gone, if it could be started.
        self.watcher: subprocess.Popen[bytes] | None = None
        self._numbers = itertools.count(1)
        self._lifeline = -1

    def describe(self) -> str:
        """One line for the log: which mechanisms tie children to this process."""
        if self.tree is None:
            return (
                "children die with this process by parent-death signal and process group; "
                f"no cgroup ({self.reason}): a grandchild that leaves its process group "
                "can outlive its parent"
            )
        return (
            "children die with this process by parent-death signal and a cgroup each, "
            f"in {self.tree.path}"
        )

    def new_cgroup(self) -> Cgroup | None:
        """An empty cgroup for the next child; None without cgroups (or if mkdir fails)."""
        if self.tree is None:
            return None
        try:
            return self.tree.child(f"child-{next(self._numbers)}")
        except OSError as exc:
            logger.warning("cannot create a cgroup for a child: %s", exc)
            return None

    def close(self) -> None:
        """Kill whatever is left in the subtree and remove it; the watcher then exits."""
        if self.tree is not None:
            try:
                self.tree.close()
            except CgroupError as exc:
                logger.warning("%s", exc)
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1

    def start_watcher(self) -> None:
        """Start the process that removes the subtree when this process ends, however."""
        if self.tree is None:
            return
        script = [_WATCHER, cgroup_module.__file__, self.tree.path]
        lifeline_read, self._lifeline = os.pipe()  # neither end is inherited by children
        try:
            self.watcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", *script],
                stdin=lifeline_read,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # out of reach of signals to our process group
            )
        except OSError as exc:
            logger.warning("cannot start the cgroup watcher: %s", exc)
            os.close(self._lifeline)
            self._lifeline = -1
        finally:
            os.close(lifeline_read)


#: The watcher: loads cgroup.py alone (stdlib only), waits for EOF, removes the tree.
_WATCHER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("trio_launcher_cgroup", sys.argv[1])
cgroup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cgroup)
sys.stdin.buffer.read()  # returns once the owner, the only writer, is gone
try:
    cgroup.Cgroup(sys.argv[2]).remove()
except OSError as exc:
    sys.stderr.write(f"trio-launcher: cannot remove {sys.argv[2]}: {exc}\\n")
"""


_lock = threading.Lock()
_owned: dict[int, ChildCgroups] = {}


def child_cgroups() -> ChildCgroups:
    """This process's :class:`ChildCgroups`, made on the first call.

    The first call finds the cgroup v2 directory, removes the subtrees left by
    dead owners (killing what they hold) and creates this process's subtree,
    which is removed when the interpreter exits. It blocks for as long as
    that takes (a few seconds at most); call it from a thread in async code.
    """
    pid = os.getpid()  # a forked copy of this process makes its own
    with _lock:
        found = _owned.get(pid)
        if found is None:
            found = _owned[pid] = _make()
            found.start_watcher()
            atexit.register(found.close)
        return found


def _make() -> ChildCgroups:
    discovery = discover_cgroup()
    if discovery.directory is None:
        return ChildCgroups(None, discovery.reason)
    stale = remove_stale_trees(discovery.directory)
    try:
        tree = CgroupTree.create(discovery.directory)
    except OSError as exc:
        reason = f"cannot create a cgroup in {discovery.directory}: {exc.strerror or exc}"
        return ChildCgroups(None, reason, len(stale))
    return ChildCgroups(tree, stale=len(stale))
