"""Cgroup v2 subtrees: processes that cannot slip away, killed as one.

A process group is left with one ``setsid()``; a cgroup is not: a process
leaves it only by writing to a ``cgroup.procs`` it is allowed to write, and
everything it forks starts in it. This module finds a cgroup v2 directory this
process may create children in, keeps one subtree per owner in it, and kills
and removes what is inside:

* :func:`discover_cgroup` reads ``/proc/self/cgroup`` and
  ``/proc/self/mountinfo``, and tries a ``mkdir`` + ``rmdir``; it says why
  when cgroups cannot be used.
* :class:`CgroupTree` is this owner's subtree,
  ``trio-launcher-<pid>-<start time>-<pid namespace>-<random>``; its child
  :class:`Cgroup` objects take processes (:meth:`Cgroup.add`,
  :meth:`Cgroup.add_self`) and kill them all (:meth:`Cgroup.kill`).
* :func:`remove_stale_trees` removes the subtrees of owners that died without
  cleaning up (SIGKILL, OOM), killing what they left running.
* :class:`CgroupPool` reuses emptied child cgroups, one per concurrent child.

No controller is enabled, so cgroup v2's "no internal processes" rule never
applies: the owner stays in its own cgroup, and its subtree holds only leaves.

Stdlib only, and no ``typing`` at run time: a stdlib-only worker process
imports it (with its parent packages stubbed, as it imports
``trio_launcher.runner`` modules). Every call blocks; waits are bounded and
sleep on ``cgroup.events`` notifications (``poll``), never on a timer.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time

TYPE_CHECKING = False  # `typing` costs ~2 MB; a stdlib-only worker imports this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = [
    "DEFAULT_TIMEOUT",
    "TREE_PREFIX",
    "Cgroup",
    "CgroupDiscovery",
    "CgroupError",
    "CgroupMount",
    "CgroupPool",
    "CgroupTree",
    "CgroupUnavailable",
    "cgroup_directory",
    "discover_cgroup",
    "parse_cgroup2_mounts",
    "parse_own_cgroup",
    "parse_tree_name",
    "process_start_time",
    "remove_stale_trees",
    "tree_name",
]

#: Every owner's subtree is named ``TREE_PREFIX + "<pid>-<start>-<pidns>-<hex>"``.
TREE_PREFIX = "trio-launcher-"
#: Seconds a kill or a removal may take before :class:`CgroupError` is raised.
DEFAULT_TIMEOUT = 5.0
#: While processes may still be forking (no freezer), kill rounds are this far apart at most.
_KILL_ROUND = 0.1


class CgroupError(OSError):
    """A cgroup could not be emptied or removed in time."""


class CgroupUnavailable(Exception):
    """This process cannot create child cgroups; the message says why."""


# --- discovery --------------------------------------------------------------------------


class CgroupMount:
    """One cgroup2 mount from ``/proc/self/mountinfo``."""

    __slots__ = ("mount_point", "read_only", "root")

    def __init__(self, root: str, mount_point: str, read_only: bool) -> None:
        #: The path inside the hierarchy that the mount shows (``/`` for the whole).
        self.root = root
        self.mount_point = mount_point
        self.read_only = read_only

    def __repr__(self) -> str:
        mode = "ro" if self.read_only else "rw"
        return f"CgroupMount({self.root!r} at {self.mount_point!r}, {mode})"


class CgroupDiscovery:
    """Where this process can make child cgroups (``directory``), or why not (``reason``)."""

    __slots__ = ("directory", "reason")

    def __init__(self, directory: str | None, reason: str = "") -> None:
        self.directory = directory
        self.reason = reason

    @property
    def usable(self) -> bool:
        """Whether :attr:`directory` is set."""
        return self.directory is not None

    def __repr__(self) -> str:
        return f"CgroupDiscovery(directory={self.directory!r}, reason={self.reason!r})"


def parse_own_cgroup(text: str) -> str | None:
    """The cgroup v2 path in a ``/proc/PID/cgroup`` text (its ``0::/path`` line), if any."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def parse_cgroup2_mounts(text: str) -> list[CgroupMount]:
    """Every cgroup2 mount in a ``/proc/PID/mountinfo`` text, in mount order."""
    mounts = []
    for line in text.splitlines():
        before, separator, after = line.partition(" - ")
        fields, fs_fields = before.split(), after.split()
        if not separator or len(fields) < 6 or not fs_fields or fs_fields[0] != "cgroup2":
            continue
        options = fields[5].split(",")
        if len(fs_fields) > 2:
            options += fs_fields[2].split(",")
        mounts.append(CgroupMount(_unescape(fields[3]), _unescape(fields[4]), "ro" in options))
    return mounts


