"""Waiting for a process to end through a pidfd, any process, not only a child."""

from __future__ import annotations

import os

import trio

__all__ = ["close_pidfd", "open_pidfd", "wait_for_exit", "wait_pidfd"]


def open_pidfd(pid: int) -> int | None:
    """A pidfd for *pid*; None without pidfd support (kernel < 5.3, a sandbox that forbids it).

    Raises:
        ProcessLookupError: there is no process *pid*.
    """
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise
    except OSError:
        return None


async def wait_pidfd(pidfd: int) -> None:
    """Return once the process of *pidfd* has ended (a zombie counts as ended)."""
    await trio.lowlevel.wait_readable(pidfd)


def close_pidfd(pidfd: int) -> None:
    """Close *pidfd*, waking any task that waits on it."""
    trio.lowlevel.notify_closing(pidfd)
    os.close(pidfd)


async def wait_for_exit(pid: int) -> bool:
    """Wait until process *pid* has ended.

    Returns False if that cannot be observed (no pidfd support); True once
    the process is gone, or if it was already gone.
    """
    try:
        pidfd = open_pidfd(pid)
    except ProcessLookupError:
        return True
    if pidfd is None:  # pragma: no cover - old kernels
        return False
    try:
        await wait_pidfd(pidfd)
    finally:
        close_pidfd(pidfd)
    return True
