"""The seccomp filter of a task process, built as a classic BPF program in code.

The filter allows by default and refuses, with ``EPERM`` so that user code
sees an ordinary :class:`PermissionError`, what a task must never do:

* open sockets or reach the network (``socket``, ``socketpair``, ``connect``,
  ``bind``, ``listen``, ``accept``; ``io_uring``, which would do the same
  without system calls the filter sees);
* look into or act on other processes (``ptrace``, ``process_vm_*``,
  ``kcmp``, ``pidfd_getfd``, ``process_madvise``, ``migrate_pages``...);
* leave its process group or its namespaces (``setsid``, ``setpgid``,
  ``unshare``, ``setns``, ``clone`` with a namespace flag or
  ``CLONE_PARENT``; ``clone3`` fails with ``ENOSYS`` because its flags cannot
  be inspected, and the C library falls back to ``clone``);
* run programs, unless the policy allows subprocesses (``execve``,
  ``execveat``);
* raise or set resource limits (``setrlimit``, ``prlimit64`` with a new value);
* change identity or privileges, mount, load modules or BPF programs, set
  the clock, reboot, inject terminal input (``ioctl(TIOCSTI)``), and the rest
  of :data:`ALWAYS_DENIED`;
* signal any process but itself and its own group, or change the
  scheduling of any other process, when Landlock does not scope signals
  (:func:`build`'s ``scope_signals``): with Landlock's signal scope the
  kernel already limits signals to the task's own processes, its children
  included, so the filter leaves ``kill`` to it.

System calls newer than the filter knows (:data:`~.syscalls.HIGHEST_REVIEWED`)
fail with ``ENOSYS``; x32 calls fail with ``EPERM``; a call made under another
architecture's convention (32-bit compat) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import struct

from trio_launcher.runner.worker.confine import syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    _Rule = Callable[["_Program"], None]

# Classic BPF opcodes, and the layout of ``struct seccomp_data``.
_LD_W_ABS = 0x20
_JMP_JA = 0x05
_JMP_JEQ_K = 0x15
_JMP_JGT_K = 0x25
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_RET_K = 0x06
_NR = 0
_ARCH = 4
_INSTRUCTION = struct.Struct("<HBBI")

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
RET_EPERM = _RET_ERRNO | errno.EPERM
RET_ENOSYS = _RET_ERRNO | errno.ENOSYS

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

#: Refused whatever the policy says.
ALWAYS_DENIED = (
    # network
    "socket", "connect", "bind", "listen", "accept", "accept4",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "process_madvise", "process_mrelease", "migrate_pages", "move_pages", "get_robust_list",
    # leaving the group, the namespaces, the limits
    "unshare", "setns", "setrlimit",
    # identity and privileges
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "personality",
    # the system
    "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "statmount", "listmount",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init", "keyctl", "add_key",
    "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "iopl", "ioperm", "name_to_handle_at", "open_by_handle_at", "syslog",
    "vhangup",
)  # fmt: skip
#: Refused unless the policy allows subprocesses.
EXEC_CALLS = ("execve", "execveat")

_CLONE_NEWNS = 0x00020000
_CLONE_PARENT = 0x00008000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
#: ``clone`` flags a task may not use.
CLONE_DENIED_FLAGS = (
    _CLONE_NEWNS | _CLONE_PARENT | _CLONE_NEWCGROUP | _CLONE_NEWUTS | _CLONE_NEWIPC
    | _CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET
)  # fmt: skip
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_PRIO_PROCESS = 0
_AF_UNIX = 1
#: Calls that may name only the calling process (argument 0 is 0).
_SELF_ONLY = (
    "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "getpgid", "getsid",
)  # fmt: skip


class SeccompUnavailable(OSError):
    """This machine's architecture or kernel cannot take the filter."""


def _arg_low(index: int) -> int:
    return 16 + 8 * index  # little-endian: the low 32 bits come first


def _arg_high(index: int) -> int:
    return 16 + 8 * index + 4


class _Program:
    """A tiny assembler: jumps name labels, resolved by :meth:`assemble`."""

    def __init__(self) -> None:
        self._code: list[tuple[int, object, object, int]] = []
        self._labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self._code.append((_LD_W_ABS, 0, 0, offset))

    def ret(self, value: int) -> None:
        self._code.append((_RET_K, 0, 0, value))

    def jump(self, op: int, value: int, if_true: str | int = 0, if_false: str | int = 0) -> None:
        self._code.append((op, if_true, if_false, value))

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def assemble(self) -> bytes:
        out = []
        for position, (op, if_true, if_false, value) in enumerate(self._code):
            out.append(
                _INSTRUCTION.pack(
                    op, self._offset(position, if_true), self._offset(position, if_false), value
                )
            )
        return b"".join(out)

    def _offset(self, position: int, target: object) -> int:
        if isinstance(target, int):
            return target
        offset = self._labels[str(target)] - position - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"jump to {target} out of range ({offset})")
        return offset


