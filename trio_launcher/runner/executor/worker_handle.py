"""Runner-side handle of the pre-started worker.

The worker and its control protocol are in :mod:`trio_launcher.runner.worker.zygote`.

:class:`WorkerProcess` starts the worker, reads its control socket, and
hands out task processes through :meth:`WorkerProcess.open_task`, whose exit
guarantees that the task process is dead and reaped.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from trio_launcher.process.group import kill_process_group
from trio_launcher.process.pidfd import wait_for_exit
from trio_launcher.runner.executor.task_cgroups import TaskCgroup, TaskCgroups
from trio_launcher.runner.worker import control

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0
#: How long a killed task may take to be reported as reaped before we stop waiting.
KILL_GRACE = 10.0
STOP_GRACE = 5.0

_RUNNER_DIR = Path(__file__).resolve().parents[1]
# The worker must not run the ``__init__`` modules of ``trio_launcher`` and
# ``trio_launcher.runner`` (they import Trio and friends): it installs empty
# ones before importing its own modules, so its import set is exactly what a
# task needs.  The subpackages it imports from (``worker``, ``sandbox``,
# ``code_node``) have ``__init__`` modules that import nothing.
_STUBBED_PACKAGES = (
    ("trio_launcher", str(_RUNNER_DIR.parent)),
    ("trio_launcher.runner", str(_RUNNER_DIR)),
    ("trio_launcher.process", str(_RUNNER_DIR.parent / "process")),
)


def worker_bootstrap(statements: str) -> str:
    """Source for ``python -P -c``: empty parent packages, then *statements*.

    This is how the worker finds its modules: through the packages'
    ``__path__``, whatever ``sys.path`` holds.
    """
    return f"""\
import sys
for _name, _path in {_STUBBED_PACKAGES!r}:
    _module = type(sys)(_name)
    _module.__path__ = [_path]
    sys.modules[_name] = _module
{statements}
"""


_BOOTSTRAP = worker_bootstrap(
    "from trio_launcher.runner.worker.zygote import main\nsys.exit(main(sys.argv[1:]))"
)

#: Variables the worker keeps when the environment is blocked (besides the
#: allowlist): what the interpreter itself needs.  Task processes clear even these.
_INTERPRETER_ENV = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH"}
)


class WorkerLost(Exception):
    """The worker died (or was closed) before the task process started."""


class WorkerStartError(RuntimeError):
    """The worker process did not come up."""


@attrs.define(eq=False)
class TaskProcess:
    """One task process, as seen from the runner."""

    number: int
    stream: trio.SocketStream
    #: Its pid as the worker sees it (in the worker's PID namespace, if it has one).
    worker_pid: int | None = None
    #: A pidfd of it, from the worker (Linux >= 5.3).
    pidfd: int | None = None
    returncode: int | None = None
    #: The run request reached the worker (so a process may exist).
    requested: bool = False
    #: The worker died while this task was in flight.
    lost: bool = False
    start_error: str | None = None
    #: The cgroup it runs in, when the host gives one.
    cgroup: TaskCgroup | None = None
    started: trio.Event = attrs.field(factory=trio.Event)
    exited: trio.Event = attrs.field(factory=trio.Event)
    _pid: int | None = None

    @property
    def pid(self) -> int | None:
        """Its pid in our PID namespace, once started (read from the pidfd when first asked)."""
        if self._pid is None:
            if self.pidfd is None:
                return self.worker_pid  # an old kernel: no pidfd, and no PID namespace either
            self._pid = _pid_of(self.pidfd)
        return self._pid or None

    def close_pidfd(self) -> None:
        """Let go of the pidfd (the process has been reaped, or is lost)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
            if self._pid is None:
                self._pid = 0  # not known any more


def worker_environment(
    environ: Mapping[str, str], *, block_env_access: bool, env_allow: frozenset[str]
) -> dict[str, str]:
    """The worker's environment: everything, or only what is allowed and needed.

    When env access is blocked the worker never receives the runner's
    secrets (grant token, ...), so they are not in its memory, in
    ``/proc/<pid>/environ`` or in what a forked task inherits.
    """
    if not block_env_access:
        return dict(environ)
    return {
        name: value
        for name, value in environ.items()
        if name in env_allow or name in _INTERPRETER_ENV or name.startswith(("PYTHON", "LC_"))
    }


