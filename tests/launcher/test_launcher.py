"""The launcher with the embedded broker and real runner processes."""

from __future__ import annotations

import httpx
import pytest
import trio
from launcher_fakes import (
    code_task,
    launcher_config,
    launching,
    pid_alive,
    python_runner,
    script_runner,
)

from trio_launcher.broker import (
    Broker,
    BrokerConfig,
    RunnerDisconnected,
    open_broker,
    serve_broker,
)
from trio_launcher.launcher import HealthProbe, Phase


async def test_cold_start_runs_the_first_task(broker: Broker) -> None:
    async with launching(launcher_config(broker)) as launcher:
        await launcher.wait_for_phase("python", Phase.HANDSHAKING)
        assert launcher.statistics().runners["python"].pid is None  # nothing runs yet
        result = await broker.run_task("python", code_task("return [{'json': {'x': 1}}]"))
        assert result.result == [{"json": {"x": 1}}]
        assert launcher.statistics().runners["python"].launches == 1


async def test_runner_exits_when_idle_and_is_started_again(broker: Broker) -> None:
    async with launching(launcher_config(broker, auto_shutdown_timeout=1)) as launcher:
        await broker.run_task("python", code_task("return []"))
        running = await launcher.wait_for_phase("python", Phase.RUNNER_RUNNING)
        idle = await launcher.wait_for_phase("python", Phase.HANDSHAKING)
        assert idle.last_exit == "exit code 0"
        assert running.pid is not None and not pid_alive(running.pid)
        await broker.run_task("python", code_task("return []"))
        assert launcher.statistics().runners["python"].launches == 2


async def test_runner_crash_mid_task_fails_it_and_the_next_task_works(broker: Broker) -> None:
    # The task kills its runner to crash it: only possible with the kernel layers off.
    sandbox = {
        "N8N_RUNNERS_STDLIB_ALLOW": "os",
        "N8N_RUNNERS_BUILTINS_DENY": "",
        "N8N_RUNNERS_SANDBOX": "off",
    }
    spec = python_runner()
    spec = python_runner(allowed_env=(*spec.allowed_env, *sandbox))
    config = launcher_config(broker, spec)
    config = launcher_config(broker, spec, environ={**config.environ, **sandbox})
    kill_runner = (
        "import os\n"
        "runner = int(open(f'/proc/{os.getppid()}/stat').read().split()[3])\n"
        "os.kill(runner, 9)\n"
        "return []"
    )
    async with launching(config) as launcher:
        with pytest.raises(RunnerDisconnected):
            await broker.run_task("python", code_task(kill_runner))
        result = await broker.run_task("python", code_task("return [{'json': {'ok': 1}}]"))
        assert result.result == [{"json": {"ok": 1}}]
        assert launcher.statistics().runners["python"].launches == 2


async def test_refused_auth_token_backs_off_and_says_why(broker: Broker) -> None:
    config = launcher_config(broker, auth_token="wrong")
    async with launching(config) as launcher:
        status = await launcher.wait_for_phase("python", Phase.BACKING_OFF)
    assert status.reason is not None and "N8N_RUNNERS_AUTH_TOKEN" in status.reason


async def test_runner_that_cannot_start_backs_off(broker: Broker) -> None:
    spec = python_runner(command="/nonexistent/python")
    async with launching(launcher_config(broker, spec)) as launcher, trio.open_nursery() as n:
        n.start_soon(broker.run_task, "python", code_task("return []"))
        status = await launcher.wait_for_phase("python", Phase.BACKING_OFF)
        n.cancel_scope.cancel()
    assert status.reason is not None and "/nonexistent/python" in status.reason


async def test_unresponsive_runner_is_stopped_by_the_health_probe(broker: Broker) -> None:
    hang = script_runner("import time\nprint('hanging', flush=True)\ntime.sleep(1000)")
    probe = HealthProbe(initial_delay=0.05, interval=0.05, timeout=0.2, failures=2)
    config = launcher_config(broker, hang)
    async with launching(config, probe=probe) as launcher, trio.open_nursery() as nursery:
        nursery.start_soon(broker.run_task, "python", code_task("return []"))
        running = await launcher.wait_for_phase("python", Phase.RUNNER_RUNNING)
        stopped = await launcher.wait_for_phase("python", Phase.BACKING_OFF)
        nursery.cancel_scope.cancel()
    assert stopped.reason == "runner killed by SIGTERM"
    assert running.pid is not None and not pid_alive(running.pid)


async def test_cancelling_the_launcher_stops_a_busy_runner(broker: Broker) -> None:
    async with launching(launcher_config(broker)) as launcher:
        await broker.run_task("python", code_task("return []"))
        status = await launcher.wait_for_phase("python", Phase.RUNNER_RUNNING)
    assert status.pid is not None and not pid_alive(status.pid)


async def test_broker_restart_while_idle() -> None:
    first_broker = trio.CancelScope()

    async def serve_first(*, task_status: trio.TaskStatus[Broker]) -> None:
        with first_broker:
            await serve_broker(BrokerConfig(port=0, auth_token="s"), task_status=task_status)

    async with trio.open_nursery() as nursery:
        first: Broker = await nursery.start(serve_first)
        async with launching(launcher_config(first)) as launcher:
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            first_broker.cancel()
            await launcher.wait_for_phase("python", Phase.BACKING_OFF)
            async with open_broker(BrokerConfig(port=first.port, auth_token="s")) as second:
                result = await second.run_task("python", code_task("return [{'json': {}}]"))
    assert result.result == [{"json": {}}]


async def test_health_endpoint_reports_each_runner_type(broker: Broker) -> None:
    async with launching(launcher_config(broker)) as launcher:
        await launcher.wait_for_phase("python", Phase.HANDSHAKING)
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{launcher.health_port}/healthz")
            other = await http.post(f"http://127.0.0.1:{launcher.health_port}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["runners"]["python"]["phase"] == "handshaking"
    assert other.status_code == 405
