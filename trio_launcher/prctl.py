"""Linux ``prctl`` settings shared by every process this project runs.

Stdlib only, with no package imports: the runner's stdlib-only worker, the
runner and the launcher all use it.  On other platforms the helpers report
that they did nothing.
"""

from __future__ import annotations

import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

if sys.platform.startswith("linux"):
    import ctypes

    # Looked up once, here: a child between fork and exec calls it, and a
    # symbol lookup there could wait for a loader lock another thread held.
    _prctl_function = ctypes.CDLL(None, use_errno=True).prctl
    _prctl_function.argtypes = (ctypes.c_int,) + (ctypes.c_ulong,) * 4
    _prctl_function.restype = ctypes.c_int
    _libc_prctl: ctypes._NamedFuncPointer | None = _prctl_function
else:  # pragma: no cover - the runner targets Linux
    _libc_prctl = None


def _prctl(option: int, value: int) -> bool:
    if _libc_prctl is None:  # pragma: no cover
        return False
    return int(_libc_prctl(option, value, 0, 0, 0)) == 0


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send *signum* to this process when its parent thread dies."""
    return _prctl(_PR_SET_PDEATHSIG, int(signum))


def set_dumpable(dumpable: bool) -> bool:
    """Non-dumpable: no core dumps, and other processes of the same user cannot
    ptrace this one or read its ``/proc/<pid>/{mem,environ}``."""
    return _prctl(_PR_SET_DUMPABLE, int(dumpable))


def is_dumpable() -> bool:
    """Whether this process is dumpable (``PR_GET_DUMPABLE``)."""
    if _libc_prctl is None:  # pragma: no cover
        return True
    return int(_libc_prctl(3, 0, 0, 0, 0)) == 1


def set_child_subreaper() -> bool:
    """Adopt orphaned descendants (instead of init), so that we can reap them."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)
