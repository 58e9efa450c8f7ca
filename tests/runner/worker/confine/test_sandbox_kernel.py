"""Escapes that only the kernel layers stop, and which layer stops which.

Each case is code that tries to do something a task must never do, and a
check of the *effect* from outside the task: the marker file is not there,
the decoy process is alive, the listener saw no connection, the secret is
not in the reply.  The cases run

* under the default policy: the language layer stops them all;
* under a loosened allow-list and with the language layer open (every
  import allowed, no builtin denied), so the code runs as native code
  would after a language-level escape: a case gets through exactly when
  no layer that stops it is on, and with every layer on none does;
* with the language layer open and each kernel layer switched off alone,
  which shows which layer stops which case.

A host that lacks a layer (no cgroup to delegate, no user namespaces) runs
the same cases and expects what the layers it has can hold.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from worker_pids import running_in_worker

from trio_launcher.runner.executor.task_executor import TaskExecutor, open_executor
from trio_launcher.runner.sandbox.confinement_check import is_on
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.worker.confine import landlock
from trio_launcher.runner.worker.confine.layers import (
    CGROUP,
    LANDLOCK,
    LAYERS,
    NAMESPACES,
    PRIVILEGES,
    SECCOMP,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or landlock.abi_version() < landlock.ABI_SCOPE,
    reason="needs Linux with Landlock ABI 6 (signal scoping) to show every layer",
)

ALL = "runOnceForAllItems"
SECRET = "s3cr3t-grant-token-value"


@attrs.frozen
class Decoy:
    """A process holding a secret in its environment, not dumpable, like the runner.

    It answers SIGUSR1 with a byte on its stdout.  A SIGKILL sent before the
    question is handled first, so the answer (or end of file) says for sure
    whether an earlier kill reached it.
    """

    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def answers(self) -> bool:
        assert self.process.stdout is not None
        os.kill(self.pid, signal.SIGUSR1)
        return self.process.stdout.read(1) == b"."


@attrs.frozen
class Target:
    """What the cases aim at, made fresh for each run."""

    folder: Path
    decoy: Decoy
    listener: socket.socket

    @property
    def decoy_pid(self) -> int:
        return self.decoy.pid

    @property
    def marker(self) -> Path:
        return self.folder / "marker"

    @property
    def secret_file(self) -> Path:
        return self.folder / "secret.txt"


@attrs.frozen
class Case:
    """*code(target)* tries the escape; *held(target, reply, executor)* checks it did not happen."""

    code: Callable[[Target], str]
    held: Callable[[Target, dict[str, Any], TaskExecutor], bool]
    #: The kernel layers that each stop it on their own.
    stopped_by: frozenset[str]


def _result_text(reply: dict[str, Any]) -> str:
    return repr(reply.get("result")) + repr(reply.get("error"))


def _no_secret(target: Target, reply: dict[str, Any], executor: TaskExecutor) -> bool:
    return SECRET not in _result_text(reply)


def _decoy_alive(target: Target, reply: dict[str, Any], executor: TaskExecutor) -> bool:
    """Ask the decoy to answer: it does unless a kill sent earlier reached it first."""
    return target.decoy.answers()


def _no_connection(target: Target, reply: dict[str, Any], executor: TaskExecutor) -> bool:
    try:
        connection, _ = target.listener.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def _left_nothing(target: Target, reply: dict[str, Any], executor: TaskExecutor) -> bool:
    pid = reply.get("result")  # as the task saw it, in the worker's PID namespace
    return not isinstance(pid, int) or not running_in_worker(executor, pid)


def _limit_kept(target: Target, reply: dict[str, Any], executor: TaskExecutor) -> bool:
    return reply.get("result") != [-1, -1]


CASES = {
    "write a file": Case(
        lambda t: (
            "import os\n"
            f"fd = os.open({str(t.marker)!r}, os.O_WRONLY | os.O_CREAT, 0o600)\n"
            "os.write(fd, b'x')\nreturn 'written'"
        ),
        lambda t, *_: not t.marker.exists(),
        frozenset({LANDLOCK}),
    ),
    "read a file in the runner's folder": Case(
        lambda t: (
            f"import os\nfd = os.open({str(t.secret_file)!r}, os.O_RDONLY)\n"
            "return os.read(fd, 100).decode()"
        ),
        _no_secret,
        frozenset({LANDLOCK}),
    ),
    "read another process's environment": Case(
        lambda t: (
            f"import os\nfd = os.open('/proc/{t.decoy_pid}/environ', os.O_RDONLY)\n"
            "return os.read(fd, 100000).decode(errors='replace')"
        ),
        _no_secret,
        frozenset({LANDLOCK, PRIVILEGES, NAMESPACES}),
    ),
    "connect to a TCP port": Case(
        lambda t: (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {t.listener.getsockname()[1]}), 5)\n"
            "return 'connected'"
        ),
        _no_connection,
        frozenset({LANDLOCK, SECCOMP, NAMESPACES}),
    ),
    "kill another process": Case(
        lambda t: f"import os\nos.kill({t.decoy_pid}, 9)\nreturn 'killed'",
        _decoy_alive,
        frozenset({LANDLOCK, SECCOMP, NAMESPACES}),
    ),
    "kill the worker": Case(
        lambda t: "import os\nos.kill(os.getppid(), 9)\nreturn 'killed'",
        lambda *_: True,  # checked by the executor's worker pid below
        frozenset({LANDLOCK, SECCOMP, NAMESPACES}),
    ),
    "outlive the task": Case(
        lambda t: (
            "import os, time\n"
            "left, settled = os.pipe()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    try:\n"
            "        os.setsid()\n"
            "    except OSError:\n"
            "        pass\n"
            "    os.write(settled, b'.')\n"
            "    time.sleep(60)\n"
            "    os._exit(0)\n"
            "os.read(left, 1)\n"
            "return pid"
        ),
        _left_nothing,
        frozenset({SECCOMP, CGROUP}),
    ),
    "raise its own limits": Case(
        lambda t: (
            "import resource\n"
            "try:\n"
            "    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
            "except (ValueError, OSError):\n"
            "    pass\n"
            "return list(resource.getrlimit(resource.RLIMIT_AS))"
        ),
        _limit_kept,
        frozenset({SECCOMP, PRIVILEGES, NAMESPACES}),
    ),
}

OPEN = {"stdlib_allow": "*", "external_allow": "*", "builtins_deny": ""}
LOOSENED = {"stdlib_allow": "os,socket,time,resource,json,datetime"}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    (tmp_path / "secret.txt").write_text(SECRET)
    decoy = subprocess.Popen(
        [sys.executable, "-c", _DECOY],
        env={**os.environ, "DECOY_SECRET": SECRET},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    assert decoy.stdout is not None
    decoy.stdout.read(1)  # its handler is in place
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        yield Target(tmp_path, Decoy(decoy), listener)
    finally:
        listener.close()
        decoy.kill()
        decoy.wait()


_DECOY = (
    "import ctypes, os, signal\n"
    "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
    "signal.signal(signal.SIGUSR1, lambda *_: os.write(1, b'.'))\n"
    "os.write(1, b'.')\n"
    "while True:\n"
    "    signal.pause()\n"
)


async def run_cases(executor: TaskExecutor, target: Target) -> dict[str, bool]:
    """Run every case; which ones held."""
    held = {}
    worker = executor.statistics().worker_pid
    for name, case in CASES.items():
        settings = {"code": case.code(target), "nodeMode": ALL, "items": []}
        outcome = await executor.run(settings, timeout=20)
        await executor.wait_reaped()
        reply = {"result": outcome.result, "error": outcome.error}
        held[name] = case.held(target, reply, executor)
        if name == "kill the worker":
            await executor.run({"code": "return 1", "nodeMode": ALL, "items": []}, timeout=20)
            held[name] = executor.statistics().worker_pid == worker
    return held


def _executor(policy: dict[str, str], disabled: str = "") -> Any:
    policy_object = SandboxPolicy.from_strings(
        **{"mode": "best-effort", **policy}, disabled_layers=disabled
    )
    return open_executor(policy_object, memory_limit_mb=512)


def _layers_on(executor: TaskExecutor) -> frozenset[str]:
    return frozenset(
        name for name, status in executor.worker_confinement().items() if is_on(status)
    )


def _expected(on: frozenset[str]) -> dict[str, bool]:
    """A case holds when a layer that stops it is on (a host may lack some layers)."""
    expected = {name: bool(case.stopped_by & on) for name, case in CASES.items()}
    expected["raise its own limits"] |= not _host_lets_root_raise_limits()
    return expected


async def test_the_default_policy_stops_every_case(target: Target) -> None:
    """The language layer refuses the imports every case needs, whatever the host has."""
    with trio.fail_after(120):
        async with _executor({}) as executor:
            held = await run_cases(executor, target)
    assert held == dict.fromkeys(CASES, True)


@pytest.mark.parametrize("policy", [LOOSENED, OPEN], ids=["loosened", "open"])
async def test_the_kernel_layers_stop_what_the_language_layer_lets_through(
    policy: dict[str, str], target: Target
) -> None:
    """Every case gets past a loosened allow-list; every layer on holds them all."""
    with trio.fail_after(120):
        async with _executor(policy) as executor:
            on = _layers_on(executor)
            held = await run_cases(executor, target)
    assert held == _expected(on)
    if on == set(LAYERS):
        assert all(held.values())


@pytest.mark.parametrize("layer", LAYERS)
async def test_each_layer_stops_its_cases(layer: str, target: Target) -> None:
    """With the language layer open and *layer* off, exactly its own cases get through."""
    with trio.fail_after(120):
        async with _executor(OPEN, disabled=layer) as executor:
            assert executor.worker_confinement()[layer] == "off (disabled)"
            on = _layers_on(executor)
            held = await run_cases(executor, target)
    assert held == _expected(on)


def _host_lets_root_raise_limits() -> bool:
    """CAP_SYS_RESOURCE in our effective set (a container may have dropped it)."""
    status = Path("/proc/self/status").read_text()
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    return bool(int(effective.split()[1], 16) >> 24 & 1)


async def test_with_every_kernel_layer_off_the_cases_get_through(target: Target) -> None:
    """The checks can fail: with no kernel layer, the open policy lets every case through."""
    with trio.fail_after(120):
        async with _executor({**OPEN, "mode": "off"}) as executor:
            held = await run_cases(executor, target)
    assert held == _expected(frozenset())
