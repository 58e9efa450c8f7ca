"""The two named pipes between the runner and one runtime (runner side, Trio).

The runner makes both FIFOs in a private directory and opens its ends
``O_RDWR | O_NONBLOCK``: on Linux that open never blocks, never fails with
``ENXIO`` for want of a reader, and the runner never sees a false EOF while
the runtime has not opened its end yet (or has died). The runtime then opens
its ends normally. One writer per FIFO: the runner writes ``to_runtime``,
the runtime writes ``from_runtime``. Each pipe is raised to 1 MiB (the
kernel's default ceiling, ``/proc/sys/fs/pipe-max-size``) where allowed, so a
large message crosses in a few writes instead of one per 64 KiB.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import AsyncIterator

import attrs
import trio

__all__ = ["PIPE_SIZE", "FifoPair", "open_fifo_pair"]

#: The capacity asked for each FIFO (bytes).
PIPE_SIZE = 1 << 20


@attrs.frozen
class FifoPair:
    """The paths of both FIFOs, for the runtime, and the runner's ends of them."""

    directory: str
    #: Path of the FIFO the runner writes and the runtime reads.
    to_runtime_path: str
    #: Path of the FIFO the runtime writes and the runner reads.
    from_runtime_path: str
    #: The runner's writing end.
    to_runtime: trio.lowlevel.FdStream
    #: The runner's reading end.
    from_runtime: trio.lowlevel.FdStream


@contextlib.asynccontextmanager
async def open_fifo_pair() -> AsyncIterator[FifoPair]:
    """Make a private directory (0700) with FIFOs ``to_runtime`` and ``from_runtime`` (0600).

    On exit both ends are closed and the directory is removed.
    """
    directory = tempfile.mkdtemp(prefix="trio-launcher-runtime-")  # mode 0700
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        to_runtime_path, to_runtime = _make_fifo(directory, "to_runtime", cleanup)
        from_runtime_path, from_runtime = _make_fifo(directory, "from_runtime", cleanup)
        await trio.lowlevel.checkpoint()
        yield FifoPair(directory, to_runtime_path, from_runtime_path, to_runtime, from_runtime)


def _make_fifo(
    directory: str, name: str, cleanup: contextlib.ExitStack
) -> tuple[str, trio.lowlevel.FdStream]:
    path = os.path.join(directory, name)
    os.mkfifo(path, 0o600)
    os.chmod(path, 0o600)  # whatever the umask
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # EPERM over the ceiling: the default size is kept
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    stream = trio.lowlevel.FdStream(fd)
    cleanup.callback(stream.close)
    return path, stream
