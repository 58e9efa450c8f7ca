"""A plugin's life: it asks one table for every change, and shows four statuses for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from supervisor_helpers import FakeSpawner, backoff_config, mock_supervising

from trio_launcher.process import ExitStatus
from trio_launcher.protocol.transitions import TransitionTable
from trio_launcher.supervisor import Lifecycle, PluginState
from trio_launcher.supervisor import plugin as plugin_module
from trio_launcher.supervisor.lifecycle import LIFECYCLE_TRANSITIONS, shown_as

L = Lifecycle
CRASH = ExitStatus(returncode=1)
CLEAN = ExitStatus(returncode=0)


class RecordingTable(TransitionTable[Lifecycle]):
    """The plugin's table, noting every change it is asked for."""

    def __init__(self) -> None:
        super().__init__(LIFECYCLE_TRANSITIONS.name, LIFECYCLE_TRANSITIONS.transitions)
        self.walk: list[tuple[Lifecycle, str, Lifecycle]] = []

    def advance(self, source: Lifecycle, trigger: str) -> Lifecycle:
        target = super().advance(source, trigger)
        self.walk.append((source, trigger, target))
        return target


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> RecordingTable:
    recording = RecordingTable()
    monkeypatch.setattr(plugin_module, "LIFECYCLE_TRANSITIONS", recording)
    return recording


async def test_a_crash_backs_off_and_a_stop_in_the_backoff_ends_the_run(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, table: RecordingTable
) -> None:
    spawner = FakeSpawner(lambda n: (5.0, CRASH))
    async with mock_supervising(backoff_config(tmp_path), spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("backing_off", "p")
        await supervisor.stop("p")
    assert table.walk == [
        (L.STOPPED, "start", L.SPAWNING),
        (L.SPAWNING, "spawned", L.STARTING),
        (L.STARTING, "ready", L.RUNNING),
        (L.RUNNING, "exited", L.EXITED),
        (L.EXITED, "back-off", L.BACKOFF),
        (L.BACKOFF, "stop", L.STOPPING),
        (L.STOPPING, "run-ended", L.STOPPED),
    ]
    assert events.of("stopped", "p")[-1].reason == "requested"


async def test_a_clean_exit_with_no_restart_due_stops_the_plugin(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, table: RecordingTable
) -> None:
    spawner = FakeSpawner(lambda n: (5.0, CLEAN))
    async with mock_supervising(backoff_config(tmp_path, "never"), spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("stopped", "p")
        assert supervisor.plugin_status("p").status is PluginState.STOPPED
    assert [trigger for _, trigger, _ in table.walk][-2:] == ["exited", "finished"]


async def test_a_plugin_that_never_gets_ready_gives_up_after_its_retries(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, table: RecordingTable
) -> None:
    spawner = FakeSpawner(lambda n: (1.0, CRASH))
    settings = backoff_config(tmp_path, ready_after=10, start_retries=1)
    async with mock_supervising(settings, spawner) as (supervisor, events):
        await supervisor.start("p")
        await events.wait_for("gave_up", "p")
        assert supervisor.plugin_status("p").status is PluginState.FAILED
    assert [state for state, _, _ in table.walk].count(L.STARTING) == 2
    assert table.walk[-1] == (L.EXITED, "failed", L.FAILED)


async def test_a_stop_while_it_runs_waits_for_the_process(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, table: RecordingTable
) -> None:
    spawner = FakeSpawner(lambda n: (1e9, CRASH))
    async with mock_supervising(backoff_config(tmp_path, "always"), spawner) as (
        supervisor,
        _events,
    ):
        running = await supervisor.start("p")
        assert (running.status, running.ready) == (PluginState.RUNNING, True)
        stopped = await supervisor.stop("p")
        assert (stopped.status, stopped.pid) == (PluginState.STOPPED, None)
    assert table.walk[-2:] == [(L.RUNNING, "stop", L.STOPPING), (L.STOPPING, "exited", L.STOPPED)]


@pytest.mark.parametrize(
    ("state", "has_process", "before", "shown"),
    [
        (L.STARTING, True, PluginState.STOPPED, PluginState.RUNNING),
        (L.RESTARTING, True, PluginState.RUNNING, PluginState.RUNNING),
        (L.BACKOFF, False, PluginState.RUNNING, PluginState.BACKOFF),
        (L.SPAWNING, False, PluginState.BACKOFF, PluginState.BACKOFF),
        (L.EXITED, False, PluginState.RUNNING, PluginState.RUNNING),
        (L.STOPPING, True, PluginState.STOPPED, PluginState.RUNNING),
        (L.STOPPING, False, PluginState.BACKOFF, PluginState.BACKOFF),
        (L.FAILED, False, PluginState.RUNNING, PluginState.FAILED),
    ],
)
def test_the_status_shown_keeps_its_four_values(
    state: Lifecycle, has_process: bool, before: PluginState, shown: PluginState
) -> None:
    assert shown_as(state, has_process=has_process, before=before) is shown
