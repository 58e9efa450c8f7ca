"""Signals to a whole process group.

Stdlib only, and importable without :mod:`trio_launcher.process`'s other
modules: the runner's stdlib-only worker uses it as well as the Trio side.
"""

from __future__ import annotations

import os
import signal

__all__ = ["kill_process_group"]


def kill_process_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Signal every process in group *pgid*; False if there was none we may signal."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
