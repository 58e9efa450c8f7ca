"""Records on the control socket between the runner and its worker.

The socket is ``AF_UNIX``/``SOCK_SEQPACKET``, so every datagram is one
record: :data:`RECORD` (a kind byte and three integers: task number, pid and
a value), then UTF-8 text for the kinds that explain something.  A passed
file descriptor travels with the record it belongs to.  Fixed records keep
the worker's loop small: it runs between forks, and every page it writes
then is a copy.

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
