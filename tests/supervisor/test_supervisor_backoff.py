"""Restart policy and backoff timing, on trio's MockClock with a stand-in for run_child."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import Any

import pytest
import trio
from supervisor_helpers import (
    QUIET,
    FakeChild,
    FakeSpawner,
    backoff_config,
    mock_supervising,
    write_config,
)

from trio_launcher.process import ExitStatus
from trio_launcher.supervisor import PluginState

CRASH = ExitStatus(returncode=1)
CLEAN = ExitStatus(returncode=0)


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


class SlowToStopSpawner(FakeSpawner):
    """``[slow]`` runs until stopped, then takes 10 s to exit; anything else crashes at once."""

    def __init__(self) -> None:
        super().__init__(lambda n: (0.0, CRASH))
        self.commands: list[str] = []

    async def __call__(self, command: Sequence[str], **options: Any) -> ExitStatus:
        self.commands.append(command[0])
        if command[0] != "slow":
            return await super().__call__(command, **options)
        options["task_status"].started(FakeChild(20_000))
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(10)  # its grace period
        raise AssertionError("unreachable")


async def test_stopping_everything_cancels_every_pending_restart_first(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = SlowToStopSpawner()
    config = write_config(
        tmp_path,
        QUIET
        + """\
plugins:
  crashy: {command: [crashy], ready: {after: 0}, start_retries: 1000,
           backoff: {initial: 1, max: 1, jitter: 0}}
  slow: {command: [slow], ready: {after: 0}}
""",
    )
    async with mock_supervising(config, spawner) as (supervisor, _):
        await supervisor.start("crashy")  # started first, so stopped last
        await supervisor.start("slow")
        spawns = spawner.commands.count("crashy")
        statuses = await supervisor.stop_all()  # slow takes 10 s; crashy's timer is 1 s
        assert spawner.commands.count("crashy") == spawns
        assert {status.name: status.status for status in statuses} == {
            "crashy": PluginState.STOPPED,
            "slow": PluginState.STOPPED,
        }


async def test_a_plugin_that_never_gets_ready_fails_after_its_start_retries(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (1.0, CRASH))  # dies before it is ready (after 5 s)
    config = write_config(
        tmp_path,
        QUIET
        + """\
plugins:
  p: {command: [fake], ready: {after: 5}, start_retries: 2, backoff: {initial: 1, jitter: 0}}
""",
    )
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        gave_up = await events.wait_for("gave_up", "p")
        await trio.sleep(10_000)
        status = supervisor.plugin_status("p")
    assert len(spawner.spawned_at) == 3  # the first try and 2 retries
    assert gave_up.tries == 3
    assert status.status is PluginState.FAILED
    assert status.last_error == gave_up.error


async def test_start_retries_count_failed_starts_only(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # Ready after 1 s each time, then crashes at 2 s: restarted for ever, with backoff.
    spawner = FakeSpawner(lambda n: (2.0, CRASH))
    config = write_config(
        tmp_path,
        QUIET
        + """\
plugins:
  p: {command: [fake], ready: {after: 1}, start_retries: 0, backoff: {initial: 1, max: 1}}
""",
    )
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("started", "p", count=6)
    assert events.of("gave_up") == []


async def test_last_error_is_cleared_once_the_plugin_is_ready_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spawner = FakeSpawner(lambda n: (0.5, CRASH) if n == 0 else (1e9, CRASH))
    config = write_config(
        tmp_path,
        QUIET
        + """\
plugins:
  p: {command: [fake], ready: {after: 1}, backoff: {initial: 1, jitter: 0}}
""",
    )
    async with mock_supervising(config, spawner) as (supervisor, events):
        await supervisor.start("p")
        assert supervisor.plugin_status("p").last_error == "exit code 1"
        await events.wait_for("ready", "p")
        status = supervisor.plugin_status("p")
    assert status.ready
    assert status.last_error == ""
