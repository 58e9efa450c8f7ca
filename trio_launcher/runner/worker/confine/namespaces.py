"""Namespaces of the worker's own: user, PID, network, mount and IPC.

:func:`enter` runs first in the worker, before any other layer, and works
for an unprivileged user where the host allows user namespaces:

1. ``unshare(CLONE_NEWUSER)``, and a one-to-one map of the worker's own uid
   and gid (nothing else: the namespace holds no other user);
2. ``unshare`` of new PID, network, mount and IPC namespaces, owned by that
   user namespace;
3. ``fork``: the child is PID 1 of the new PID namespace and goes on as the
   worker; the parent stays behind as its *keeper* (:func:`_keep`), the
   process the runner started and knows: it passes ``SIGTERM``/``SIGINT``
   on, waits, and exits with the worker's status.  When the keeper dies
   (the runner killed it, or died itself), the worker gets ``SIGKILL``
   (``PR_SET_PDEATHSIG``), and when PID 1 of a namespace dies the kernel
   kills everything left in it: no task process can outlive its worker;
4. in the child, a fresh ``/proc`` for the new PID namespace, if the host
   allows it (a container that masks parts of ``/proc`` does not).

A worker that is not root also caps its user's processes in there
(``RLIMIT_NPROC``, :data:`MAX_PROCESSES`): since Linux 5.14 the count is
per user namespace, so it holds only the worker's own processes.  The
kernel never applies the limit to root; for root the per-task cgroup's
``pids.max`` does it, where the host delegates the ``pids`` controller.

In there, a task sees only the worker and the other task processes, cannot
signal anything outside, and has a network namespace with only a loopback
device, down.  Capabilities the worker holds in its user namespace give no
power outside it, and the *privileges* layer drops them anyway.

Stdlib only: the worker imports this module.
"""

from __future__ import annotations

import ctypes
import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_STOP_SIGNALS = (15, 2)  # SIGTERM, SIGINT
#: The most processes (threads included) a non-root worker and its tasks may have.
MAX_PROCESSES = 1024


class NamespacesUnavailable(OSError):
    """The host does not let this process make the namespaces; the message says why."""


def enter() -> str:
    """Steps 1 to 4 of the module docstring; returns in the new worker, PID 1.

    The returned detail says what is on (``"user, pid, net, mount, ipc"``,
    and a note when ``/proc`` could not be mounted afresh).  Raises
    :class:`NamespacesUnavailable` when the namespaces cannot be made; the
    process is then unchanged, unless only the mapping of its uid failed
    after the user namespace was made, which is fatal: :class:`OSError`.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    _unshare(libc, CLONE_NEWUSER, "a user namespace")
    _map_ids(uid, gid)
    _unshare(libc, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC, "namespaces")
    _fork_into_namespace(libc)
    proc = _mount_proc(libc)
    detail = "user, pid, net, mount, ipc"
    if uid != 0:
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        detail += f"; at most {MAX_PROCESSES} processes"
    return detail + (f"; /proc not remounted: {proc}" if proc else "")


def _unshare(libc: ctypes.CDLL, flags: int, what: str) -> None:
    if int(libc.unshare(flags)) != 0:
        code = ctypes.get_errno()
        raise NamespacesUnavailable(code, f"cannot make {what}: {os.strerror(code)}")


def _map_ids(uid: int, gid: int) -> None:
    """Map our own uid and gid, as an unprivileged process may (groups denied first)."""
    _write_proc("/proc/self/setgroups", "deny")
    _write_proc("/proc/self/uid_map", f"{uid} {uid} 1")
    _write_proc("/proc/self/gid_map", f"{gid} {gid} 1")


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _fork_into_namespace(libc: ctypes.CDLL) -> None:
    """Fork PID 1 of the new namespace; the parent becomes its keeper and never returns."""
    keeper_alive, keeper_holds = os.pipe()
    child = os.fork()
    if child != 0:
        os.close(keeper_alive)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0, as the worker
        _keep(child, keeper_holds)
    os.close(keeper_holds)
    libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    # The keeper may have died before the line above: then its pipe end is closed.
    poller = select.poll()
    poller.register(keeper_alive, select.POLLIN)
    gone = poller.poll(0)
    os.close(keeper_alive)
    if gone:
        os._exit(1)


def _keep(child: int, holds: int) -> NoReturn:
    """The keeper: hold nothing of the worker's, pass stop signals on, exit as it did."""
    import signal

    os.closerange(3, holds)
    os.closerange(holds + 1, 1 << 20)
    for signum in _STOP_SIGNALS:
        signal.signal(signum, lambda received, _frame: os.kill(child, received))
    _pid, status = os.waitpid(child, 0)  # retried after each handled signal (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _mount_proc(libc: ctypes.CDLL) -> str:
    """Mount ``/proc`` for this PID namespace; ``""``, or why it could not be."""
    if int(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None)) != 0:
        return os.strerror(ctypes.get_errno())
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if int(libc.mount(b"proc", b"/proc", b"proc", flags, None)) != 0:
        return os.strerror(ctypes.get_errno())
    return ""
