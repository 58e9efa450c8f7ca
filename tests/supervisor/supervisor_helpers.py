"""Helpers for the supervisor tests (own name: test dirs share sys.path)."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from trio_launcher.process import ExitStatus
from trio_launcher.supervisor import (
    Event,
    Subscription,
    Supervisor,
    SupervisorConfig,
    load_config,
    run_supervisor,
)

#: Generous hang guard; never a statement about how fast things should be.
HANG_GUARD = 30.0

#: Command line running the trio-launcher CLI with this interpreter.
CLI = [sys.executable, "-c", "import sys; from trio_launcher.cli import main; sys.exit(main())"]

#: A plugin that says "ready" and then sleeps until terminated.
SLEEPER = """
    import time
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""


def write_plugin(folder: Path, name: str, body: str) -> Path:
    """Write an executable Python script ``folder/name`` running ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable} -u\n{textwrap.dedent(body).lstrip()}")
    path.chmod(0o755)
    return path


def write_config(tmp_path: Path, text: str) -> SupervisorConfig:
    """Write ``tmp_path/launcher.yaml`` and load it."""
    path = tmp_path / "launcher.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


class EventLog:
    """Collects the events of a subscription and lets tests wait for them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = trio.Event()

    async def collect(self, subscription: Subscription, *, task_status: Any) -> None:
        with subscription:
            task_status.started()
            async for event in subscription:
                self.events.append(event)
                self._changed.set()
                self._changed = trio.Event()

    def of(self, kind: str, name: str | None = None) -> list[Any]:
        """Events of ``kind`` (for plugin ``name``), oldest first."""
        return [e for e in self.events if e.kind == kind and name in (None, e.name)]

    async def wait_for(self, kind: str, name: str | None = None, count: int = 1) -> Any:
        """Wait until ``count`` matching events arrived; return the last of them."""
        while True:
            found = self.of(kind, name)
            if len(found) >= count:
                return found[count - 1]
            await self._changed.wait()


@asynccontextmanager
async def supervising(
    config: SupervisorConfig, hang_guard: float = HANG_GUARD, **options: Any
) -> AsyncIterator[tuple[Supervisor, EventLog]]:
    """Run a supervisor (no autostart unless asked) with an event log subscribed first.

    On a MockClock pass a ``hang_guard`` far beyond the test's mock time: a hang then
    jumps straight to it.
    """
    options.setdefault("autostart", False)
    log = EventLog()
    with trio.fail_after(hang_guard):
        async with trio.open_nursery() as nursery:
            supervisor: Supervisor = await nursery.start(partial(run_supervisor, config, **options))
            await nursery.start(log.collect, supervisor.events())
            yield supervisor, log
            nursery.cancel_scope.cancel()


# --- fake children, for a MockClock ----------------------------------------------------

#: Hang guard in mock seconds: autojump gets there at once if the test hangs.
MOCK_GUARD = 1e6


class FakeChild:
    """What the supervisor uses of a ChildProcess."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: ExitStatus | None = None


class FakeSpawner:
    """Stand-in for run_child: child number n lives ``script(n)[0]`` seconds, then exits."""

    def __init__(self, script: Callable[[int], tuple[float, ExitStatus]]) -> None:
        self.script = script
        self.spawned_at: list[float] = []

    async def __call__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: object = None,
        on_output: object = None,
        grace_period: float = 10.0,
        task_status: Any,
    ) -> ExitStatus:
        number = len(self.spawned_at)
        self.spawned_at.append(trio.current_time())
        child = FakeChild(10_000 + number)
        task_status.started(child)
        lifetime, status = self.script(number)
        try:
            await trio.sleep(lifetime)
        except trio.Cancelled:
            child.status = ExitStatus(signal=15)
            raise
        child.status = status
        return status


#: No socket, sampler or folder watcher: nothing but the fake children.
QUIET = """\
control_socket: null
monitor_interval: 0
scan_interval: 0
create_credentials: false
"""


def mock_supervising(
    config: SupervisorConfig, spawner: FakeSpawner, **options: Any
) -> AbstractAsyncContextManager[tuple[Supervisor, EventLog]]:
    """:func:`supervising` with fake children, for a MockClock."""
    return supervising(config, spawn=spawner, hang_guard=MOCK_GUARD, **options)


def backoff_config(
    tmp_path: Path,
    restart: str = "on-failure",
    jitter: float = 0.0,
    start_retries: int = 1000,
    ready_after: float = 0,
) -> SupervisorConfig:
    """One plugin ``p`` run by a :class:`FakeSpawner`: backoff 1, 2, 4, 8, 8... s."""
    return write_config(
        tmp_path,
        QUIET
        + f"""\
plugins:
  p:
    command: [fake-plugin]
    ready: {{after: {ready_after}}}
    restart: {restart}
    backoff: {{initial: 1, max: 8, factor: 2, jitter: {jitter}, reset_after: 20}}
    start_retries: {start_retries}
""",
    )


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer exists (a zombie nobody reaps counts as gone)."""
    import psutil  # type: ignore[import-untyped]

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def read_pids(folder: Path) -> dict[str, int]:
    """``name -> pid`` from the ``*.pid`` files plugins wrote into ``folder``."""
    return {path.stem: int(path.read_text()) for path in folder.glob("*.pid")}


def marked_processes(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment holds ``marker``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker.encode() not in environ.read():
                    continue
            with open(f"/proc/{entry}/stat", "rb") as stat:
                state = stat.read().rpartition(b")")[2].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != b"Z":
            found.append(int(entry))
    return found


def new_marker() -> tuple[str, str]:
    """An environment variable (name, value) that tags the processes of one test."""
    return "TRIO_LAUNCHER_TEST_MARK", os.urandom(8).hex()