class WorkerProcess:
    """A running worker and its control socket."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        control: trio.socket.SocketType,
        cgroups: TaskCgroups | None = None,
    ) -> None:
        self._popen = popen
        self._control = control
        self._cgroups = cgroups
        self._send_lock = trio.Lock()
        self._pending: dict[int, TaskProcess] = {}
        self._numbers = itertools.count(1)
        self._closing = False
        self._gone = trio.Event()
        self.alive = True
        #: Each kernel layer's status, as the worker reported it when ready.
        self.confinement: dict[str, str] = {}

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._popen.pid

    @property
    def tasks_in_flight(self) -> int:
        """Task processes requested and not yet reaped."""
        return len(self._pending)

    @classmethod
    async def spawn(
        cls, config: dict[str, Any], env: Mapping[str, str], cgroups: TaskCgroups | None = None
    ) -> WorkerProcess:
        """Start a worker and wait until it reports ready; tasks run in *cgroups* if given."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Not trio.lowlevel.open_process: it forks from a thread-cache
            # thread, and PR_SET_PDEATHSIG fires when *that thread* exits (idle
            # threads do, after 10 s).  Forking from the Trio thread is quick
            # (vfork) and ties the worker to the runner's lifetime.
            popen = subprocess.Popen(  # noqa: ASYNC220 - see above
                [sys.executable, "-P", "-c", _BOOTSTRAP, str(theirs.fileno()), json.dumps(config)],
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                env=dict(env),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = cls(popen, trio.socket.from_stdlib_socket(ours), cgroups)
        await worker._wait_ready()
        return worker

    async def _wait_ready(self) -> None:
        record = None
        with trio.move_on_after(READY_TIMEOUT):
            record = await self._receive()
        if record is not None:
            for fd in record[5]:
                os.close(fd)
        if record is None or record[0] != control.READY:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise WorkerStartError(
                f"task worker did not start (got {record!r}, exit status {self._popen.poll()})"
            )
        self.confinement = _parse_report(record[4])

    async def _receive(self) -> tuple[bytes, int, int, int, str, list[int]] | None:
        """The next record and the fds passed with it; None once the worker is gone."""
        try:
            data, ancillary, _flags, _address = await self._control.recvmsg(
                control.MAX_RECORD, socket.CMSG_SPACE(_INT.itemsize)
            )
        except (OSError, trio.ClosedResourceError):
            return None
        if not data:
            return None
        try:
            kind, task, pid, value, text = control.unpack(data)
        except ValueError as exc:
            log.error("task worker sent a malformed record: %s", exc)
            kind, task, pid, value, text = (b"", 0, 0, 0, "")
        return kind, task, pid, value, text, _passed_fds(ancillary)

    async def serve(self) -> None:
        """Dispatch the worker's records until it goes away."""
        try:
            while (record := await self._receive()) is not None:
                self._dispatch(*record)
        finally:
            self._mark_lost()

    def _dispatch(
        self, kind: bytes, number: int, pid: int, value: int, text: str, fds: list[int]
    ) -> None:
        task = self._pending.get(number)
        if kind == control.STARTED and task is not None and task.pidfd is None:
            task.worker_pid, task.pidfd = pid, fds.pop() if fds else None
            task.started.set()
        for fd in fds:
            os.close(fd)
        if kind == control.ERROR:
            log.warning("task worker: %s", text)
        if task is None or kind == control.STARTED:
            return
        if kind == control.FAILED:
            task.start_error = text
        elif kind == control.EXITED:
            task.returncode = value
        else:
            return
        self._forget(task)

    async def wait_gone(self) -> None:
        """Wait until the worker's control channel has closed."""
        await self._gone.wait()

    def _mark_lost(self) -> None:
        self.alive = False
        self._gone.set()
        for task in self._pending.values():
            task.lost = True
            if task.pid is not None and not self._closing:
                # The worker was killed: its task processes got PDEATHSIG, but
                # anything they spawned did not.
                kill_process_group(task.pid)
            task.started.set()
            task.exited.set()
        self._pending.clear()

    @asynccontextmanager
    async def open_task(self) -> AsyncIterator[TaskProcess]:
        """Start a task process; on exit it is killed if needed and always reaped.

        Raises :class:`WorkerLost` if the worker goes away before the task
        process started (nothing ran, so the caller may retry elsewhere).
        """
        if not self.alive:
            raise WorkerLost("the task worker is gone")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        task = TaskProcess(
            next(self._numbers), trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        )
        self._pending[task.number] = task
        try:
            await self._request_start(task, theirs)
            yield task
        finally:
            theirs.close()
            with trio.CancelScope(shield=True):
                await self._finish(task)

    async def _request_start(self, task: TaskProcess, theirs: socket.socket) -> None:
        request = control.pack(control.RUN, task.number)
        passed = [theirs.fileno()]
        if self._cgroups is not None:
            task.cgroup = self._cgroups.acquire()
            passed += task.cgroup.fds
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", passed))]
        try:
            async with self._send_lock:
                await self._control.sendmsg([request], fds)
        except (OSError, trio.ClosedResourceError) as exc:
            self._forget(task)
            raise WorkerLost("the task worker is gone") from exc
        task.requested = True
        theirs.close()
        await task.started.wait()
        if task.lost:
            raise WorkerLost("the task worker died before the task started")
        if task.start_error is not None:
            raise WorkerStartError(f"Could not start a task process: {task.start_error}")

    def _forget(self, task: TaskProcess) -> None:
        self._pending.pop(task.number, None)
        task.started.set()
        task.exited.set()

    async def _finish(self, task: TaskProcess) -> None:
        if not task.requested:
            self._forget(task)
        if task.lost and task.pid is not None:
            # The worker died: the task process got SIGKILL (parent-death
            # signal and _mark_lost), but nobody reports its end any more.
            with trio.move_on_after(KILL_GRACE):
                await wait_for_exit(task.pid)
        if not task.exited.is_set():
            await self._send_kill(task)
            with trio.move_on_after(KILL_GRACE):
                await task.exited.wait()
        if not task.exited.is_set():
            log.error("task worker did not reap task process %s; killing it directly", task.pid)
            if task.pid is not None:
                kill_process_group(task.pid)
            self._forget(task)
        self._release_cgroup(task)
        task.close_pidfd()
        await task.stream.aclose()

    def _release_cgroup(self, task: TaskProcess) -> None:
        if task.cgroup is not None and self._cgroups is not None:
            # EXITED means the worker saw the cgroup empty; otherwise kill what is left.
            emptied = task.returncode is not None and not task.lost
            self._cgroups.release(task.cgroup, emptied=emptied)
            task.cgroup = None

    async def _send_kill(self, task: TaskProcess) -> None:
        try:
            async with self._send_lock:
                await self._control.send(control.pack(control.KILL, task.number))
        except (OSError, trio.ClosedResourceError):
            pass  # the worker is gone; _mark_lost settles the task

    async def aclose(self) -> None:
        """Stop the worker: it kills and reaps its task processes, then exits."""
        self._closing = True
        self._control.close()
        with trio.move_on_after(STOP_GRACE):
            await self._wait_exit()
        if self._popen.poll() is None:
            self._popen.kill()
            await self._wait_exit()

    async def _wait_exit(self) -> None:
        if self._popen.returncode is not None:
            return  # already reaped: the pid may belong to someone else now
        if not await wait_for_exit(self._popen.pid):  # pragma: no cover - old kernels
            await trio.to_thread.run_sync(self._popen.wait, abandon_on_cancel=True)
        self._popen.wait()


_INT = array.array("i")


def _passed_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return fds.tolist()


def _pid_of(pidfd: int) -> int:
    """The pid, in our PID namespace, of the process behind *pidfd*; 0 if it is gone."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}", "rb") as info:
            for line in info:
                if line.startswith(b"Pid:"):
                    return max(0, int(line.split()[1]))
    except OSError:
        return 0
    return 0


def _parse_report(text: str) -> dict[str, str]:
    try:
        report = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(report, dict):
        return {}
    return {str(name): str(status) for name, status in report.items()}
