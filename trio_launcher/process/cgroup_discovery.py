"""Where this process may create cgroup v2 children, or why it cannot.

:func:`discover_cgroup` reads ``/proc/self/cgroup`` and
``/proc/self/mountinfo``, finds this process's cgroup directory under a
writable cgroup2 mount, and tries a ``mkdir`` + ``rmdir`` there; when cgroups
cannot be used, its :class:`CgroupDiscovery` says why. The parsers it uses
(:func:`parse_own_cgroup`, :func:`parse_cgroup2_mounts`,
:func:`cgroup_directory`) work on text, so they run anywhere.

Stdlib only, no ``typing`` at run time (see ``cgroup.py``).
"""

from __future__ import annotations

import errno
import os

from .cgroup import read_file
from .cgroup_tree import tree_name

__all__ = [
    "CgroupDiscovery",
    "CgroupMount",
    "CgroupUnavailable",
    "cgroup_directory",
    "discover_cgroup",
    "parse_cgroup2_mounts",
    "parse_own_cgroup",
]


class CgroupUnavailable(Exception):
    """This process cannot create child cgroups; the message says why."""


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
    child cgroup, named as a tree (so :func:`~.cgroup_stale.remove_stale_trees` would clean it
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
        own = read_file(os.path.join(proc, "self", "cgroup"))
        mountinfo = read_file(os.path.join(proc, "self", "mountinfo"))
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
