"""The pre-started worker ("zygote") that forks one process per task.

The runner starts it once (see :mod:`trio_launcher.runner.executor.worker_handle`)
in its own session.  It imports only the small, stdlib-only modules a task needs, so a task
process starts with a ``fork()`` instead of a Python start-up; the idle
worker is about 11.5 MB RSS, 5 MB of it anonymous memory, shared copy-on-write
with its children.

A task costs CPU mostly in the kernel, in proportion to pages: the page
table entries each fork copies (and each exit drops), and a copy-on-write
fault for every shared page the worker or the task process writes
afterwards.  So the worker keeps few pages populated (see
:func:`_settle_memory`), and the per-task paths on both sides stay lean:
the C-level ``_socket`` and ``_signal`` modules rather than the Python
wrappers of :mod:`socket` and :mod:`signal` (enum conversions), and no
context managers.

Command line::

    python -P -c <bootstrap> CONTROL_FD CONFIG_JSON
    python -m trio_launcher.runner.worker.zygote CONTROL_FD CONFIG_JSON   # same, for debugging

``CONFIG_JSON`` is ``{"parent_pid": int, "memory_limit_mb": int | null,
"sandbox": SandboxPolicy.to_wire()}``.

The control protocol, the records on ``CONTROL_FD``, is described in :mod:`.control`.

Spare task process
------------------
Forking and preparing a task process (process group, parent-death signal,
memory limit, sandbox lock-down) costs a few hundred page faults.  So after
each task starts the worker forks the *next* task process at once: that
spare prepares itself and blocks on a private socket until the worker passes
it a task socket (``SCM_RIGHTS`` again).  An unused spare is let go after
:data:`SPARE_IDLE_TIMEOUT` seconds, so an idle runner has no spare.

Child processes are noticed through ``SIGCHLD`` and :func:`signal.set_wakeup_fd`,
multiplexed with the control socket in one ``epoll`` loop: no polling.
Before reaping a task process the worker kills what is left of its process
group, while the zombie still pins the group id, and of its cgroup: a
process that left the group (``setsid``) is still in the cgroup.  The worker
is a child subreaper, so such processes are its children once their parents
are gone, and it reaps them too.  ``SIGTERM``/``SIGINT`` stop
the worker like end of file.  The worker dies with the runner
(``PR_SET_PDEATHSIG``), and task processes die with the worker.  Where the
host allows it, the worker runs in namespaces of its own, as PID 1 under a
*keeper* process, the one the runner started (:mod:`.confine.namespaces`):
then everything a task left running dies with the worker too.
"""

from __future__ import annotations

import _socket
import array
import contextlib
import gc
import json
import os
import select
import sys
import time

from trio_launcher.process.group import kill_process_group
from trio_launcher.runner.worker import control
from trio_launcher.runner.worker.posix import (
    limit_memory,
    receive_fds,
    set_child_subreaper,
    set_dumpable,
    set_parent_death_signal,
    trim_heap,
)
from trio_launcher.runner.worker.settings import WorkerSettings
from trio_launcher.runner.worker.task_process import run_task_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:  # the C module: its functions take and return plain ints, no enum conversions
    import _signal

#: A spare task process is dropped after this many seconds without a task.
SPARE_IDLE_TIMEOUT = 30.0
_STOP_SIGNALS = (_signal.SIGTERM, _signal.SIGINT)
_HANDLED_SIGNALS = (_signal.SIGCHLD, *_STOP_SIGNALS)


def _ignore_signal(signum: int, frame: object) -> None:
    """Python-level handler; the wakeup fd does the real work."""


class _Spare:
    """A task process forked ahead of time, waiting on *handoff* for its task."""

    __slots__ = ("handoff", "pid")

    def __init__(self, pid: int, handoff: _socket.socket) -> None:
        self.pid = pid
        self.handoff = handoff


