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
import io
import marshal
import os
import sys

from trio_launcher.runner.code_node.error_payloads import user_error
from trio_launcher.runner.code_node.run import run_code_task
from trio_launcher.runner.worker.posix import receive_fd, set_parent_death_signal
from trio_launcher.runner.worker.wire import encode_reply, recv_frame, send_frame

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from typing import Any

    from trio_launcher.runner.worker.settings import WorkerSettings


def run_task_process(handoff: _socket.socket, settings: WorkerSettings, worker_pid: int) -> None:
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


def _execute(sock: _socket.socket, settings: WorkerSettings) -> dict[str, Any] | None:
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
