"""Records on the control socket between the runner and its worker.

The socket is ``AF_UNIX``/``SOCK_SEQPACKET``, so every datagram is one
record: :data:`RECORD` (a kind byte and three integers: task number, pid and
a value), then UTF-8 text for the kinds that explain something.  A passed
file descriptor travels with the record it belongs to.  Fixed records keep
the worker's loop small: it runs between forks, and every page it writes
then is a copy.

The worker (:mod:`.zygote`) and the runner
(:mod:`trio_launcher.runner.executor.worker_handle`) send these records.

Runner → worker:

* ``RUN`` task, with its fds attached (``SCM_RIGHTS``): the task's end of a
  fresh ``SOCK_STREAM`` socket pair, then, when the runner gives the task a
  cgroup of its own (:mod:`trio_launcher.runner.executor.task_cgroups`),
  that cgroup's ``cgroup.procs``, ``cgroup.events`` and (Linux >= 5.14)
  ``cgroup.kill``.  The worker moves a task process into the cgroup, then
  hands it the socket; the process serves the task on it (:mod:`.task_process`).
* ``KILL`` task: ``SIGKILL`` the task's process group and cgroup, if the task
  process has not been reaped yet.  Routing kills through the worker, which is
  the one that reaps, means a group is never signalled after its id could have
  been reused.
* end of file: the runner is gone or closing; kill every task process group,
  reap them and exit 0.

Worker → runner:

* ``READY`` pid, once, when it serves requests; its text is the JSON report
  of the kernel layers (:meth:`.confine.layers.Confinement.report`);
* ``STARTED`` task, pid, once a process has the task (it is its own process
  group leader, so the pid is also its group id), with a pidfd of the
  process attached where the kernel has them (Linux >= 5.3): in its own
  PID namespace the worker's pids mean nothing to the runner, the pidfd
  tells it the pid it knows the process by;
* ``FAILED`` task, text, when no process could be started;
* ``EXITED`` task, pid, value once the task process is reaped and nothing it
  started is left (its cgroup is empty, or without one, its process group);
  the value is the exit code, or ``-N`` when signal N killed it;
* ``ERROR`` text, for a malformed request.

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

import struct

RECORD = struct.Struct("<c3q")
#: The most either side reads of one datagram (a record and its text).
MAX_RECORD = 65536

# Runner -> worker.
RUN = b"r"  #: start task TASK; its socket is attached
KILL = b"k"  #: SIGKILL the process group of task TASK, if not reaped yet

# Worker -> runner.
READY = b"R"  #: serving requests; PID is the worker's
STARTED = b"S"  #: task TASK runs in process PID (its own group leader)
FAILED = b"F"  #: no process could be started for task TASK; text says why
EXITED = b"X"  #: task TASK's process PID was reaped; VALUE is its return code
ERROR = b"E"  #: a malformed request; text says what


def pack(kind: bytes, task: int = 0, pid: int = 0, value: int = 0, text: str = "") -> bytes:
    """One record."""
    return RECORD.pack(kind, task, pid, value) + text.encode("utf-8", "replace")


def unpack(data: bytes) -> tuple[bytes, int, int, int, str]:
    """Decode one record: kind, task, pid, value, text; :class:`ValueError` if too short."""
    if len(data) < RECORD.size:
        raise ValueError(f"control record of {len(data)} bytes (expected {RECORD.size} or more)")
    kind, task, pid, value = RECORD.unpack_from(data)
    text = data[RECORD.size :].decode("utf-8", "replace")
    return kind, task, pid, value, text
