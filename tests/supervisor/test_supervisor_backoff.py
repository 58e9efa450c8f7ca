"""Restart policy and backoff timing, on trio's MockClock with a stand-in for run_child."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from random import Random
from typing import Any

import pytest
import trio
from supervisor_helpers import EventLog, supervising, write_config

from trio_launcher.process import ExitStatus
from trio_launcher.supervisor import PluginState, Supervisor, SupervisorConfig

CRASH = ExitStatus(returncode=1)
CLEAN = ExitStatus(returncode=0)
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
    tmp_path: Path, restart: str = "on-failure", jitter: float = 0.0
) -> SupervisorConfig:
    return write_config(
        tmp_path,
        QUIET
        + f"""\
plugins:
  p:
    command: [fake-plugin]
    ready: {{after: 0}}
    restart: {restart}
    backoff: {{initial: 1, max: 8, factor: 2, jitter: {jitter}, reset_after: 20}}
""",
    )


async def test_crashes_back_off_exponentially_up_to_the_cap_then_reset(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # Six instant crashes, then a 30 s run (longer than reset_after), then instant crashes.
    spawner = FakeSpawner(lambda n: (30.0 if n == 6 else 0.0, CRASH))
    config = backoff_config(tmp_path)
    async with mock_supervising(config, spawner) as (supervisor, events):
        start = trio.current_time()
        await supervisor.start("p")
        await events.wait_for("started", "p", count=9)
        delays = [event.delay for event in events.of("backing_off")]
        spawned = [t - start for t in spawner.spawned_at]
    assert delays[:8] == [1, 2, 4, 8, 8, 8, 1, 2]
    assert spawned[:9] == [0, 1, 3, 7, 15, 23, 31, 62, 64]
    assert [e.reason for e in events.of("restarted")][:3] == ["crashed"] * 3
    assert [e.starts for e in events.of("started")][:3] == [1, 2, 3]


async def test_restarts_are_never_sooner_than_the_jittered_delay(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (0.0, CRASH))
    config = backoff_config(tmp_path, jitter=0.5)
    async with mock_supervising(config, spawner, random=Random(7)) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("started", "p", count=12)
    crashes = events.of("crashed")
    backoffs = events.of("backing_off")
    starts = events.of("started")
    for number in range(11):
        base = min(8.0, 2.0**number)
        delay = backoffs[number].delay
        assert base * 0.5 <= delay <= min(8.0, base * 1.5)
        assert starts[number + 1].clock - crashes[number].clock == pytest.approx(delay)
    assert len({b.delay for b in backoffs}) > 3  # jitter did spread them


async def test_stop_during_backoff_disables_restarts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (0.0, CRASH))
    config = backoff_config(tmp_path)
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("backing_off", "p", count=2)
        status = await supervisor.stop("p")
        assert status.status is PluginState.STOPPED
        await trio.sleep(10_000)
        assert len(spawner.spawned_at) == 2
        assert events.of("stopped")[-1].reason == "requested"


async def test_start_during_backoff_starts_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (0.0, CRASH) if n < 4 else (1e9, CRASH))
    config = backoff_config(tmp_path)
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("backing_off", "p", count=4)  # now waiting 8 s
        asked_at = trio.current_time()
        status = await supervisor.start("p")
        assert status.status is PluginState.RUNNING
        assert spawner.spawned_at[-1] == asked_at


@pytest.mark.parametrize(
    ("restart", "exit_status", "spawns", "final"),
    [
        ("never", CRASH, 1, PluginState.FAILED),
        ("never", CLEAN, 1, PluginState.STOPPED),
        ("on-failure", CLEAN, 1, PluginState.STOPPED),
        ("on-failure", CRASH, 5, PluginState.BACKOFF),
        ("always", CLEAN, 5, PluginState.BACKOFF),
    ],
)
async def test_restart_policies(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    restart: str,
    exit_status: ExitStatus,
    spawns: int,
    final: PluginState,
) -> None:
    spawner = FakeSpawner(lambda n: (1.0, exit_status))
    config = backoff_config(tmp_path, restart=restart)
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        # Runs of 1 s; restarts after 1, 2, 4 and 8 s: spawns at 0, 2, 5, 10 and 19.
        await trio.sleep(20.5)
        assert len(spawner.spawned_at) == spawns
        assert supervisor.plugin_status("p").status is final
        kind = "crashed" if exit_status is CRASH else "stopped"
        assert len(events.of(kind, "p")) == spawns


async def test_depends_on_starts_dependencies_first_and_stop_all_reverses(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (1e9, CRASH))
    config = write_config(
        tmp_path,
        QUIET
        + """\
core: core
autostart: [web, db]
defaults:
  command: [fake]
  ready: {after: 2}
plugins:
  core: {}
  db: {}
  cache: {}
  web: {depends_on: [cache, db]}
""",
    )
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.autostart()
        await events.wait_for("ready", "web")
        started = [event.name for event in events.of("started")]
        ready = [event.name for event in events.of("ready")]
        assert started == ready == ["core", "cache", "db", "web"]
        assert spawner.spawned_at == [0.0, 2.0, 4.0, 6.0]  # each waited for the previous
        await supervisor.stop_all()
        await events.wait_for("stopped", "core")
        assert [event.name for event in events.of("stopped")] == ["web", "db", "cache", "core"]
