"""Child cgroups of a subtree reused from child to child, one per concurrent child.

Stdlib only, no ``typing`` at run time (see ``cgroup.py``).
"""

from __future__ import annotations

from .cgroup import DEFAULT_TIMEOUT, Cgroup

TYPE_CHECKING = False  # `typing` costs ~2 MB; a stdlib-only worker imports this module
if TYPE_CHECKING:
    from .cgroup_tree import CgroupTree

__all__ = ["CgroupPool"]


class CgroupPool:
    """Child cgroups of a tree reused from child to child: one per concurrent slot.

    :meth:`acquire` hands out an empty cgroup (an idle one, or a new
    ``<prefix>-<n>``); :meth:`release` kills what is left in it and keeps it for
    the next child, so a busy owner does not ``mkdir`` and ``rmdir`` per child.
    """

    def __init__(self, tree: CgroupTree, prefix: str = "slot") -> None:
        self.tree = tree
        self.prefix = prefix
        #: How many cgroups the pool has created.
        self.created = 0
        self._idle: list[Cgroup] = []

    def acquire(self, timeout: float = DEFAULT_TIMEOUT) -> Cgroup:
        """An empty cgroup for the next child."""
        if self._idle:
            cgroup = self._idle.pop()
            if cgroup.populated():  # something was moved in while it was idle
                cgroup.kill(timeout)
            return cgroup
        self.created += 1
        return self.tree.child(f"{self.prefix}-{self.created}")

    def release(self, cgroup: Cgroup, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The child is done: kill whatever it left behind and keep the cgroup for reuse.

        If the processes do not die in time, :class:`CgroupError` is raised and
        the cgroup is not reused (closing the tree retries).
        """
        cgroup.kill(timeout)
        self._idle.append(cgroup)

    @property
    def idle(self) -> int:
        """How many emptied cgroups wait for a child."""
        return len(self._idle)
