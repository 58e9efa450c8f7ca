"""What a task process does, from the moment the worker forks it.

1. Become the leader of its own process group (the runner kills the group),
   die with the worker (``PR_SET_PDEATHSIG``), add its own kernel layers
   (:meth:`.confine.layers.Confinement.apply_to_task`: a Landlock domain of
   its own, the per-task seccomp filter) to the worker's, and lock the
   process down (environment, ``sys.modules``, ``importlib``).  The address
   space limit (``RLIMIT_AS``) is inherited from the worker, so a runaway
   allocation is a ``MemoryError``.  All of
   this happens before there is a task: the worker keeps one such *spare*
   ready, so it is off the task's critical path.
2. Receive the task socket from the worker, read the request and the code
   object from it (one marshalled frame).
3. Send stderr to a buffer, run the code task.
4. Write the reply as one frame.  The caller then ``os._exit``\\ s.
"""

from __future__ import annotations

import _socket
import array
import io
import marshal
import os
import resource
import sys

from trio_launcher.runner.code_node.error_payloads import user_error
from trio_launcher.runner.code_node.run import run_code_task
from trio_launcher.runner.sandbox.runtime import RuntimeSandbox
from trio_launcher.runner.worker.confine.layers import Confinement
from trio_launcher.runner.worker.posix import set_parent_death_signal
from trio_launcher.runner.worker.wire import encode_reply, recv_frame, send_frame

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from typing import Any

_MIB = 1024 * 1024


class TaskSettings:
    """What every task process of one worker shares (wire form from the runner).

    ``builtins`` is the table user code gets, built once in the worker: each
    task process runs one task, so it may use (and change) its inherited
    copy, and never touches every builtin object again to build its own.
    """

    __slots__ = ("builtins", "confinement", "memory_limit_mb", "sandbox")

    def __init__(
        self,
        sandbox: RuntimeSandbox,
        *,
        memory_limit_mb: int | None,
        confinement: Confinement | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.memory_limit_mb = memory_limit_mb
        self.builtins = sandbox.build_builtins()
        self.confinement = confinement or Confinement({"layers": []})

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TaskSettings:
        """Build from the worker's command-line JSON."""
        limit = wire.get("memory_limit_mb")
        return cls(
            RuntimeSandbox.from_wire(wire["sandbox"]),
            memory_limit_mb=int(limit) if limit else None,
            confinement=Confinement(wire["sandbox"].get("confine", {"layers": []})),
        )


def run_task_process(handoff: _socket.socket, settings: TaskSettings, worker_pid: int) -> None:
    """Body of a freshly forked task process (see the module docstring).

    The process prepares itself before it has a task (it is forked ahead of
    time as a *spare*), then waits on *handoff* for the worker to pass it
    the task socket.  It returns when the task is answered, or at once if
    the worker closes *handoff* without passing a socket.
    """
    os.setpgid(0, 0)
    set_parent_death_signal()
    if os.getppid() != worker_pid:  # the worker died before we could notice
        return
    settings.confinement.apply_to_task(os.getpid())
    settings.sandbox.lock_down_process()
    task_fd = receive_fd(handoff)
    handoff.close()
    if task_fd is None:
        return
    sock = _socket.socket(fileno=task_fd)
    try:
        reply = _execute(sock, settings)
        if reply is not None:
            send_frame(sock, encode_reply(reply))
    finally:
        sock.close()


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


def _execute(sock: _socket.socket, settings: TaskSettings) -> dict[str, Any] | None:
    try:
        request, code = marshal.loads(recv_frame(sock))
    except EOFError:  # the runner gave up on this task before sending it
        return None
    except MemoryError as exc:
        error = user_error(exc, source="", memory_limit_mb=settings.memory_limit_mb)
        return {"error": error, "print_args": []}
    stdout = sys.stdout
    sys.stderr = stderr = io.StringIO()
    return run_code_task(
        request,
        code,
        settings.sandbox,
        echo=stdout,
        stderr=stderr,
        memory_limit_mb=settings.memory_limit_mb,
        builtins=settings.builtins,
    )