def worker_filter(*, allow_exec: bool, machine: tuple[int, dict[str, int]] | None = None) -> bytes:
    """The filter the worker installs once; every task process inherits it.

    It holds every rule that does not depend on which process runs it, so
    the per-task filter (:func:`task_filter`) stays a few instructions long:
    the kernel's cost to attach a filter grows with its length (about 5 us
    an instruction here).  *allow_exec* lets tasks run programs.  Raises
    :class:`SeccompUnavailable` on an architecture without a table.
    """
    arch, numbers = machine or syscalls.native() or (0, {})
    if not numbers:
        raise SeccompUnavailable("no system call table for this architecture")
    program = _Program()
    program.load(_ARCH)
    program.jump(_JMP_JEQ_K, arch, 1, 0)
    program.ret(RET_KILL_PROCESS)
    program.load(_NR)
    if arch == syscalls.AUDIT_ARCH_X86_64:
        program.jump(_JMP_JGE_K, syscalls.X32_SYSCALL_BIT, 0, 1)
        program.ret(RET_EPERM)
    program.jump(_JMP_JGT_K, syscalls.HIGHEST_REVIEWED, 0, 1)
    program.ret(RET_ENOSYS)
    denied = [*ALWAYS_DENIED, *(() if allow_exec else EXEC_CALLS)]
    _deny(program, (numbers[name] for name in denied if name in numbers), RET_EPERM)
    _deny(program, [numbers["clone3"]], RET_ENOSYS)
    _checked(program, numbers["socketpair"], "socketpair", _unix_only)
    _checked(program, numbers["clone"], "clone", _clone_rule)
    _checked(program, numbers["prlimit64"], "prlimit", _prlimit_rule)
    _checked(program, numbers["ioctl"], "ioctl", _ioctl_rule)
    _checked(program, numbers["setpriority"], "setpriority", _setpriority_rule)
    for name in _SELF_ONLY:
        _checked(program, numbers[name], name, _zero_only(0))
    program.ret(RET_ALLOW)
    return program.assemble()


#: Stands for the task's pid in a :func:`task_filter` built ahead of its process.
PID_PLACEHOLDER = 0x7FFFFFF0


