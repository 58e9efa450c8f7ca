"""The launcher's phases: one table says every change, and the loop follows it."""

from __future__ import annotations

import pytest
import trio
from launcher_fakes import code_task, launcher_config, launching

from trio_launcher.broker import Broker
from trio_launcher.launcher import Phase, RunnerTypeStatus, phases
from trio_launcher.launcher import loop as loop_module
from trio_launcher.protocol.transitions import IllegalTransition, TransitionTable

HANG_GUARD = 60


async def test_a_cycle_walks_the_phases_in_the_tables_order(broker: Broker) -> None:
    statuses: list[RunnerTypeStatus] = []
    config = launcher_config(broker, auto_shutdown_timeout=1)
    with trio.fail_after(HANG_GUARD):
        async with launching(config) as launcher, trio.open_nursery() as watcher:
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)

            async def record() -> None:
                while True:
                    statuses.append(await launcher.wait_for_change("python"))

            watcher.start_soon(record)
            await broker.run_task("python", code_task("return []"))
            idle = await launcher.wait_for_phase("python", Phase.WAITING_FOR_BROKER)
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            watcher.cancel_scope.cancel()
    assert [s.phase for s in statuses] == [
        Phase.LAUNCHING,
        Phase.RUNNER_RUNNING,
        Phase.WAITING_FOR_BROKER,  # the idle runner exited
        Phase.FETCHING_GRANT,
        Phase.HANDSHAKING,
    ]
    assert statuses[1].pid is not None
    assert idle.last_exit == "exit code 0"


async def test_an_illegal_phase_change_ends_the_loop_instead_of_backing_off(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A table that forgot that the broker may answer: the loop must not carry on.
    table = phases.PHASE_TRANSITIONS
    kept = [t for t in table.transitions if t.trigger != phases.BROKER_ANSWERED]
    monkeypatch.setattr(loop_module, "PHASE_TRANSITIONS", TransitionTable(table.name, kept))
    illegal = pytest.RaisesExc(IllegalTransition, match="broker-answered")
    with trio.fail_after(HANG_GUARD), pytest.RaisesGroup(illegal, allow_unwrapped=True):
        async with launching(launcher_config(broker)) as launcher:
            await launcher.wait_for_phase("python", Phase.BACKING_OFF)
