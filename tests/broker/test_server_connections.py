"""Each connection has one boundary and deadlines; a requester that leaves cancels its task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest
import trio
import trio.testing
from broker_fakes import Answer, fake_runner, settings
from raw_http import post, read_to_end

from trio_launcher.broker import Broker, BrokerConfig, open_broker
from trio_launcher.protocol import BrokerTaskCancel, BrokerTaskSettings, Message, RunnerTaskDone
from trio_launcher.transport.websocket import INTERNAL_ERROR

#: Bounds a wait for an effect; reaching it means the test failed, not that it was slow.
HANG_GUARD = 60


async def test_a_route_that_fails_unexpectedly_answers_500_and_the_broker_goes_on(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_status() -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broker, "status", broken_status)
    async with httpx.AsyncClient() as http:
        failed = await http.get(f"{broker.url}/status")
        health = await http.get(f"{broker.url}/healthz")
    assert failed.status_code == 500
    assert health.status_code == 200


async def test_a_runner_connection_that_fails_unexpectedly_is_closed_with_1011(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_runner(broker, runner_id="doomed") as doomed:
        core = broker._core

        def broken_core(*args: object) -> object:
            raise RuntimeError("a bug in the core")

        with monkeypatch.context() as patch:
            patch.setattr(core, "receive_from_runner", broken_core)
            await doomed.send(RunnerTaskDone("t1", {"result": []}))
            with trio.fail_after(HANG_GUARD):
                await doomed.closed.wait()
    assert doomed.ws.closed is not None and doomed.ws.closed.code == INTERNAL_ERROR
    async with fake_runner(broker, runner_id="next"):
        result = await broker.run_task("python", settings("still serving"))
    assert result.result == settings("still serving")


async def test_the_brokers_request_deadline_closes_a_half_sent_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = BrokerConfig(port=0, auth_token="s", http_request_timeout=7)
    async with open_broker(config) as broker:
        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
        opened = trio.current_time()
        await stream.send_all(b"POST /runners/auth HTTP/1.1\r\nHost: x\r\nContent-Le")
        answer = await read_to_end(stream)
        closed = trio.current_time()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert closed - opened >= 7


async def test_the_brokers_keep_alive_timeout_closes_an_idle_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = BrokerConfig(port=0, auth_token="s", http_keepalive_timeout=3)
    async with open_broker(config) as broker:
        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += await stream.receive_some()
        answered = trio.current_time()
        rest = await read_to_end(stream)
        closed = trio.current_time()
    assert rest == b""
    assert closed - answered >= 3


def hang_until_cancelled(started: trio.Event) -> Answer:
    def answer(msg: BrokerTaskSettings) -> list[Message]:
        started.set()
        return []

    return answer


async def wait_for_cancel(received: list[Message]) -> BrokerTaskCancel:
    while not any(isinstance(m, BrokerTaskCancel) for m in received):
        await trio.testing.wait_all_tasks_blocked()
        await trio.lowlevel.checkpoint()
    return next(m for m in received if isinstance(m, BrokerTaskCancel))


async def test_a_requester_that_disconnects_mid_task_cancels_it(broker: Broker) -> None:
    started = trio.Event()
    async with fake_runner(broker, hang_until_cancelled(started)) as runner:
        body = json.dumps({"taskType": "python", "settings": settings("long")}).encode()
        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
        await stream.send_all(post("/tasks", body, "Authorization: Bearer req-secret"))
        with trio.fail_after(HANG_GUARD):
            await started.wait()
            await stream.aclose()  # the requester goes away
            cancel = await wait_for_cancel(runner.received)
        assert broker.status().tasks_in_flight == 0
    assert cancel.reason == "Task cancelled by user"


async def test_ctrl_c_on_the_task_command_cancels_the_task_without_a_traceback(
    broker: Broker,
) -> None:
    started = trio.Event()
    async with fake_runner(broker, hang_until_cancelled(started)) as runner:
        command = [
            sys.executable,
            "-c",
            "import sys; from trio_launcher.cli import main; sys.exit(main())",
            "task",
            "--broker",
            broker.url,
            "--code",
            "return []",
        ]
        env = {**os.environ, "TRIO_LAUNCHER_REQUESTER_TOKEN": "req-secret"}
        process = await trio.lowlevel.open_process(command, env=env, stderr=subprocess.PIPE)
        try:
            with trio.fail_after(HANG_GUARD):
                await started.wait()
                process.send_signal(signal.SIGINT)
                assert process.stderr is not None
                stderr = await read_to_end(process.stderr)
                code = await process.wait()
                cancel = await wait_for_cancel(runner.received)
        finally:
            process.kill()
            await process.wait()
    assert code == 130
    assert b"Traceback" not in stderr
    assert cancel.reason == "Task cancelled by user"


@pytest.mark.parametrize(
    "setting", ["http_request_timeout", "http_keepalive_timeout", "refused_rate_limit"]
)
def test_a_bad_new_setting_is_refused_by_name(setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        BrokerConfig(**{setting: -1})  # type: ignore[arg-type]
