"""Run one child process in its own process group, under Trio supervision.

:func:`run_child` is the only way to start a child. It owns the child for its
whole life: it streams the output line by line, reaps the leader, and makes
sure no process of the child's process group (or of its cgroup, where there
is one) outlives the call. The child gets a parent-death signal before it
runs its program, so it also dies if this process is killed (see
:mod:`.owned`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from ..exception_groups import unwrap_lone_exception
from ..prctl import set_parent_death_signal
from ._lines import LineSplitter
from .cgroup import Cgroup, CgroupError
from .group import kill_process_group
from .owned import child_cgroups
from .pidfd import close_pidfd, open_pidfd, wait_pidfd

__all__ = ["ChildProcess", "ExitStatus", "OutputCallback", "SpawnError", "run_child"]

#: ``on_output(stream_name, line)``; ``stream_name`` is ``"stdout"`` or ``"stderr"``.
OutputCallback = Callable[[str, str], None]

logger = logging.getLogger("trio_launcher.process")

_READ_SIZE = 65536
#: After the leader exited we read at most this much more per stream.
_MAX_DRAIN_READS = 16
#: The thread every child is forked from. A child's parent-death signal fires when the
#: thread that forked it ends, so this is one thread that lives as long as the process
#: (never one of Trio's cached threads, which end when idle). Forking there also keeps
#: the Trio thread free while a child joins its cgroup and execs: on a cgroup2 mount
#: without favordynmods the join waits for an RCU grace period, 5-20 ms.
_FORKER = concurrent.futures.ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="trio-launcher-fork"
)


@attrs.frozen
class ExitStatus:
    """How a child ended: exactly one of ``returncode`` and ``signal`` is set."""

    returncode: int | None = None
    signal: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.returncode is None) == (self.signal is None):
            raise ValueError("exactly one of returncode and signal must be set")

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitStatus:
        """Convert a :mod:`subprocess` style return code (``-N`` means signal N)."""
        if returncode < 0:
            return cls(signal=-returncode)
        return cls(returncode=returncode)

    @property
    def ok(self) -> bool:
        """True if the child exited with code 0."""
        return self.returncode == 0

    def describe(self) -> str:
        """Human readable form: ``"exit code 1"`` or ``"killed by SIGKILL"``."""
        if self.signal is None:
            return f"exit code {self.returncode}"
        try:
            name = signal.Signals(self.signal).name
        except ValueError:
            name = f"signal {self.signal}"
        return f"killed by {name}"

    def __str__(self) -> str:
        return self.describe()


class SpawnError(OSError):
    """The child could not be started (missing executable, bad cwd, ...)."""

    command: tuple[str, ...]
    cwd: str | os.PathLike[str] | None


def _spawn_error(
    command: Sequence[str], cwd: str | os.PathLike[str] | None, cause: OSError
) -> SpawnError:
    where = "" if cwd is None else f" in {os.fspath(cwd)!r}"
    reason = cause.strerror or str(cause)
    if cause.filename is not None:
        reason = f"{reason}: {cause.filename!r}"
    error = SpawnError(cause.errno, f"cannot start {shlex.join(command)}{where}: {reason}")
    error.command, error.cwd = tuple(command), cwd
    return error


class ChildProcess:
    """Handle on a child started by :func:`run_child`.

    Signals go to the child's whole process group (``pgid == pid``). The handle
    is only valid while :func:`run_child` runs; afterwards :attr:`status` is set
    and signalling is a no-op.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], grace_period: float, cgroup: Cgroup | None
    ) -> None:
        self._process = process
        self._grace_period = grace_period
        self._status: ExitStatus | None = None
        self._reap_lock = trio.Lock()
        self._pidfd = open_pidfd(process.pid)  # our unreaped child: it exists
        #: The child's own cgroup, or None where the host gives none.
        self.cgroup = cgroup
        #: Process id of the child, which is also its process group id.
        self.pid: int = process.pid
        self.pgid: int = process.pid
        #: :func:`trio.current_time` when the child was spawned.
        self.started_at: float = trio.current_time()

    def __repr__(self) -> str:
        state = "running" if self._status is None else self._status.describe()
        return f"<ChildProcess pid={self.pid} {state}>"

    @property
    def status(self) -> ExitStatus | None:
        """How the child ended, or None while it has not been reaped yet."""
        return self._status

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the whole process group; ignored once the child is gone."""
        if self._status is None:
            kill_process_group(self.pgid, sig)

    async def wait(self) -> ExitStatus:
        """Wait for the leader to exit, SIGKILL what is left of its group and cgroup, reap it."""
        async with self._reap_lock:
            if self._status is None:
                returncode = await self._wait_for_exit()
                # The unreaped leader pins the pgid, so this cannot hit a reused id.
                kill_process_group(self.pgid)
                if returncode is None:
                    returncode = self._process.wait()  # it has exited: this does not block
                self._close_pidfd()
                await self._remove_cgroup()
                self._status = ExitStatus.from_returncode(returncode)
        return self._status

    async def terminate(self, grace_period: float | None = None) -> ExitStatus:
        """SIGTERM the group, give it ``grace_period`` seconds, then SIGKILL it.

        ``grace_period`` defaults to the one given to :func:`run_child`.
        """
        if grace_period is None:
            grace_period = self._grace_period
        self.send_signal(signal.SIGTERM)
        with trio.move_on_after(grace_period):
            return await self.wait()
        self.send_signal(signal.SIGKILL)
        return await self.wait()

    async def _wait_for_exit(self) -> int | None:
        """Wait until the leader has exited; without pidfds it is reaped (its return code)."""
        if self._pidfd is None:  # no pidfd support: reaped here, small pgid reuse window
            return await trio.to_thread.run_sync(self._process.wait)
        await wait_pidfd(self._pidfd)
        return None

    async def _remove_cgroup(self) -> None:
        """Kill what is left in the child's cgroup (``setsid`` or not), wait, remove it."""
        if self.cgroup is None:
            return
        try:
            await trio.to_thread.run_sync(self.cgroup.remove)
        except CgroupError as exc:  # the owner's subtree is retried at exit
            logger.warning("%s", exc)
        self.cgroup = None

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            close_pidfd(self._pidfd)
            self._pidfd = None


