"""The Python task runner over real sockets, against the embedded broker.

Where a test must know that a task is running, the task's code connects to a
listener the test owns: the accept is the signal, and EOF on that connection
proves the task's process is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import trio

from trio_launcher.broker import Broker, BrokerConfig, TaskFailed, open_broker, serve_broker
from trio_launcher.config_error import ConfigError
from trio_launcher.runner import (
    AuthenticationRefused,
    GrantTokenSpent,
    HealthCheckConfig,
    NoIdleTimeoutHandlerError,
    RunnerConfig,
    TaskRunner,
    run_runner,
)
from trio_launcher.runner.errors import (
    EXIT_AUTH_REFUSED,
    EXIT_CONFIG,
    EXIT_NEEDS_NEW_GRANT,
    EXIT_OK,
    EXIT_TASKS_KILLED,
)
from trio_launcher.runner.sandbox.policy import SandboxPolicy


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    config = BrokerConfig(port=0, auth_token="secret", task_request_timeout=20)
    async with open_broker(config) as running:
        yield running


def runner_config(broker: Broker, **overrides: Any) -> RunnerConfig:
    values: dict[str, Any] = {
        "grant_token": broker.issue_grant_token(),
        "task_broker_uri": broker.url,
        "task_memory_limit_mb": 0,
    }
    values.update(overrides)
    return RunnerConfig(**values)


def code_task(code: str, **extra: Any) -> dict[str, Any]:
    items = [{"json": {"n": 1}}, {"json": {"n": 2}}]
    return {"code": code, "nodeMode": "runOnceForAllItems", "items": items, **extra}


@attrs.define
class TaskSignal:
    """A listener that task code connects to, to say "I am running"."""

    listener: trio.SocketListener

    @property
    def connect_code(self) -> str:
        port = self.listener.socket.getsockname()[1]
        return f"import socket\n_s = socket.create_connection(('127.0.0.1', {port}))\n"

    async def accepted(self) -> trio.SocketStream:
        return await self.listener.accept()


@asynccontextmanager
async def task_signal() -> AsyncIterator[TaskSignal]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        yield TaskSignal(listeners[0])


# Task code connects to the test over TCP: without the layers that forbid it.
SIGNALLING = {
    "sandbox": SandboxPolicy.from_strings(
        stdlib_allow="socket,time",
        builtins_deny="",
        disabled_layers="seccomp,landlock,namespaces",
    )
}


@pytest.fixture
async def runner(broker: Broker) -> AsyncIterator[TaskRunner]:
    async with trio.open_nursery() as nursery:
        started: TaskRunner = await nursery.start(run_runner, runner_config(broker))
        yield started
        await started.stop()


async def test_all_items_task_returns_the_code_result(broker: Broker, runner: TaskRunner) -> None:
    code = "return [{'json': {'sum': sum(i['json']['n'] for i in _items)}}]"
    result = await broker.run_task("python", code_task(code))
    assert result.result == [{"json": {"sum": 3}}]


async def test_per_item_task_pairs_items(broker: Broker, runner: TaskRunner) -> None:
    settings = code_task("return {'double': _item['json']['n'] * 2}")
    settings["nodeMode"] = "runOnceForEachItem"
    result = await broker.run_task("python", settings)
    assert result.result == [
        {"json": {"double": 2}, "pairedItem": {"item": 0}},
        {"json": {"double": 4}, "pairedItem": {"item": 1}},
    ]


async def test_prints_arrive_as_log_rpcs(broker: Broker, runner: TaskRunner) -> None:
    calls: list[tuple[str, Any]] = []

    async def on_rpc(name: str, params: Any) -> None:
        calls.append((name, params))

    await broker.run_task("python", code_task("print('hi', 42)\nreturn []"), on_rpc=on_rpc)
    assert calls == [("logNodeOutput", ["'hi'", "42"])]


async def test_user_error_fails_only_its_task(broker: Broker, runner: TaskRunner) -> None:
    with pytest.raises(TaskFailed) as raised:
        await broker.run_task("python", code_task("x = 1\nraise ValueError('bad input')"))
    assert raised.value.error["message"] == "bad input"
    assert raised.value.error["lineNumber"] == 2
    result = await broker.run_task("python", code_task("return [{'json': {'ok': True}}]"))
    assert result.result == [{"json": {"ok": True}}]


async def test_continue_on_fail_turns_the_error_into_an_item(
    broker: Broker, runner: TaskRunner
) -> None:
    settings = code_task("raise ValueError('soft')", continueOnFail=True)
    result = await broker.run_task("python", settings)
    assert result.result == [{"json": {"error": "soft"}}]


async def test_task_timeout_kills_the_task_and_the_runner_goes_on(broker: Broker) -> None:
    async with trio.open_nursery() as nursery:
        runner = await nursery.start(run_runner, runner_config(broker, task_timeout=0.5))
        with pytest.raises(TaskFailed) as raised:
            await broker.run_task("python", code_task("while True:\n    pass"))
        assert raised.value.error["message"] == "Task execution timed out after 0.5 seconds"
        assert (await broker.run_task("python", code_task("return []"))).result == []
        await runner.stop()


async def test_cancelling_a_task_kills_its_process(broker: Broker) -> None:
    async with trio.open_nursery() as nursery, task_signal() as signal:
        runner = await nursery.start(run_runner, runner_config(broker, **SIGNALLING))
        code = signal.connect_code + "while True:\n    pass"
        async with trio.open_nursery() as submit:
            submit.start_soon(broker.run_task, "python", code_task(code))
            task_stream = await signal.accepted()
            submit.cancel_scope.cancel()
        assert await task_stream.receive_some() == b""  # the task's process is gone
        result = await broker.run_task("python", code_task("return [{'json': {}}]"))
        assert result.result == [{"json": {}}]
        await runner.stop()


async def test_graceful_stop_finishes_the_running_task(broker: Broker) -> None:
    results: list[Any] = []
    async with trio.open_nursery() as nursery, task_signal() as signal:
        runner = await nursery.start(run_runner, runner_config(broker, **SIGNALLING))
        code = signal.connect_code + "_s.recv(1)\nreturn [{'json': {'done': True}}]"

        async def submit() -> None:
            results.append(await broker.run_task("python", code_task(code)))

        nursery.start_soon(submit)
        task_stream = await signal.accepted()
        nursery.start_soon(runner.stop)
        await task_stream.send_all(b"x")  # let the task finish while the runner stops
    assert runner.exit_code == 0
    assert results[0].result == [{"json": {"done": True}}]


async def test_stop_kills_tasks_past_the_grace_period_and_exits_1(broker: Broker) -> None:
    config = runner_config(broker, graceful_shutdown_timeout=0.2, **SIGNALLING)
    async with trio.open_nursery() as nursery, task_signal() as signal:
        runner = await nursery.start(run_runner, config)
        code = signal.connect_code + "while True:\n    pass"
        failures: list[TaskFailed] = []

        async def submit() -> None:
            with pytest.raises(TaskFailed) as raised:
                await broker.run_task("python", code_task(code))
            failures.append(raised.value)

        nursery.start_soon(submit)
        task_stream = await signal.accepted()
        await runner.stop()
        assert await task_stream.receive_some() == b""
    assert runner.exit_code == 1
    assert failures[0].error["message"] == "Task was stopped: the runner is shutting down"


async def test_idle_runner_exits_with_code_0(broker: Broker) -> None:
    assert await run_runner(runner_config(broker, auto_shutdown_timeout=0.2)) == 0


class StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def test_a_task_outliving_the_idle_timeout_keeps_the_runner_quiet(broker: Broker) -> None:
    config = runner_config(broker, auto_shutdown_timeout=0.05, **SIGNALLING)
    async with task_signal() as signal, trio.open_nursery() as nursery:
        code = signal.connect_code + "_s.recv(1)\nreturn [{'json': {'done': True}}]"
        runner = await nursery.start(run_runner, config)
        nursery.start_soon(broker.run_task, "python", code_task(code))
        task_stream = await signal.accepted()
        counter = StepCounter()
        trio.lowlevel.add_instrument(counter)
        await trio.sleep(0.3)  # the idle timeout passes while the task runs
        trio.lowlevel.remove_instrument(counter)
        assert counter.steps < 100  # asleep, not spinning on the past idle deadline
        assert runner.running_tasks == 1
        await task_stream.aclose()


async def test_refused_grant_token_raises_authentication_refused(broker: Broker) -> None:
    with pytest.raises(AuthenticationRefused) as raised:
        await run_runner(runner_config(broker, grant_token="0" * 64))
    assert (raised.value.token_name, raised.value.status) == ("N8N_RUNNERS_GRANT_TOKEN", 403)


async def test_lost_connection_without_auth_token_needs_a_new_runner() -> None:
    with pytest.RaisesGroup(GrantTokenSpent, flatten_subgroups=True):
        async with trio.open_nursery() as nursery, trio.open_nursery() as broker_life:
            config = BrokerConfig(port=0, auth_token="s")
            broker = await broker_life.start(serve_broker, config)
            await nursery.start(run_runner, runner_config(broker, reconnect_delay=0))
            await broker.run_task("python", code_task("return []"))
            broker_life.cancel_scope.cancel()  # the broker dies without draining


async def test_reconnects_after_a_broker_restart_when_it_has_the_auth_token() -> None:
    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as broker_life:
            first = await broker_life.start(serve_broker, BrokerConfig(port=0, auth_token="s"))
            config = runner_config(first, auth_token="s", reconnect_delay=0.05)
            runner: TaskRunner = await nursery.start(run_runner, config)
            await first.run_task("python", code_task("return []"))
            broker_life.cancel_scope.cancel()
        async with open_broker(BrokerConfig(port=first.port, auth_token="s")) as second:
            result = await second.run_task("python", code_task("return [{'json': {'n': 1}}]"))
            assert result.result == [{"json": {"n": 1}}]
            await runner.stop()


async def test_broker_drain_stops_the_runner_with_code_0() -> None:
    async with (
        open_broker(BrokerConfig(port=0, auth_token="s")) as broker,
        trio.open_nursery() as nursery,
    ):
        runner: TaskRunner = await nursery.start(run_runner, runner_config(broker))
        await broker.run_task("python", code_task("return []"))
        await broker.shutdown()
    assert runner.exit_code == 0


async def test_health_endpoint_answers_while_running(broker: Broker) -> None:
    config = runner_config(broker, health_check=HealthCheckConfig(enabled=True, port=0))
    async with trio.open_nursery() as nursery:
        runner: TaskRunner = await nursery.start(run_runner, config)
        await broker.run_task("python", code_task("return []"))
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{runner.health_port}/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "connected": True, "tasks": 0}
        await runner.stop()


async def test_a_health_port_in_use_is_a_config_error_naming_setting_and_port(
    broker: Broker,
) -> None:
    async with task_signal() as holder:
        port = holder.listener.socket.getsockname()[1]
        config = runner_config(broker, health_check=HealthCheckConfig(enabled=True, port=port))
        with pytest.raises(ConfigError) as raised:
            await run_runner(config)
    [problem] = raised.value.problems
    assert problem.startswith("N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT:")
    assert f"127.0.0.1:{port}" in problem
    assert "health-check-server-port" in problem


async def test_a_runner_process_whose_health_port_is_in_use_exits_2(broker: Broker) -> None:
    async with task_signal() as holder:
        env = {
            "PATH": os.environ["PATH"],
            "N8N_RUNNERS_GRANT_TOKEN": broker.issue_grant_token(),
            "N8N_RUNNERS_TASK_BROKER_URI": broker.url,
            "N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED": "true",
            "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT": str(holder.listener.socket.getsockname()[1]),
        }
        done = await trio.run_process(
            [sys.executable, "-m", "trio_launcher.runner"], env=env, capture_stderr=True,
            check=False,
        )  # fmt: skip
    assert done.returncode == EXIT_CONFIG


async def test_auto_shutdown_without_handler_is_a_config_error(broker: Broker) -> None:
    with pytest.raises(NoIdleTimeoutHandlerError):
        await TaskRunner(runner_config(broker, auto_shutdown_timeout=5)).start()


def test_python_m_runner_help_lists_the_exit_codes_and_runs_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trio_launcher.runner", "--help"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},  # no broker settings: a runner would fail
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    codes = {
        int(line.split()[0])
        for line in done.stdout.split("exit codes:")[1].splitlines()
        if line.strip()
    }
    assert codes == {
        EXIT_OK,
        EXIT_TASKS_KILLED,
        EXIT_CONFIG,
        EXIT_AUTH_REFUSED,
        EXIT_NEEDS_NEW_GRANT,
    }
