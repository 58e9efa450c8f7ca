"""Removing the cgroup subtrees of owners that died without cleaning up (SIGKILL, OOM).

Stdlib only, no ``typing`` at run time (see ``cgroup.py``).
"""

from __future__ import annotations

import os

from .cgroup import DEFAULT_TIMEOUT, Cgroup
from .cgroup_tree import owner_alive, parse_tree_name

__all__ = ["remove_stale_trees"]


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
        if owner is None or owner_alive(*owner, proc):
            continue
        path = os.path.join(parent, name)
        try:
            Cgroup(path).remove(timeout)
        except OSError:
            continue
        removed.append(path)
    return removed
