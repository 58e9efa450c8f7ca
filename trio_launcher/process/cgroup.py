"""One cgroup v2 directory: processes that cannot slip away, killed as one.

A process group is left with one ``setsid()``; a cgroup is not: a process
leaves it only by writing to a ``cgroup.procs`` it is allowed to write, and
everything it forks starts in it. A :class:`Cgroup` takes processes
(:meth:`Cgroup.add`, :meth:`Cgroup.add_self`), kills them all
(:meth:`Cgroup.kill`) and removes itself and its descendants
(:meth:`Cgroup.remove`). Its siblings build on it: ``cgroup_discovery``
(where this process may create cgroups), ``cgroup_tree`` (one owner's
subtree), ``cgroup_stale`` (subtrees of dead owners), ``cgroup_pool``
(reused child cgroups).

Stdlib only, no ``typing`` at run time, and no import of its siblings: a
stdlib-only worker process imports it (with its parent packages stubbed, as
it imports ``trio_launcher.runner`` modules), and the cgroup watcher of
``owned.py`` loads this file alone, by path. Every call blocks; waits are
bounded and sleep on ``cgroup.events`` notifications (``poll``), never on a
timer.
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

__all__ = ["DEFAULT_TIMEOUT", "Cgroup", "CgroupError", "read_file"]

#: Seconds a kill or a removal may take before :class:`CgroupError` is raised.
DEFAULT_TIMEOUT = 5.0
#: While processes may still be forking (no freezer), kill rounds are this far apart at most.
_KILL_ROUND = 0.1


class CgroupError(OSError):
    """A cgroup could not be emptied or removed in time."""


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
        return [int(line) for line in read_file(self._file("cgroup.procs")).split()]

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
            return _events(read_file(self._file("cgroup.events"))).get("populated") == "1"
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


# --- small helpers ----------------------------------------------------------------------


def read_file(path: str) -> str:
    """The whole text of a cgroup (or procfs) file."""
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
