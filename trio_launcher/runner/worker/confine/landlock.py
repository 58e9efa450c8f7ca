"""Landlock: what a task process may open, connect to and signal.

Two domains, both applied with ``PR_SET_NO_NEW_PRIVS`` already set:

* the **worker's** (:func:`restrict_filesystem`, once): read-only access to
  the interpreter, the shared libraries and the folders the allowed modules
  import from (:mod:`trio_launcher.runner.sandbox.kernel_plan`, in the runner),
  nothing else; no TCP bind or connect (ABI 4); every task process inherits it and cannot widen it;
* each **task's** own (:func:`scope_task`, ABI 6): signals and abstract Unix
  sockets reach only processes of the task's own domain, that is the task
  process and its children, not the worker, the runner or another task.

System call numbers 444-446 are the same on every architecture.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_CREATE_RULESET = 444
_ADD_RULE = 445
_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

ACCESS_EXECUTE = 1 << 0
ACCESS_WRITE_FILE = 1 << 1
ACCESS_READ_FILE = 1 << 2
ACCESS_READ_DIR = 1 << 3
#: Rights that exist on files (the rest apply to directories only).
_FILE_RIGHTS = ACCESS_EXECUTE | ACCESS_WRITE_FILE | ACCESS_READ_FILE | (1 << 14) | (1 << 15)
#: Every file-system right of each ABI version (index = version).
_FS_RIGHTS_BY_ABI = (0, (1 << 13) - 1, (1 << 14) - 1, (1 << 15) - 1, (1 << 15) - 1)
_FS_RIGHTS_LATEST = (1 << 16) - 1  # ABI 5 added IOCTL_DEV
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

#: First ABI with TCP rules, and with scopes.
ABI_NET = 4
ABI_SCOPE = 6

_RULESET_ATTR = struct.Struct("<QQQ")  # handled_access_fs, handled_access_net, scoped
_PATH_BENEATH = struct.Struct("<Qi")  # allowed_access, parent_fd (packed)
_O_PATH = 0o10000000


class LandlockUnavailable(OSError):
    """The kernel has no Landlock, or refused a ruleset."""


class _Syscalls:
    __slots__ = ("_call",)

    def __init__(self) -> None:
        self._call = ctypes.CDLL(None, use_errno=True).syscall
        self._call.restype = ctypes.c_long

    def __call__(self, number: int, *args: object) -> int:
        result = int(self._call(number, *args))
        if result < 0:
            code = ctypes.get_errno()
            raise LandlockUnavailable(code, f"landlock: {errno.errorcode.get(code, code)}")
        return result


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 if it has none (or it is disabled)."""
    try:
        return _Syscalls()(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except LandlockUnavailable:
        return 0


def _fs_rights(abi: int) -> int:
    return _FS_RIGHTS_BY_ABI[abi] if abi < len(_FS_RIGHTS_BY_ABI) else _FS_RIGHTS_LATEST


def restrict_filesystem(
    abi: int,
    *,
    read: Iterable[str],
    execute: Iterable[str] = (),
    read_write_files: Iterable[str] = (),
) -> None:
    """Confine this process (and its future children) to the given paths.

    *read* paths may be read (files, and directory trees beneath folders),
    *execute* paths read and executed, *read_write_files* (such as
    ``/dev/null``) read and written.  Paths that do not exist are skipped.
    TCP bind and connect are refused from ABI 4.  Raises
    :class:`LandlockUnavailable` if the kernel refuses.
    """
    call = _Syscalls()
    handled_fs = _fs_rights(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= ABI_NET else 0
    attr = ctypes.create_string_buffer(_RULESET_ATTR.pack(handled_fs, handled_net, 0))
    ruleset = call(_CREATE_RULESET, attr, _attr_size(abi), 0)
    try:
        readable = ACCESS_READ_FILE | ACCESS_READ_DIR
        for paths, rights in (
            (read, readable),
            (execute, readable | ACCESS_EXECUTE),
            (read_write_files, ACCESS_READ_FILE | ACCESS_WRITE_FILE),
        ):
            for path in paths:
                _allow(call, ruleset, path, rights & handled_fs)
        call(_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)


def _attr_size(abi: int) -> int:
    if abi >= ABI_SCOPE:
        return 24
    return 16 if abi >= ABI_NET else 8


def _allow(call: _Syscalls, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = ctypes.create_string_buffer(_PATH_BENEATH.pack(rights, fd))
        call(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
    finally:
        os.close(fd)


class TaskScope:
    """The scope-only ruleset each task process restricts itself with (ABI 6).

    Made once in the worker, so that :meth:`apply` in a task process is
    only the system calls.
    """

    __slots__ = ("_attr", "_call")

    def __init__(self) -> None:
        self._call = _Syscalls()
        scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET
        self._attr = ctypes.create_string_buffer(_RULESET_ATTR.pack(0, 0, scoped))

    def apply(self) -> None:
        """Put this process in a domain of its own; raises :class:`LandlockUnavailable`."""
        ruleset = self._call(_CREATE_RULESET, self._attr, _RULESET_ATTR.size, 0)
        try:
            self._call(_RESTRICT_SELF, ruleset, 0)
        finally:
            os.close(ruleset)
