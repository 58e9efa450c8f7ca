"""Small Linux helpers shared by the worker and task processes.

Process groups, the C heap, passed fds and the address-space limit; the
``prctl`` settings come from :mod:`trio_launcher.prctl`.  The C library is
reached through :mod:`ctypes`.
"""

from __future__ import annotations

import _socket
import array
import os
import resource
import sys

from trio_launcher.prctl import set_child_subreaper, set_dumpable, set_parent_death_signal

if sys.platform.startswith("linux"):
    import ctypes

    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
else:  # pragma: no cover - the runner targets Linux
    _libc = None

_MIB = 1024 * 1024

__all__ = [
    "limit_memory",
    "receive_fd",
    "receive_fds",
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


def receive_fd(sock: _socket.socket) -> int | None:
    """Receive one message carrying one fd (``SCM_RIGHTS``); None at end of file."""
    _data, fds = receive_fds(sock, 16, 1)
    for extra in fds[1:]:
        os.close(extra)
    return fds[0] if fds else None


def receive_fds(sock: _socket.socket, size: int, max_fds: int) -> tuple[bytes, list[int]]:
    """Receive one message of up to *size* bytes and the fds it carries (``SCM_RIGHTS``).

    ``(b"", [])`` on error or end of file.  Like :func:`socket.recv_fds`
    (without the :mod:`socket` module, and its lazy ``import array``, which
    would have to re-import the module after :data:`sys.modules` was
    sanitised); the fds are received close-on-exec.
    """
    fds = array.array("i")
    try:
        data, ancillary, _flags, _address = sock.recvmsg(
            size, _socket.CMSG_SPACE(max_fds * fds.itemsize), _socket.MSG_CMSG_CLOEXEC
        )
    except OSError:
        return b"", []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, fds.tolist()


def limit_memory(limit_mb: int | None) -> None:
    """Cap the address space; both limits, so user code cannot raise it again.

    The worker does it for itself, before its seccomp filter forbids it:
    every task process inherits the limit.
    """
    if limit_mb:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = limit_mb * _MIB
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