def _unescape(field: str) -> str:
    r"""Undo mountinfo's octal escapes (``\040`` for a space...)."""
    head, *escaped = field.split("\\")
    parts = [head]
    for part in escaped:
        code = part[:3]
        if len(code) == 3 and all(c in "01234567" for c in code):
            parts.append(chr(int(code, 8)) + part[3:])
        else:
            parts.append("\\" + part)
    return "".join(parts)


def cgroup_directory(path: str, mounts: list[CgroupMount]) -> str:
    """The directory of cgroup ``path`` under the first writable mount that shows it.

    Raises :class:`CgroupUnavailable` when no mount does.
    """
    if not mounts:
        raise CgroupUnavailable("no cgroup2 file system is mounted")
    read_only = []
    for mount in mounts:
        relative = _relative_to(path, mount.root)
        if relative is None:
            continue
        if mount.read_only:
            read_only.append(mount.mount_point)
            continue
        return os.path.join(mount.mount_point, relative) if relative else mount.mount_point
    if read_only:
        raise CgroupUnavailable(f"the cgroup2 mount at {read_only[0]} is read-only")
    where = ", ".join(f"{m.mount_point} (root {m.root})" for m in mounts)
    raise CgroupUnavailable(f"this process's cgroup {path} is not under any cgroup2 mount: {where}")


def _relative_to(path: str, root: str) -> str | None:
    if path.startswith("/..") or not path.startswith("/"):
        return None  # outside this cgroup namespace
    if root == "/":
        return path.strip("/")
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :].strip("/")
    return None


def discover_cgroup(proc: str = "/proc") -> CgroupDiscovery:
    """Find the cgroup v2 directory of this process, and check it can take children.

    ``proc`` is where procfs is mounted. The check creates and removes one
    child cgroup, named as a tree (so :func:`remove_stale_trees` would clean it
    up if this process died in between).
    """
    try:
        directory = _own_cgroup_directory(proc)
        _check_can_create_children(directory)
    except CgroupUnavailable as exc:
        return CgroupDiscovery(None, str(exc))
    return CgroupDiscovery(directory)


def _own_cgroup_directory(proc: str) -> str:
    try:
        own = _read(os.path.join(proc, "self", "cgroup"))
        mountinfo = _read(os.path.join(proc, "self", "mountinfo"))
    except OSError as exc:
        raise CgroupUnavailable(f"cannot read {exc.filename}: {exc.strerror}") from None
    path = parse_own_cgroup(own)
    if path is None:
        raise CgroupUnavailable("this process is in no cgroup v2 hierarchy (cgroup v1 only)")
    return cgroup_directory(path, parse_cgroup2_mounts(mountinfo))


def _check_can_create_children(directory: str) -> None:
    if not os.path.isfile(os.path.join(directory, "cgroup.procs")):
        raise CgroupUnavailable(f"{directory} is not a cgroup2 directory")
    if not os.access(os.path.join(directory, "cgroup.procs"), os.W_OK):
        raise CgroupUnavailable(
            f"cannot move processes: {directory}/cgroup.procs is not writable "
            f"(the cgroup is not delegated to uid {os.geteuid()})"
        )
    probe = os.path.join(directory, tree_name())
    try:
        os.mkdir(probe)
    except OSError as exc:
        raise CgroupUnavailable(_mkdir_failure(directory, exc)) from None
    os.rmdir(probe)


