"""An owner's cgroup subtree, named after the process that owns it.

:class:`CgroupTree` is one owner's subtree,
``trio-launcher-<pid>-<start time>-<pid namespace>-<random>``
(:func:`tree_name`); its child :class:`~.cgroup.Cgroup` objects hold the
owner's children. The name says who the owner is (:func:`parse_tree_name`),
so that the subtrees of owners that died can be found and removed
(``cgroup_stale``).

No controller is enabled, so cgroup v2's "no internal processes" rule never
applies: the owner stays in its own cgroup, and its subtree holds only leaves.
Stdlib only, no ``typing`` at run time (see ``cgroup.py``).
"""

from __future__ import annotations

import os

from .cgroup import DEFAULT_TIMEOUT, Cgroup

TYPE_CHECKING = False  # `typing` costs ~2 MB; a stdlib-only worker imports this module
if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "TREE_PREFIX",
    "CgroupTree",
    "owner_alive",
    "owner_name",
    "parse_owner_name",
    "parse_tree_name",
    "pid_namespace",
    "process_start_time",
    "tree_name",
]

#: Every owner's subtree is named ``TREE_PREFIX + "<pid>-<start>-<pidns>-<hex>"``.
TREE_PREFIX = "trio-launcher-"


def process_start_time(pid: int, proc: str = "/proc") -> int | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot); ``None`` if there is no such pid.

    With the pid, it names a process for good: a reused pid has a later start time.
    """
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as file:
            stat = file.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # the name may hold spaces and parentheses
    return int(fields[19])  # fields[0] is field 3


def pid_namespace(proc: str = "/proc") -> int:
    """The inode of this process's pid namespace (0 if it cannot be read)."""
    try:
        return os.stat(os.path.join(proc, "self", "ns", "pid")).st_ino
    except OSError:
        return 0


def owner_name(pid: int | None = None, proc: str = "/proc") -> str:
    """``<pid>-<start>-<pidns>``: process ``pid`` (default: this one), for as long as it runs."""
    pid = os.getpid() if pid is None else pid
    start = process_start_time(pid, proc) or 0
    return f"{pid}-{start}-{pid_namespace(proc)}"


def owner_alive(pid: int, start: int, namespace: int, proc: str = "/proc") -> bool:
    """Whether the owner still runs; an owner of another pid namespace is assumed to."""
    if namespace != pid_namespace(proc):
        return True  # its pids mean nothing here
    return process_start_time(pid, proc) == start


def tree_name(pid: int | None = None, proc: str = "/proc") -> str:
    """A fresh subtree name for owner ``pid`` (default: this process)."""
    return f"{TREE_PREFIX}{owner_name(pid, proc)}-{os.urandom(4).hex()}"


def parse_tree_name(name: str) -> tuple[int, int, int] | None:
    """``(pid, start time, pid namespace)`` of a subtree name; ``None`` for other names."""
    if not name.startswith(TREE_PREFIX):
        return None
    owner, dash, random = name[len(TREE_PREFIX) :].rpartition("-")
    return parse_owner_name(owner) if dash and random else None


def parse_owner_name(name: str) -> tuple[int, int, int] | None:
    """``(pid, start time, pid namespace)`` of an :func:`owner_name`; ``None`` for other text."""
    parts = name.split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


class CgroupTree:
    """This owner's subtree under a parent cgroup; closing it kills and removes everything.

    Make one with :meth:`create`; use it as a context manager or call :meth:`close`.
    """

    def __init__(self, root: Cgroup) -> None:
        self.root = root

    @classmethod
    def create(cls, parent: str) -> CgroupTree:
        """Create a new uniquely named subtree in directory ``parent``."""
        path = os.path.join(parent, tree_name())
        os.mkdir(path)
        return cls(Cgroup(path))

    @property
    def path(self) -> str:
        """The subtree's directory."""
        return self.root.path

    def child(self, name: str) -> Cgroup:
        """Create child cgroup ``name`` (a plain directory name) of the subtree."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a cgroup name: {name!r}")
        path = os.path.join(self.path, name)
        os.mkdir(path)
        return Cgroup(path)

    def children(self) -> list[Cgroup]:
        """The subtree's child cgroups, by name."""
        return [
            Cgroup(entry.path)
            for entry in sorted(os.scandir(self.path), key=lambda entry: entry.name)
            if entry.is_dir()
        ]

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Kill every process in the subtree and remove it; idempotent."""
        self.root.remove(timeout)

    def __enter__(self) -> CgroupTree:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CgroupTree({self.path!r})"
