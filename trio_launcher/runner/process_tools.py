"""Small Linux process-control helpers shared by the worker and task processes.

``prctl`` is reached through :mod:`ctypes`; on other platforms the helpers
report that they did nothing.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

if sys.platform.startswith("linux"):
    import ctypes

    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
else:  # pragma: no cover - the runner targets Linux
    _libc = None


def _prctl(option: int, value: int) -> bool:
    if _libc is None:  # pragma: no cover
        return False
    return int(_libc.prctl(option, value, 0, 0, 0)) == 0


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send *signum* to this process when its parent thread dies."""
    return _prctl(_PR_SET_PDEATHSIG, int(signum))


def set_dumpable(dumpable: bool) -> bool:
    """Non-dumpable: no core dumps, and other processes of the same user cannot
    ptrace this one or read its ``/proc/<pid>/{mem,environ}``."""
    return _prctl(_PR_SET_DUMPABLE, int(dumpable))


def set_child_subreaper() -> bool:
    """Adopt orphaned descendants (instead of init), so that we can reap them."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def trim_heap() -> bool:
    """Return the free memory of the C heap to the kernel (``malloc_trim(0)``).

    A process about to be forked many times runs this once: every page it
    keeps is one more page table entry to copy at each fork and to drop at
    each child's exit.  True if memory was released.
    """
    if _libc is None:  # pragma: no cover
        return False
    return int(_libc.malloc_trim(0)) == 1


def kill_process_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Signal every process in group *pgid*; False if there was none to signal."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