def _mkdir_failure(directory: str, exc: OSError) -> str:
    why = {
        errno.EACCES: f"permission denied (the cgroup is not delegated to uid {os.geteuid()})",
        errno.EPERM: f"not permitted (the cgroup is not delegated to uid {os.geteuid()})",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot create a child cgroup in {directory}: {why}"


# --- owners -----------------------------------------------------------------------------


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


def _pid_namespace(proc: str = "/proc") -> int:
    try:
        return os.stat(os.path.join(proc, "self", "ns", "pid")).st_ino
    except OSError:
        return 0


def tree_name(pid: int | None = None, proc: str = "/proc") -> str:
    """A fresh subtree name for owner ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    start = process_start_time(pid, proc) or 0
    return f"{TREE_PREFIX}{pid}-{start}-{_pid_namespace(proc)}-{os.urandom(4).hex()}"


def parse_tree_name(name: str) -> tuple[int, int, int] | None:
    """``(pid, start time, pid namespace)`` of a subtree name; ``None`` for other names."""
    if not name.startswith(TREE_PREFIX):
        return None
    parts = name[len(TREE_PREFIX) :].split("-")
    if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def _owner_alive(pid: int, start: int, pid_namespace: int, proc: str) -> bool:
    """Whether the owner still runs; an owner of another pid namespace is assumed to."""
    if pid_namespace != _pid_namespace(proc):
        return True  # its pids mean nothing here
    return process_start_time(pid, proc) == start


# --- one cgroup -------------------------------------------------------------------------


class Cgroup:
    """One cgroup v2 directory: move processes in, watch it empty, kill, remove."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Cgroup({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cgroup) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into this cgroup."""
        _write(self._file("cgroup.procs"), str(pid))

    def add_self(self) -> None:
        """Move the calling process into this cgroup (as a forked child does before exec)."""
        _write(self._file("cgroup.procs"), "0")

    def pids(self) -> list[int]:
        """The processes in this cgroup itself (not in its descendants)."""
        return [int(line) for line in _read(self._file("cgroup.procs")).split()]

    def all_pids(self) -> list[int]:
        """The processes in this cgroup and every descendant cgroup."""
        found: list[int] = []
        for directory, _, _ in os.walk(self.path):
            try:
                found += Cgroup(directory).pids()
            except FileNotFoundError:
                continue  # removed while we walked
        return found

    def populated(self) -> bool:
        """Whether a process is in this cgroup or a descendant (``cgroup.events``)."""
        try:
            return _events(_read(self._file("cgroup.events"))).get("populated") == "1"
        except FileNotFoundError:
            return False

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until no process is left (a removed cgroup is empty); False on timeout."""
        return self._wait_events(lambda events: events.get("populated") != "1", timeout)

    def kill(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """SIGKILL every process in this cgroup and its descendants; return once all are gone.

        Uses ``cgroup.kill`` (Linux 5.14), else :meth:`kill_with_signals`.
        Raises :class:`CgroupError` if processes remain after ``timeout`` seconds.
        """
        try:
            _write(self._file("cgroup.kill"), "1")
        except FileNotFoundError:
            if os.path.isdir(self.path):
                self.kill_with_signals(timeout)
            return
        if not self.wait_empty(timeout):
            raise CgroupError(f"{self.path}: processes left {timeout} s after cgroup.kill")

    def kill_with_signals(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Kill as :meth:`kill` does, without ``cgroup.kill``: freeze, SIGKILL each pid, thaw.

        Frozen processes cannot fork, so one round finds them all; without a
        freezer (Linux < 5.2) rounds repeat until the cgroup is empty. A root
        cgroup (the whole hierarchy) is refused with :class:`CgroupError`.
        """
        if not os.path.isfile(os.path.join(os.path.dirname(self.path), "cgroup.procs")):
            raise CgroupError(f"{self.path} is a root cgroup: refusing to kill everything in it")
        deadline = time.monotonic() + timeout
        frozen = self._freeze(deadline)
        try:
            while pids := self.all_pids():
                for pid in pids:
                    _sigkill(pid)
                remaining = _left(deadline)
                if remaining == 0:
                    raise CgroupError(f"{self.path}: processes left after {timeout} s of SIGKILL")
                self.wait_empty(remaining if frozen else min(remaining, _KILL_ROUND))
        finally:
            if frozen:
                self._thaw()

    def remove(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Kill what is inside, then remove this cgroup and its descendants.

        ``rmdir`` is retried while processes are still leaving; a cgroup that
        is already gone is fine. Raises :class:`CgroupError` after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._remove_directories()
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or _left(deadline) == 0:
                    raise CgroupError(
                        exc.errno, f"cannot remove {self.path}: {exc.strerror}"
                    ) from exc
            self.kill(_left(deadline))

    def _remove_directories(self) -> None:
        for directory, _, _ in os.walk(self.path, topdown=False):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                continue

    def _freeze(self, deadline: float) -> bool:
        """Freeze the cgroup and wait until it is; False without a freezer."""
        try:
            _write(self._file("cgroup.freeze"), "1")
        except FileNotFoundError:
            return False
        self._wait_events(
            lambda events: events.get("frozen") == "1" or events.get("populated") != "1",
            _left(deadline),
        )
        return True

    def _thaw(self) -> None:
        try:
            _write(self._file("cgroup.freeze"), "0")
        except FileNotFoundError:
            return  # removed meanwhile

    def _wait_events(self, done: Callable[[dict[str, str]], bool], timeout: float | None) -> bool:
        """Wait until ``done(cgroup.events)``, sleeping on the file's change notifications."""
        deadline = _deadline(timeout)
        try:
            fd = os.open(self._file("cgroup.events"), os.O_RDONLY)
        except FileNotFoundError:
            return done({})
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            while not done(_events(os.pread(fd, 4096, 0).decode())):
                remaining = _remaining(deadline)
                if remaining == 0:
                    return False
                poller.poll(None if remaining is None else int(remaining * 1000) + 1)
            return True
        except OSError:  # the cgroup was removed under us
            return done({})
        finally:
            os.close(fd)

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)


# --- an owner's subtree -----------------------------------------------------------------


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


def remove_stale_trees(
    parent: str, proc: str = "/proc", timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Remove the subtrees in ``parent`` whose owner died, killing what they hold.

    An owner is dead when its pid is gone or now names a process started at
    another time; subtrees of owners in another pid namespace are left alone.
    Returns the removed paths; a subtree that cannot be removed (another
    user's, or processes that do not die in ``timeout``) is skipped.
    """
    removed = []
    for name in sorted(os.listdir(parent)):
        owner = parse_tree_name(name)
        if owner is None or _owner_alive(*owner, proc):
            continue
        path = os.path.join(parent, name)
        try:
            Cgroup(path).remove(timeout)
        except OSError:
            continue
        removed.append(path)
    return removed


# --- reuse --------------------------------------------------------------------------------


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


# --- small helpers ----------------------------------------------------------------------


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _events(text: str) -> dict[str, str]:
    """``cgroup.events`` as a dict: ``{"populated": "1", "frozen": "0"}``."""
    pairs = (line.split(" ", 1) for line in text.splitlines() if " " in line)
    return {key: value for key, value in pairs}


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return  # gone already


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _left(deadline: float) -> float:
    """Seconds left until ``deadline``, never negative."""
    return max(0.0, deadline - time.monotonic())


def _remaining(deadline: float | None) -> float | None:
    """As :func:`_left`; ``None`` without a deadline."""
    return None if deadline is None else _left(deadline)