class _OutputPump:
    """Reads one pipe and hands complete lines to the callback.

    Reading is shielded from outside cancellation so that output written while
    the child shuts down is not lost; :meth:`stop` ends it instead.
    """

    def __init__(self, name: str, fd: int, on_output: OutputCallback | None) -> None:
        self._name = name
        self._fd = fd
        self._on_output = on_output
        self._lines = LineSplitter()
        self._scope = trio.CancelScope(shield=True)

    def stop(self) -> None:
        """Stop waiting for more output; what is already in the pipe is still read."""
        self._scope.cancel()

    async def run(self) -> None:
        """Deliver lines until EOF, or until stopped and what was buffered is read."""
        try:
            with self._scope:
                while data := await self._receive():
                    self._deliver(self._lines.feed(data))
            if self._scope.cancelled_caught:
                self._drain()
            self._deliver(self._lines.finish())
        finally:
            os.close(self._fd)

    async def _receive(self) -> bytes:
        await trio.lowlevel.checkpoint()
        while True:
            try:
                return os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)

    def _drain(self) -> None:
        """Deliver what is already buffered, without waiting for EOF.

        A process that escaped the group may hold the pipe open forever.
        """
        for _ in range(_MAX_DRAIN_READS):
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                break
            self._deliver(self._lines.feed(data))

    def _deliver(self, lines: list[str]) -> None:
        if self._on_output is not None:
            for line in lines:
                self._on_output(self._name, line)


