"""Tasks through the broker over real sockets: requester API, errors, heartbeat, drain."""

from __future__ import annotations

import httpx
import pytest
import trio
import wsproto
from broker_fakes import Answer, done_with_settings, fake_runner, settings, ws_url
from wsproto.events import Request

from trio_launcher.broker import (
    Broker,
    BrokerConfig,
    BrokerDraining,
    RunnerDisconnected,
    TaskFailed,
    TaskRequestTimedOut,
    TaskTimedOut,
    open_broker,
)
from trio_launcher.protocol import (
    BrokerDrain,
    BrokerTaskCancel,
    BrokerTaskSettings,
    Message,
    RunnerRpc,
    RunnerTaskDone,
    RunnerTaskError,
)
from trio_launcher.protocol.broker import FOREIGN_TASK_REASON


async def test_run_task_returns_the_runners_result(broker: Broker) -> None:
    async with fake_runner(broker):
        result = await broker.run_task("python", settings("x"))
    assert result.result == settings("x")


async def test_runner_error_raises_task_failed_with_the_error_object(broker: Broker) -> None:
    error = {"message": "boom", "description": "line 1"}

    def fail(msg: BrokerTaskSettings) -> list[Message]:
        return [RunnerTaskError(msg.task_id, error)]

    async with fake_runner(broker, fail):
        with pytest.raises(TaskFailed) as raised:
            await broker.run_task("python", settings())
    assert raised.value.error == error


async def test_rpc_calls_reach_the_callers_handler(broker: Broker) -> None:
    def log_then_done(msg: BrokerTaskSettings) -> list[Message]:
        return [
            RunnerRpc("c1", msg.task_id, "logNodeOutput", ["'hi'"]),
            RunnerTaskDone(msg.task_id, {"result": []}),
        ]

    calls = []

    async def on_rpc(name: str, params: object) -> None:
        calls.append((name, params))

    async with fake_runner(broker, log_then_done):
        await broker.run_task("python", settings(), on_rpc=on_rpc)
    assert calls == [("logNodeOutput", ["'hi'"])]


async def test_request_times_out_without_a_runner(autojump_clock: object) -> None:
    config = BrokerConfig(port=0, auth_token="s", task_request_timeout=3)
    async with open_broker(config) as broker:
        with pytest.raises(TaskRequestTimedOut):
            await broker.run_task("python", settings())


async def test_task_times_out_on_time_after_earlier_timers_were_cancelled(
    autojump_clock: object,
) -> None:
    config = BrokerConfig(port=0, auth_token="s", task_timeout=10)
    async with open_broker(config) as broker, fake_runner(broker, lambda _: []):
        start = trio.current_time()
        with pytest.raises(TaskTimedOut):
            await broker.run_task("python", settings())
        assert trio.current_time() - start == pytest.approx(10)


async def test_runner_disconnect_fails_its_task(broker: Broker) -> None:
    got_task = trio.Event()

    def vanish(msg: BrokerTaskSettings) -> list[Message]:
        got_task.set()
        return []

    async with fake_runner(broker, vanish) as runner, trio.open_nursery() as nursery:

        async def close_when_the_task_arrives() -> None:
            await got_task.wait()
            await runner.ws.aclose()

        nursery.start_soon(close_when_the_task_arrives)
        with pytest.raises(RunnerDisconnected):
            await broker.run_task("python", settings())


async def test_cancelling_the_caller_cancels_the_task_on_the_runner(broker: Broker) -> None:
    started = trio.Event()

    def hang(msg: BrokerTaskSettings) -> list[Message]:
        started.set()
        return []

    async with fake_runner(broker, hang) as runner:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(broker.run_task, "python", settings())
            await started.wait()
            nursery.cancel_scope.cancel()
        while not any(isinstance(m, BrokerTaskCancel) for m in runner.received):
            await trio.testing.wait_all_tasks_blocked()
    cancel = next(m for m in runner.received if isinstance(m, BrokerTaskCancel))
    assert cancel.reason == "Task cancelled by user"


async def test_many_runners_share_the_work() -> None:
    results = []
    async with (
        open_broker(BrokerConfig(port=0, auth_token="s")) as broker,
        fake_runner(broker, runner_id="a"),
        fake_runner(broker, runner_id="b"),
        trio.open_nursery() as nursery,
    ):
        for n in range(20):

            async def one(n: int = n) -> None:
                results.append((await broker.run_task("python", {"n": n})).result)

            nursery.start_soon(one)
    assert sorted(r["n"] for r in results) == list(range(20))


async def test_bad_frame_closes_only_that_connection(broker: Broker) -> None:
    async with fake_runner(broker, runner_id="bad") as bad, fake_runner(broker, runner_id="good"):
        await bad.ws.send_message("this is not json")
        await bad.closed.wait()
        assert bad.ws.closed is not None and bad.ws.closed.code == 1002
        result = await broker.run_task("python", settings("still serving"))
    assert result.result == settings("still serving")


