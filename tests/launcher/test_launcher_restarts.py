"""The launcher when things go away: a broker restarting under a runner, a runner that flaps."""

from __future__ import annotations

import itertools
import sys
from functools import partial
from random import Random

import trio
from launcher_fakes import (
    OutputLines,
    cli_environment,
    code_task,
    launcher_config,
    launching,
    pid_alive,
    python_runner,
    script_runner,
)

from trio_launcher.broker import Broker, BrokerConfig, open_broker, serve_broker
from trio_launcher.launcher import Phase, RunnerTypeStatus
from trio_launcher.process import Backoff, ChildProcess, ExitStatus, run_child

HANG_GUARD = 60


async def test_broker_restart_while_a_runner_runs() -> None:
    first_broker = trio.CancelScope()

    async def serve_first(*, task_status: trio.TaskStatus[Broker]) -> None:
        with first_broker:
            await serve_broker(BrokerConfig(port=0, auth_token="s"), task_status=task_status)

    # Reconnecting at once: the runner finds out straight away that it cannot.
    spec = python_runner(env_overrides={"TRIO_LAUNCHER_RECONNECT_DELAY": "0"})
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            first: Broker = await nursery.start(serve_first)
            async with launching(launcher_config(first, spec)) as launcher:
                before = await first.run_task("python", code_task("return [{'json': {'n': 1}}]"))
                running = await launcher.wait_for_phase("python", Phase.RUNNER_RUNNING)
                first_broker.cancel()  # gone at once, no drain
                stopped = await launcher.wait_for_phase("python", Phase.BACKING_OFF)
                runner_gone = running.pid is not None and not pid_alive(running.pid)
                async with open_broker(BrokerConfig(port=first.port, auth_token="s")) as second:
                    waiting = await launcher.wait_for_phase("python", Phase.HANDSHAKING)
                    after = await second.run_task(
                        "python", code_task("return [{'json': {'n': 2}}]")
                    )
                    relaunched = launcher.statistics().runners["python"]
    assert before.result == [{"json": {"n": 1}}]
    assert stopped.last_exit == "exit code 4"  # grant spent: the launcher starts a fresh one
    assert runner_gone
    assert waiting.launches == 1  # back to posing as a runner, nothing launched yet
    assert after.result == [{"json": {"n": 2}}]
    assert relaunched.phase is Phase.RUNNER_RUNNING
    assert relaunched.launches == 2
    assert relaunched.pid not in (None, running.pid)


async def test_a_flapping_runner_is_restarted_no_faster_than_the_backoff(broker: Broker) -> None:
    flapping = script_runner("raise SystemExit(1)")

    def policy() -> Backoff:
        return Backoff(initial=0.05, maximum=0.4, factor=2.0, jitter=0.2, random=Random(0))

    twin = policy()
    expected_delays = [twin.next_delay() for _ in range(5)]
    statuses: list[RunnerTypeStatus] = []

    config = launcher_config(broker, flapping)
    with trio.fail_after(HANG_GUARD):
        async with launching(config, backoff=policy()) as launcher, trio.open_nursery() as tasks:
            # The task stays pending (the runner never takes it) and keeps asking for runners.
            tasks.start_soon(broker.run_task, "python", code_task("return []"))
            while sum(s.phase is Phase.BACKING_OFF for s in statuses) < len(expected_delays):
                statuses.append(await launcher.wait_for_change("python"))
            tasks.cancel_scope.cancel()
    backing_off = [s for s in statuses if s.phase is Phase.BACKING_OFF]
    assert [s.retry_in for s in backing_off] == expected_delays
    growing = expected_delays[:4]  # until the cap
    assert all(a < b for a, b in itertools.pairwise(growing))
    assert all(s.last_exit == "exit code 1" for s in backing_off)
    # One launch per failure, and each launch only after the previous delay ran out.
    assert [s.launches for s in backing_off] == list(range(1, len(expected_delays) + 1))
    launched = [s for s in statuses if s.phase is Phase.RUNNER_RUNNING]
    for delay, relaunch in zip(backing_off, launched[1:], strict=False):
        assert delay.retry_in is not None
        assert relaunch.since - delay.since >= delay.retry_in


async def test_a_runner_whose_broker_went_away_exits_with_code_4() -> None:
    """docs/runner.md: 4 = connection lost, grant token spent: start a fresh runner."""
    broker_scope = trio.CancelScope()

    async def serve(*, task_status: trio.TaskStatus[Broker]) -> None:
        with broker_scope:
            await serve_broker(BrokerConfig(port=0, auth_token="s"), task_status=task_status)

    output = OutputLines()
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            broker: Broker = await nursery.start(serve)
            env = cli_environment(
                N8N_RUNNERS_GRANT_TOKEN=broker.issue_grant_token(),
                N8N_RUNNERS_TASK_BROKER_URI=broker.url,
                TRIO_LAUNCHER_RECONNECT_DELAY="0",
                TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB="0",
            )
            command = [sys.executable, "-m", "trio_launcher.runner"]
            runner: ChildProcess = await nursery.start(
                partial(run_child, command, env=env, on_output=output)
            )
            await output.wait_for("registered with the broker")
            broker_scope.cancel()
            status = await runner.wait()
    assert status == ExitStatus(returncode=4), output.lines
