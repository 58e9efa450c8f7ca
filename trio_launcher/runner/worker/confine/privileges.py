"""Privileges a confined process gives up for good: capabilities and new privileges."""

from __future__ import annotations

import ctypes

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_SECUREBITS = 28
#: SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS_LOCKED... and their locks.
_SECUREBITS_LOCKED_NOROOT = 0x2F
_CAPABILITY_VERSION_3 = 0x20080522
_LAST_CAP_FILE = "/proc/sys/kernel/cap_last_cap"


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def set_no_new_privs() -> bool:
    """``PR_SET_NO_NEW_PRIVS``: no ``execve`` can grant privileges (setuid, file caps)."""
    return int(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) == 0


def drop_capabilities() -> bool:
    """Empty every capability set, bounding and ambient included; True if all went.

    A process that holds no capability (an unprivileged user) has nothing to
    drop from its effective, permitted and inheritable sets; without
    ``CAP_SETPCAP`` it cannot shrink its bounding set either, but then,
    with no new privileges, it can never gain what the set holds.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    bounding_ok = all(
        int(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)) == 0 for cap in range(_last_cap() + 1)
    )
    # Root that execs a program would get the full permitted set back: not with NOROOT.
    libc.prctl(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED_NOROOT, 0, 0, 0)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    sets_ok = int(libc.capset(ctypes.byref(header), data)) == 0
    return sets_ok and (bounding_ok or not holds_capabilities())


def holds_capabilities() -> bool:
    """Whether any capability is still in this process's effective or permitted set."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16):
                return True
    return False


def _last_cap() -> int:
    try:
        with open(_LAST_CAP_FILE) as file:
            return int(file.read())
    except (OSError, ValueError):
        return 40
