"""Every rule of the seccomp filters, checked by running the BPF program on crafted calls.

A small interpreter for the instructions the filters use runs each program
over ``seccomp_data`` records, as the kernel would; a few real system calls
in a forked process check that the kernel agrees.
"""

from __future__ import annotations

import errno
import os
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.runner.worker.confine import seccomp, syscalls

X86 = (syscalls.AUDIT_ARCH_X86_64, syscalls.X86_64)
ARM = (syscalls.AUDIT_ARCH_AARCH64, syscalls.AARCH64)
MACHINES = {"x86_64": X86, "aarch64": ARM}
EPERM, ENOSYS = seccomp.RET_EPERM, seccomp.RET_ENOSYS
ALLOW, KILL = seccomp.RET_ALLOW, seccomp.RET_KILL_PROCESS
PID = 4242


def run_filter(program: bytes, arch: int, nr: int, *args: int) -> int:
    """What the kernel would decide for system call *nr* with *args*."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    accumulator, pc = 0, 0
    instructions = list(struct.iter_unpack("<HBBI", program))
    while True:
        op, jt, jf, k = instructions[pc]
        pc += 1
        if op == 0x20:
            accumulator = struct.unpack_from("<I", data, k)[0]
        elif op == 0x06:
            return k
        elif op == 0x05:
            pc += k
        else:
            taken = {
                0x15: accumulator == k,
                0x25: accumulator > k,
                0x35: accumulator >= k,
                0x45: bool(accumulator & k),
            }[op]
            pc += jt if taken else jf


def worker(machine: tuple[int, dict[str, int]], *, allow_exec: bool = False) -> bytes:
    return seccomp.worker_filter(allow_exec=allow_exec, machine=machine)


def task(machine: tuple[int, dict[str, int]], *, scope_signals: bool) -> bytes:
    template = seccomp.task_filter(scope_signals=scope_signals, machine=machine)
    return seccomp.bind_pid(template, PID)


@pytest.mark.parametrize("machine", MACHINES.values(), ids=MACHINES.keys())
def test_every_always_denied_call_fails_with_eperm(machine: tuple[int, dict[str, int]]) -> None:
    arch, numbers = machine
    program = worker(machine)
    for name in seccomp.ALWAYS_DENIED:
        if name in numbers:
            assert run_filter(program, arch, numbers[name]) == EPERM, name


@pytest.mark.parametrize("machine", MACHINES.values(), ids=MACHINES.keys())
def test_exec_only_when_the_policy_allows_subprocesses(
    machine: tuple[int, dict[str, int]],
) -> None:
    arch, numbers = machine
    for name in seccomp.EXEC_CALLS:
        assert run_filter(worker(machine), arch, numbers[name]) == EPERM
        assert run_filter(worker(machine, allow_exec=True), arch, numbers[name]) == ALLOW


@pytest.mark.parametrize("machine", MACHINES.values(), ids=MACHINES.keys())
def test_argument_rules(machine: tuple[int, dict[str, int]]) -> None:
    arch, n = machine
    program = worker(machine)
    assert run_filter(program, arch, n["clone3"]) == ENOSYS
    assert run_filter(program, arch, n["clone"], 0x01200011) == ALLOW  # fork's flags
    for flag in (0x10000000, 0x20000000, 0x40000000, 0x00020000, 0x00008000):
        assert run_filter(program, arch, n["clone"], 0x11 | flag) == EPERM
    assert run_filter(program, arch, n["socketpair"], 1) == ALLOW  # AF_UNIX
    assert run_filter(program, arch, n["socketpair"], 2) == EPERM
    assert run_filter(program, arch, n["prlimit64"], 0, 9, 0, 0x7FF0) == ALLOW  # reading
    assert run_filter(program, arch, n["prlimit64"], 0, 9, 0x7FF0, 0) == EPERM
    assert run_filter(program, arch, n["prlimit64"], 0, 9, 1 << 40, 0) == EPERM
    assert run_filter(program, arch, n["ioctl"], 0, 0x5412) == EPERM  # TIOCSTI
    assert run_filter(program, arch, n["ioctl"], 0, 0x5401) == ALLOW  # TCGETS
    assert run_filter(program, arch, n["setpriority"], 0, 0, 5) == ALLOW
    assert run_filter(program, arch, n["setpriority"], 0, 77, 5) == EPERM
    assert run_filter(program, arch, n["setpriority"], 2, 0, 5) == EPERM  # PRIO_USER
    for name in ("sched_setaffinity", "getpgid", "getsid"):
        assert run_filter(program, arch, n[name], 0) == ALLOW
        assert run_filter(program, arch, n[name], 77) == EPERM
    assert run_filter(program, arch, n["kill"], 77, 9) == ALLOW  # left to Landlock or the task
    assert run_filter(program, arch, 1000) == ENOSYS  # newer than the filter knows
    assert run_filter(program, arch ^ 1, n["kill"]) == KILL  # another convention


def test_x32_calls_are_refused() -> None:
    program = worker(X86)
    assert run_filter(program, X86[0], syscalls.X32_SYSCALL_BIT | 39) == EPERM


@pytest.mark.parametrize("machine", MACHINES.values(), ids=MACHINES.keys())
def test_task_filter_keeps_the_group_and_limits_signals_without_landlock(
    machine: tuple[int, dict[str, int]],
) -> None:
    arch, n = machine
    scoped, unscoped = task(machine, scope_signals=True), task(machine, scope_signals=False)
    for program in (scoped, unscoped):
        assert run_filter(program, arch, n["setsid"]) == EPERM
        assert run_filter(program, arch, n["setpgid"], 0, 0) == EPERM
    assert run_filter(scoped, arch, n["kill"], 77, 9) == ALLOW
    for pid in (0, PID, -PID & 0xFFFFFFFF):
        assert run_filter(unscoped, arch, n["kill"], pid, 9) == ALLOW
    for pid in (77, 1, -77 & 0xFFFFFFFF, 0xFFFFFFFF):  # -1: every process
        assert run_filter(unscoped, arch, n["kill"], pid, 9) == EPERM
    assert run_filter(unscoped, arch, n["tgkill"], PID, PID, 9) == ALLOW
    assert run_filter(unscoped, arch, n["tgkill"], 77, 77, 9) == EPERM
    assert run_filter(unscoped, arch, n["pidfd_send_signal"], 3, 9) == EPERM


@given(st.integers(min_value=1, max_value=2**22))
def test_bind_pid_gives_the_filter_built_for_that_pid(pid: int) -> None:
    template = seccomp.task_filter(scope_signals=False, machine=X86)
    built = seccomp.task_filter(scope_signals=False, own_pid=pid, machine=X86)
    assert seccomp.bind_pid(template, pid) == built


def _header_numbers(path: Path, pattern: str) -> dict[str, int]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(pattern, line)
        if match and match.group(2).isdigit():
            found[match.group(1)] = int(match.group(2))
    return found


@pytest.mark.parametrize(
    ("table", "header", "pattern"),
    [
        (
            syscalls.X86_64,
            "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
            r"#define __NR_(\w+) (\d+)",
        ),
        (
            syscalls.AARCH64,
            "/usr/include/asm-generic/unistd.h",
            r"#define __NR(?:3264)?_(\w+) (\d+)",
        ),
    ],
    ids=["x86_64", "aarch64"],
)
def test_tables_match_the_kernel_headers(table: dict[str, int], header: str, pattern: str) -> None:
    path = Path(header)
    if not path.exists():
        pytest.skip(f"{header} is not installed (Debian: linux-libc-dev)")
    numbers = _header_numbers(path, pattern)
    for name, number in table.items():
        if name in numbers:
            assert numbers[name] == number, name


@pytest.mark.skipif(syscalls.native() is None, reason="no table for this machine")
def test_the_kernel_applies_the_filters() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            loader = seccomp.FilterLoader()
            loader.attach(seccomp.worker_filter(allow_exec=False))
            loader.attach(seccomp.bind_pid(seccomp.task_filter(scope_signals=False), os.getpid()))
            checks = [
                lambda: os.setsid(),
                lambda: os.kill(os.getppid(), 0),
                lambda: os.execv("/bin/true", ["true"]),
                lambda: __import__("socket").socket(),
            ]
            for check in checks:
                try:
                    check()
                    code = 1
                except OSError as exc:
                    code = code or (0 if exc.errno == errno.EPERM else 2)
            os.kill(os.getpid(), 0)  # itself: allowed
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