class _TaskCgroup:
    """The worker's fds of one task's cgroup files (opened by the runner)."""

    __slots__ = ("events", "kill", "procs")

    def __init__(self, fds: list[int]) -> None:
        self.procs, self.events = fds[0], fds[1]
        self.kill = fds[2] if len(fds) > 2 else -1

    def add(self, pid: int) -> None:
        """Move process *pid* in; :class:`OSError` if the kernel refuses."""
        os.write(self.procs, str(pid).encode())

    def kill_all(self) -> None:
        """SIGKILL everything in it (``cgroup.kill``, else each listed pid)."""
        if self.kill >= 0:
            with contextlib.suppress(OSError):
                os.write(self.kill, b"1")
            return
        with contextlib.suppress(OSError):
            for pid in os.pread(self.procs, 65536, 0).split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), _signal.SIGKILL)

    def populated(self) -> bool:
        try:
            return b"populated 1" in os.pread(self.events, 4096, 0)
        except OSError:
            return False

    def close(self) -> None:
        for fd in (self.procs, self.events, self.kill):
            if fd >= 0:
                os.close(fd)


class Worker:
    """Serves one control socket until it closes."""

    def __init__(
        self, control_socket: _socket.socket, settings: WorkerSettings, *, report: str = ""
    ) -> None:
        self._control = control_socket
        self._report = report
        self._settings = settings
        self._pids: dict[int, int] = {}  # task -> pid (= group id), until reported
        self._cgroups: dict[int, _TaskCgroup] = {}  # task -> its cgroup, until reported
        self._tasks: dict[int, int] = {}  # pid -> task, while the task process lives
        # group id -> (task, return code): task process reaped, group not empty yet
        self._finishing: dict[int, tuple[int, int]] = {}
        self._epoll = select.epoll()
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._running = True
        self._spare: _Spare | None = None
        self._spare_expires = 0.0

    def serve(self) -> int:
        """Run the control loop; returns the exit status."""
        for signum in _HANDLED_SIGNALS:
            _signal.signal(signum, _ignore_signal)
        _signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        self._epoll.register(self._control.fileno(), select.EPOLLIN)
        self._epoll.register(self._wakeup_r, select.EPOLLIN)
        self._send(control.pack(control.READY, pid=os.getpid(), text=self._report))
        try:
            while self._running:
                events = self._epoll.poll(self._spare_timeout())
                if not events:
                    self._drop_spare()
                for fd, _mask in events:
                    if fd == self._wakeup_r:
                        self._on_signals()
                    else:
                        self._on_control()
        finally:
            self._stop_tasks()
        return 0

    # -- control records ----------------------------------------------------

    def _send(self, record: bytes) -> None:
        try:
            self._control.send(record)
        except OSError:  # the runner is gone
            self._running = False

    def _send_started(self, task: int, pid: int) -> None:
        record = control.pack(control.STARTED, task, pid)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # an old kernel: the pid alone
            self._send(record)
            return
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [pidfd]))]
        try:
            self._control.sendmsg([record], rights)
        except OSError:
            self._running = False
        finally:
            os.close(pidfd)

    def _on_control(self) -> None:
        data, fds = receive_fds(self._control, control.MAX_RECORD, 4)
        if not data:
            self._running = False
            _close_all(fds)
            return
        try:
            kind, task, *_rest = control.unpack(data)
        except ValueError as exc:
            _close_all(fds)
            self._send(control.pack(control.ERROR, text=f"malformed request: {exc}"))
            return
        if kind == control.RUN:
            self._start_task(task, fds)
            return
        _close_all(fds)
        if kind == control.KILL:
            self._kill_task(task)
        else:
            self._send(control.pack(control.ERROR, text=f"unknown request {kind!r}"))

    def _start_task(self, task: int, fds: list[int]) -> None:
        if len(fds) not in (1, 3, 4) or task in self._pids:
            _close_all(fds)
            self._send(control.pack(control.FAILED, task, text="bad run request"))
            return
        cgroup = _TaskCgroup(fds[1:]) if len(fds) > 1 else None
        try:
            pid = self._hand_off(fds[0], cgroup)
        except OSError as exc:
            if cgroup is not None:
                cgroup.close()
            self._send(control.pack(control.FAILED, task, text=str(exc)))
            return
        finally:
            os.close(fds[0])
        if cgroup is not None:
            self._cgroups[task] = cgroup
        self._pids[task] = pid
        self._tasks[pid] = task
        self._send_started(task, pid)
        try:  # the next task's process, prepared while this one runs
            self._spare = self._fork_spare()
            self._spare_expires = time.monotonic() + SPARE_IDLE_TIMEOUT
        except OSError:
            self._spare = None

    def _hand_off(self, task_fd: int, cgroup: _TaskCgroup | None) -> int:
        """Pass the task socket to the spare (forking one if needed); its pid.

        The spare is moved into the task's cgroup first: it runs no user code
        before it has the socket, so everything the task starts is in there.
        """
        spare, self._spare = self._spare, None
        if spare is None:
            spare = self._fork_spare()
        if cgroup is not None:
            try:
                cgroup.add(spare.pid)
            except OSError as exc:
                _drop(spare)
                raise OSError(f"cannot move the task process into its cgroup: {exc}") from None
        if _give(spare, task_fd):
            return spare.pid
        raise OSError("the new task process did not take its task")

    def _fork_spare(self) -> _Spare:
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            ours.close()
            self._become_task(theirs)
        theirs.close()
        try:  # noqa: SIM105 - the child does it too: no race with a kill
            os.setpgid(pid, pid)
        except OSError:
            pass
        return _Spare(pid, ours)

    def _spare_timeout(self) -> float | None:
        if self._spare is None:
            return None
        return max(0.0, self._spare_expires - time.monotonic())

    def _drop_spare(self) -> None:
        """Let an idle spare go (it exits when its handoff socket closes)."""
        if self._spare is not None:
            self._spare.handoff.close()
            self._spare = None

    def _kill_task(self, task: int) -> None:
        pid = self._pids.get(task)
        if pid is None:
            return  # already reported as exited
        if not kill_process_group(pid) and pid in self._tasks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, _signal.SIGKILL)  # unreaped, so the pid is still ours
        cgroup = self._cgroups.get(task)
        if cgroup is not None:
            cgroup.kill_all()

    # -- child processes ----------------------------------------------------

    def _on_signals(self) -> None:
        try:
            received = os.read(self._wakeup_r, 4096)
        except BlockingIOError:
            received = b""
        if any(signum in received for signum in _STOP_SIGNALS):
            self._running = False
        self._reap()

    def _reap(self) -> None:
        """Reap exited children; report tasks of which nothing is left.

        The worker is a child subreaper, so whatever a task process started is
        reparented here when its parent ends, and reaped here too: the last
        process of a task to exit is always the worker's child, so its
        ``SIGCHLD`` brings the worker back here to report the task.
        """
        while (pid := _exited_child()) is not None:
            # The unreaped zombie pins its group id: kill its leftovers first.
            kill_process_group(_group_of(pid))
            _pid, status = os.waitpid(pid, 0)
            if self._spare is not None and self._spare.pid == pid:
                self._drop_spare()
            task = self._tasks.pop(pid, None)
            if task is not None:
                if (cgroup := self._cgroups.get(task)) is not None:
                    cgroup.kill_all()
                self._finishing[pid] = (task, os.waitstatus_to_exitcode(status))
        for group, (task, returncode) in list(self._finishing.items()):
            if not self._leaves_anything(task, group):
                del self._finishing[group]
                del self._pids[task]
                if (cgroup := self._cgroups.pop(task, None)) is not None:
                    cgroup.close()
                self._send(control.pack(control.EXITED, task, group, returncode))

    def _leaves_anything(self, task: int, group: int) -> bool:
        cgroup = self._cgroups.get(task)
        if cgroup is not None and cgroup.populated():
            return True
        return _has_children_in(group)

    def _stop_tasks(self) -> None:
        groups = set(self._pids.values())
        if self._spare is not None:
            groups.add(self._spare.pid)
        self._drop_spare()
        for group in groups:
            kill_process_group(group)
        for cgroup in self._cgroups.values():
            cgroup.kill_all()
        for group in groups:
            while True:
                try:
                    os.waitpid(-group, 0)
                except ChildProcessError:
                    break
        for cgroup in self._cgroups.values():
            cgroup.close()
        self._cgroups.clear()
        self._tasks.clear()
        self._pids.clear()
        self._finishing.clear()

    def _become_task(self, handoff: _socket.socket) -> None:
        """In the forked child: drop the worker's state, serve a task, never return."""
        status = 1
        try:
            worker_pid = os.getppid()
            _signal.set_wakeup_fd(-1)
            for signum in _HANDLED_SIGNALS:
                _signal.signal(signum, _signal.SIG_DFL)
            self._epoll.close()
            self._control.close()
            os.close(self._wakeup_r)
            os.close(self._wakeup_w)
            if self._spare is not None:
                self._spare.handoff.close()
            _close_other_fds(handoff.fileno())
            run_task_process(handoff, self._settings, worker_pid)
            status = 0
        except BaseException as exc:  # report our own failures; user errors are in the reply
            _report_crash(exc)
        finally:
            _flush_stdio()
            os._exit(status)