async def _spawn(
    command: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    own_cgroup: bool,
) -> tuple[subprocess.Popen[bytes], Cgroup | None, int, int]:
    """Start ``command`` in a new session; return it, its cgroup and its stdout/stderr ends."""
    cgroup = await _new_cgroup() if own_cgroup else None
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    procs = -1 if cgroup is None else os.open(f"{cgroup.path}/cgroup.procs", os.O_WRONLY)
    with contextlib.ExitStack() as on_failure:
        on_failure.callback(os.close, out_read)
        on_failure.callback(os.close, err_read)
        if cgroup is not None:
            on_failure.callback(cgroup.remove)
        tie = _tie_to_parent(os.getpid(), procs)

        def popen() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=tie,
            )

        try:
            process = await _in_forker(popen)
        except OSError as exc:
            raise _spawn_error(command, cwd, exc) from exc
        finally:
            os.close(out_write)
            os.close(err_write)
            if procs >= 0:
                os.close(procs)
        on_failure.pop_all()
    os.set_blocking(out_read, False)
    os.set_blocking(err_read, False)
    return process, cgroup, out_read, err_read


async def _in_forker(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """``popen()`` run in the forker thread; not cancelled half-way (the child would be lost)."""
    future = _FORKER.submit(popen)
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()
    future.add_done_callback(lambda _: token.run_sync_soon(done.set))
    with trio.CancelScope(shield=True):
        await done.wait()
    return future.result()


async def _new_cgroup() -> Cgroup | None:
    owned = await trio.to_thread.run_sync(child_cgroups)  # blocks only the first time
    return owned.new_cgroup()


def _tie_to_parent(parent: int, cgroup_procs: int) -> Callable[[], None]:
    """What the forked child does before exec: join its cgroup, die with its parent.

    It runs between fork and exec, so it only makes system calls (no locks,
    no imports): writing an open fd and one ``prctl``.
    """

    def in_child() -> None:
        if cgroup_procs >= 0:
            with contextlib.suppress(OSError):  # the parent checked it may; the group still holds
                os.write(cgroup_procs, b"0")
        set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was set
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


async def run_child(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    on_output: OutputCallback | None = None,
    grace_period: float = 10.0,
    own_cgroup: bool = True,
    task_status: trio.TaskStatus[ChildProcess] = trio.TASK_STATUS_IGNORED,
) -> ExitStatus:
    """Run ``command`` as the leader of a new process group until it exits.

    stdin is ``/dev/null``. stdout and stderr are decoded as UTF-8 (invalid
    bytes replaced), split into lines without their line ending and passed to
    ``on_output(stream_name, line)``; blank lines are dropped, an unterminated
    last line is delivered at EOF and very long lines are split. With
    ``nursery.start`` the :class:`ChildProcess` handle is returned once the
    child is spawned.

    When the leader exits, whatever is left of its process group is killed
    with SIGKILL. If the call is cancelled (or ``on_output`` raises), the group
    gets SIGTERM, up to ``grace_period`` seconds to exit (shielded from the
    cancellation), then SIGKILL; the leader is reaped before the cancellation
    propagates. No process of the group outlives this call.

    The child dies with this process (a parent-death signal set before exec)
    and, where the host gives cgroups and ``own_cgroup`` is true, runs in a
    cgroup of its own that is killed with it, so that descendants that left
    the group die too. Pass ``own_cgroup=False`` for a child that makes
    cgroups for its own children with controllers (the runner caps each
    task's processes with ``pids``): no controller can be enabled below a
    cgroup that holds a process.

    Raises:
        SpawnError: the command could not be started.
    """
    process, cgroup, out_fd, err_fd = await _spawn(command, env, cwd, own_cgroup)
    child = ChildProcess(process, grace_period, cgroup)
    pumps = [_OutputPump("stdout", out_fd, on_output), _OutputPump("stderr", err_fd, on_output)]
    with unwrap_lone_exception():
        async with trio.open_nursery() as nursery:
            try:
                for pump in pumps:
                    nursery.start_soon(pump.run)
                task_status.started(child)
                return await child.wait()
            finally:
                with trio.CancelScope(shield=True):
                    await child.terminate()
                for pump in pumps:
                    pump.stop()