async def test_a_runner_answering_another_runners_task_is_closed(broker: Broker) -> None:
    """Runner B forges a result for runner A's task: B is closed (1008), A's answer counts."""
    held: dict[str, list[BrokerTaskSettings]] = {"a": [], "b": []}
    both_hold_a_task = trio.Event()

    def hold(name: str) -> Answer:
        def answer(msg: BrokerTaskSettings) -> list[Message]:
            held[name].append(msg)
            if held["a"] and held["b"]:
                both_hold_a_task.set()
            return []

        return answer

    outcomes: dict[int, object] = {}

    async def submit(n: int) -> None:
        try:
            outcomes[n] = (await broker.run_task("python", {"n": n})).result
        except RunnerDisconnected as exc:
            outcomes[n] = exc

    async with (
        fake_runner(broker, hold("a"), runner_id="a") as a,
        fake_runner(broker, hold("b"), runner_id="b") as b,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(submit, 1)
        nursery.start_soon(submit, 2)
        await both_hold_a_task.wait()
        [a_task], [b_task] = held["a"], held["b"]
        await b.send(RunnerTaskDone(a_task.task_id, {"result": "forged"}))
        await b.closed.wait()
        await a.send(RunnerTaskDone(a_task.task_id, {"result": "real"}))
    assert b.ws.closed is not None
    assert (b.ws.closed.code, b.ws.closed.reason) == (
        1008,
        FOREIGN_TASK_REASON.format(type="runner:taskdone"),
    )
    assert a.ws.closed is None or a.ws.closed.code != 1008
    assert outcomes[a_task.settings["n"]] == "real"
    b_outcome = outcomes[b_task.settings["n"]]
    assert isinstance(b_outcome, RunnerDisconnected)
    assert b_outcome.error["name"] == "TaskRunnerDisconnectedError"


async def test_runner_missing_a_heartbeat_is_closed() -> None:
    config = BrokerConfig(port=0, auth_token="s", heartbeat_interval=0.05)
    async with open_broker(config) as broker:
        token = broker.issue_grant_token()
        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        target = ws_url(broker).split(str(broker.port), 1)[1]
        headers = [(b"Authorization", f"Bearer {token}".encode())]
        await stream.send_all(
            client.send(Request(host="127.0.0.1", target=target, extra_headers=headers))
        )
        # Read frames but never answer pings: the broker must close with 1002.
        codes = []
        while not codes:
            data = await stream.receive_some()
            if not data:
                break
            client.receive_data(data)
            codes += [
                e.code for e in client.events() if isinstance(e, wsproto.events.CloseConnection)
            ]
        await stream.aclose()
    assert codes == [1002]


async def test_runner_answering_pings_outlives_many_heartbeats() -> None:
    config = BrokerConfig(port=0, auth_token="s", heartbeat_interval=0.2)
    async with open_broker(config) as broker, fake_runner(broker) as runner:
        await trio.sleep(1.0)  # five heartbeats, each answered by the client's reader
        assert runner.ws.closed is None
        result = await broker.run_task("python", settings("still connected"))
    assert result.result == settings("still connected")


async def test_shutdown_drains_runners_then_closes_with_1001() -> None:
    async with (
        open_broker(BrokerConfig(port=0, auth_token="s")) as broker,
        fake_runner(broker) as runner,
    ):
        await broker.shutdown()
        await runner.closed.wait()
    assert isinstance(runner.received[-1], BrokerDrain)
    assert runner.ws.closed is not None and runner.ws.closed.code == 1001


async def test_network_requester_endpoint(broker: Broker) -> None:
    url = f"{broker.url}/tasks"
    body = {"taskType": "python", "settings": settings("net")}
    async with fake_runner(broker, done_with_settings), httpx.AsyncClient() as http:
        no_token = await http.post(url, json=body)
        wrong = await http.post(url, json=body, headers={"Authorization": "Bearer nope"})
        bad = await http.post(
            url, json={"settings": {}}, headers={"Authorization": "Bearer req-secret"}
        )
        ok = await http.post(url, json=body, headers={"Authorization": "Bearer req-secret"})
    assert (no_token.status_code, wrong.status_code, bad.status_code) == (401, 401, 400)
    assert ok.status_code == 200
    assert ok.json() == {"result": settings("net")}


async def test_network_requester_is_off_without_a_token() -> None:
    async with (
        open_broker(BrokerConfig(port=0, auth_token="s")) as broker,
        httpx.AsyncClient() as h,
    ):
        response = await h.post(f"{broker.url}/tasks", json={})
    assert response.status_code == 404
    assert response.json()["error"]["kind"] == "disabled"


async def test_shutdown_fails_tasks_still_running_at_the_drain_bound() -> None:
    started = trio.Event()

    def hang(msg: BrokerTaskSettings) -> list[Message]:
        started.set()
        return []

    config = BrokerConfig(port=0, auth_token="s", drain_timeout=0.2)
    async with (
        open_broker(config) as broker,
        fake_runner(broker, hang) as runner,
        trio.open_nursery() as nursery,
    ):

        async def submit() -> None:
            with pytest.raises(BrokerDraining):
                await broker.run_task("python", settings())

        nursery.start_soon(submit)
        await started.wait()
        await broker.shutdown()
    cancels = [m for m in runner.received if isinstance(m, BrokerTaskCancel)]
    assert [c.reason for c in cancels] == [
        "Task aborted because this n8n instance is shutting down"
    ]