def task_filter(
    *,
    scope_signals: bool,
    own_pid: int = PID_PLACEHOLDER,
    machine: tuple[int, dict[str, int]] | None = None,
) -> bytes:
    """The short filter each task process adds on top of :func:`worker_filter`.

    It keeps the task in its process group (no ``setsid``/``setpgid``) and,
    when Landlock does not scope signals (*scope_signals* false), limits
    ``kill`` and its relatives to the task process *own_pid* and its group.
    The worker builds it once with the placeholder pid; each task process
    fills in its own with :func:`bind_pid`.
    """
    _arch, numbers = machine or syscalls.native() or (0, {})
    if not numbers:
        raise SeccompUnavailable("no system call table for this architecture")
    program = _Program()
    program.load(_NR)
    _deny(program, [numbers["setsid"], numbers["setpgid"]], RET_EPERM)
    if not scope_signals:
        _deny(program, [numbers["pidfd_send_signal"]], RET_EPERM)
        _checked(program, numbers["kill"], "kill", _kill_rule(own_pid))
        for name in ("tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            _checked(program, numbers[name], name, _first_arg_is(own_pid))
    program.ret(RET_ALLOW)
    return program.assemble()


def bind_pid(program: bytes, pid: int) -> bytes:
    """*program* (from :func:`task_filter`) with :data:`PID_PLACEHOLDER` replaced by *pid*."""
    if b"\xf0\xff\xff\x7f" not in program and b"\x10\x00\x00\x80" not in program:
        return program
    patched = bytearray(program)
    for offset in range(0, len(patched), _INSTRUCTION.size):
        op, if_true, if_false, value = _INSTRUCTION.unpack_from(patched, offset)
        if op != _JMP_JEQ_K:
            continue
        if value == PID_PLACEHOLDER:
            _INSTRUCTION.pack_into(patched, offset, op, if_true, if_false, pid)
        elif value == -PID_PLACEHOLDER & 0xFFFFFFFF:
            _INSTRUCTION.pack_into(patched, offset, op, if_true, if_false, -pid & 0xFFFFFFFF)
    return bytes(patched)


def _deny(program: _Program, numbers: Iterable[int], action: int) -> None:
    for number in numbers:
        program.jump(_JMP_JEQ_K, number, 0, 1)
        program.ret(action)


def _checked(program: _Program, number: int, name: str, rule: _Rule) -> None:
    """Run *rule* (which ends in a return) for call *number*; skip it for any other."""
    skip = f"after-{name}"
    program.jump(_JMP_JEQ_K, number, 0, skip)
    rule(program)
    program.label(skip)


def _clone_rule(program: _Program) -> None:
    program.load(_arg_low(0))
    program.jump(_JMP_JSET_K, CLONE_DENIED_FLAGS, 0, 1)
    program.ret(RET_EPERM)
    program.ret(RET_ALLOW)


def _prlimit_rule(program: _Program) -> None:
    """``prlimit64(pid, resource, new, old)``: reading is fine, setting is not."""
    program.load(_arg_low(2))
    program.jump(_JMP_JEQ_K, 0, 0, 2)
    program.load(_arg_high(2))
    program.jump(_JMP_JEQ_K, 0, 1, 0)
    program.ret(RET_EPERM)
    program.ret(RET_ALLOW)


def _ioctl_rule(program: _Program) -> None:
    program.load(_arg_low(1))
    program.jump(_JMP_JEQ_K, _TIOCSTI, 1, 0)
    program.jump(_JMP_JEQ_K, _TIOCLINUX, 0, 1)
    program.ret(RET_EPERM)
    program.ret(RET_ALLOW)


def _first_arg_is(value: int) -> _Rule:
    def rule(program: _Program) -> None:
        program.load(_arg_low(0))
        program.jump(_JMP_JEQ_K, value, 1, 0)
        program.ret(RET_EPERM)
        program.ret(RET_ALLOW)

    return rule


def _zero_only(index: int) -> _Rule:
    """Allow the call only when argument *index* is 0 ("this process")."""

    def rule(program: _Program) -> None:
        program.load(_arg_low(index))
        program.jump(_JMP_JEQ_K, 0, 1, 0)
        program.ret(RET_EPERM)
        program.ret(RET_ALLOW)

    return rule


def _unix_only(program: _Program) -> None:
    """``socketpair(AF_UNIX, ...)`` only: a connected pair that reaches nothing else."""
    program.load(_arg_low(0))
    program.jump(_JMP_JEQ_K, _AF_UNIX, 1, 0)
    program.ret(RET_EPERM)
    program.ret(RET_ALLOW)


def _setpriority_rule(program: _Program) -> None:
    """``setpriority(which, who, prio)``: only ``PRIO_PROCESS`` of itself (``who`` 0)."""
    program.load(_arg_low(0))
    program.jump(_JMP_JEQ_K, _PRIO_PROCESS, 1, 0)
    program.ret(RET_EPERM)
    _zero_only(1)(program)


def _kill_rule(own_pid: int) -> _Rule:
    """``kill(pid, sig)``: itself (``pid``), its group (``0`` or ``-pid``), nothing else."""

    def rule(program: _Program) -> None:
        program.load(_arg_low(0))
        program.jump(_JMP_JEQ_K, 0, 3, 0)
        program.jump(_JMP_JEQ_K, own_pid, 2, 0)
        program.jump(_JMP_JEQ_K, -own_pid & 0xFFFFFFFF, 1, 0)
        program.ret(RET_EPERM)
        program.ret(RET_ALLOW)

    return rule


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class FilterLoader:
    """Attaches filters to the calling process.

    Made once in the worker: building ctypes objects in a freshly forked
    task process costs more than a millisecond of copy-on-write faults,
    while :meth:`attach` there is one copy and two system calls.
    """

    __slots__ = ("_buffer", "_fprog", "_prctl", "_ref")

    def __init__(self, capacity: int = 512) -> None:
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        self._buffer = ctypes.create_string_buffer(capacity * _INSTRUCTION.size)
        self._fprog = _SockFprog(0, ctypes.addressof(self._buffer))
        self._ref = ctypes.byref(self._fprog)

    def attach(self, program: bytes) -> None:
        """Set ``PR_SET_NO_NEW_PRIVS`` and attach *program* to this process, for good.

        Raises :class:`SeccompUnavailable` if the kernel refuses either.
        """
        if len(program) > len(self._buffer):
            raise ValueError(f"filter of {len(program)} bytes over the loader's capacity")
        ctypes.memmove(self._buffer, program, len(program))
        self._fprog.len = len(program) // _INSTRUCTION.size
        if self._prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SeccompUnavailable(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if self._prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self._ref, 0, 0) != 0:
            code = ctypes.get_errno()
            raise SeccompUnavailable(code, f"prctl(PR_SET_SECCOMP): {errno.errorcode[code]}")
