"""Small Linux process-control helpers shared by the worker and task processes.

The ``prctl`` settings come from :mod:`trio_launcher.prctl`; the C library
is reached through :mod:`ctypes`.
"""

from __future__ import annotations

import os
import signal
import sys

from trio_launcher.prctl import set_child_subreaper, set_dumpable, set_parent_death_signal

if sys.platform.startswith("linux"):
    import ctypes

    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
else:  # pragma: no cover - the runner targets Linux
    _libc = None

__all__ = [
    "kill_process_group",
    "set_child_subreaper",
    "set_dumpable",
    "set_parent_death_signal",
    "trim_heap",
]


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
