"""One launcher, two runner types: our Python runner and a fake ``echo`` runner."""

from __future__ import annotations

import httpx
import trio
from launcher_fakes import code_task, echo_runner, launcher_config, launching, python_runner

from trio_launcher.broker import Broker, TaskResult
from trio_launcher.launcher import Phase, RunnerTypeStatus
from trio_launcher.process import Backoff

HANG_GUARD = 60


async def test_each_type_is_launched_on_demand_and_both_serve_at_once(broker: Broker) -> None:
    python, echo = python_runner(), echo_runner()
    config = launcher_config(broker, python, echo)
    with trio.fail_after(HANG_GUARD):
        async with launching(config) as launcher:
            for runner_type in ("python", "echo"):
                await launcher.wait_for_phase(runner_type, Phase.HANDSHAKING)
            idle = launcher.statistics().runners
            assert [(s.pid, s.launches) for s in idle.values()] == [(None, 0), (None, 0)]

            # A task of one type starts only that type's runner.
            first = await broker.run_task("echo", {"n": 0})
            assert first.result == {"n": 0}
            only_echo = launcher.statistics().runners
            assert only_echo["echo"].phase is Phase.RUNNER_RUNNING
            assert only_echo["echo"].launches == 1
            assert only_echo["python"].phase is Phase.HANDSHAKING
            assert only_echo["python"].launches == 0

            # Tasks of both types at once: each goes to its own runner.
            results: dict[str, TaskResult] = {}

            async def run(name: str, task_type: str, settings: object) -> None:
                results[name] = await broker.run_task(task_type, settings)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, "py", "python", code_task("return [{'json': {'n': 1}}]"))
                for n in (2, 3):
                    nursery.start_soon(run, f"echo{n}", "echo", {"n": n})
            both = launcher.statistics()
            async with httpx.AsyncClient() as http:
                runner_health = [
                    await http.get(f"http://127.0.0.1:{spec.health_check_port}/healthz")
                    for spec in (python, echo)
                ]
                launcher_health = await http.get(f"http://127.0.0.1:{launcher.health_port}/healthz")

    assert results["py"].result == [{"json": {"n": 1}}]
    assert results["echo2"].result == {"n": 2}
    assert results["echo3"].result == {"n": 3}
    py_status, echo_status = both.runners["python"], both.runners["echo"]
    assert py_status.phase is echo_status.phase is Phase.RUNNER_RUNNING
    assert (py_status.launches, echo_status.launches) == (1, 1)  # the echo runner was reused
    assert py_status.pid is not None and echo_status.pid is not None
    assert py_status.pid != echo_status.pid
    # Each runner got its own health port in its environment.
    assert [response.status_code for response in runner_health] == [200, 200]
    served = launcher_health.json()["runners"]
    assert {t: (s["phase"], s["pid"]) for t, s in served.items()} == {
        "python": ("runner_running", py_status.pid),
        "echo": ("runner_running", echo_status.pid),
    }


async def test_one_type_going_idle_leaves_the_other_alone(broker: Broker) -> None:
    config = launcher_config(broker, python_runner(), echo_runner(), auto_shutdown_timeout=1)
    with trio.fail_after(HANG_GUARD):
        async with launching(config) as launcher:
            python_waiting = await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            await broker.run_task("echo", {"n": 1})
            running = await launcher.wait_for_phase("echo", Phase.RUNNER_RUNNING)
            after_idle = await launcher.wait_for_phase("echo", Phase.HANDSHAKING)
            python_now = launcher.statistics().runners["python"]
    assert after_idle.last_exit == "exit code 0"
    assert (after_idle.launches, after_idle.pid) == (1, None)
    assert running.pid is not None
    assert python_now == python_waiting  # untouched: still waiting, never launched


async def test_each_type_backs_off_on_its_own(broker: Broker) -> None:
    """Failures of one runner type do not lengthen another's delays."""
    config = launcher_config(broker, python_runner(), echo_runner(), auth_token="wrong")
    policy = Backoff(initial=0.5, maximum=5.0, jitter=0.0)
    first_delays: dict[str, RunnerTypeStatus] = {}

    async def first_backoff(runner_type: str) -> None:
        first_delays[runner_type] = await launcher.wait_for_phase(runner_type, Phase.BACKING_OFF)

    with trio.fail_after(HANG_GUARD):
        async with launching(config, backoff=policy) as launcher, trio.open_nursery() as nursery:
            for runner_type in ("python", "echo"):
                nursery.start_soon(first_backoff, runner_type)
    assert {t: s.retry_in for t, s in first_delays.items()} == {"python": 0.5, "echo": 0.5}