def _exited_child() -> int | None:
    """The pid of an exited, not yet reaped child (left unreaped), if any."""
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    return info.si_pid if info is not None else None


def _group_of(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return pid


def _has_children_in(group: int) -> bool:
    try:
        os.waitid(os.P_PGID, group, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _close_other_fds(keep: int) -> None:
    """Close every fd but stdio and *keep*: no other task's socket or cgroup file."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)


def _drop(spare: _Spare) -> None:
    """Let a spare that cannot be used go (it is reaped like any other child)."""
    spare.handoff.close()
    kill_process_group(spare.pid)


def _give(spare: _Spare, task_fd: int) -> bool:
    """Hand *task_fd* to *spare*; False (and the spare killed) if it is broken."""
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [task_fd]))]
    try:
        spare.handoff.sendmsg([b"task"], rights)
    except OSError:
        kill_process_group(spare.pid)  # reaped like any other child
        return False
    finally:
        spare.handoff.close()
    return True


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _report_crash(exc: BaseException) -> None:
    with contextlib.suppress(Exception):
        os.write(2, f"task process failed: {type(exc).__name__}: {exc}\n".encode())


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            try:  # noqa: SIM105 - every task process runs this: no context manager
                stream.flush()
            except Exception:
                pass


def _settle_memory() -> None:
    """Leave the fewest populated pages for every fork to share, then freeze them.

    Start-up garbage (cycles, and all of it when modules were compiled
    because no ``.pyc`` could be used) is freed and the heap trimmed;
    :func:`gc.freeze` then keeps the collector from touching (and so
    copying) the inherited objects.
    """
    gc.collect()
    trim_heap()
    gc.freeze()


def main(argv: list[str]) -> int:
    """Entry point: ``CONTROL_FD CONFIG_JSON`` (see the module docstring)."""
    control_fd, config = int(argv[0]), json.loads(argv[1])
    set_parent_death_signal(_signal.SIGKILL)
    if os.getppid() != int(config["parent_pid"]):
        return 1  # the runner died before we could arm the parent-death signal
    settings = WorkerSettings.from_wire(config)
    # First: writing our own uid map needs a dumpable process.
    settings.confinement.enter_namespaces()
    set_dumpable(False)
    set_child_subreaper()
    limit_memory(settings.memory_limit_mb)
    settings.confinement.apply_to_worker()
    report = json.dumps(settings.confinement.report())
    worker = Worker(_socket.socket(fileno=control_fd), settings, report=report)
    # Apply the process-wide sandbox measures once here: every task process
    # re-applies them, but then finds (almost) nothing left to do.
    settings.sandbox.lock_down_process()
    _settle_memory()
    return worker.serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
