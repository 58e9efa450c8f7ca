"""Runner machine, launcher handshake and broker core wired together in memory.

Every message crosses :func:`encode` / :func:`decode`, as it would on the
wire, and time only moves when a test moves it.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from random import Random
from typing import Any

from trio_launcher.protocol import (
    BrokerRequestExpired,
    BrokerRpc,
    BrokerTaskDone,
    BrokerTaskError,
    BrokerTaskReady,
    Message,
    RequesterRpcResponse,
    RequesterTaskCancel,
    RequesterTaskRequest,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerTaskOffer,
    decode,
    encode,
    reasons,
)
from trio_launcher.protocol.broker import (
    EVICTED_REASON,
    BrokerCore,
    BrokerTimeouts,
    CloseRunner,
    DisconnectCause,
    Output,
    SendToRequester,
    SendToRunner,
)
from trio_launcher.protocol.handshake import LauncherHandshake
from trio_launcher.protocol.runner import (
    CONNECTION_CLOSED,
    CancelTask,
    DrainRequested,
    Event,
    Registered,
    RpcAnswered,
    RunnerConnection,
    StartTask,
    TaskAccepted,
    TaskDropped,
)

REQ = "local-task-requester"


def wire(message: Any) -> Message:
    """The message as the other side reads it."""
    return decode(encode(message))


class Net:
    """One broker core, its runners and launchers, and one requester."""

    def __init__(self, **timeouts: Any) -> None:
        ids = (f"t{n}" for n in itertools.count())
        self.core = BrokerCore(BrokerTimeouts(**timeouts), new_task_id=lambda: next(ids))
        self.now = 0.0
        self.runners: dict[int, RunnerConnection] = {}
        self.launchers: dict[int, LauncherHandshake] = {}
        self.events: dict[int, list[Event]] = {}
        self.inbox: list[Message] = []  # what the requester received
        self.settings: dict[str, Any] = {}  # request id -> settings to send on taskready
        self.closed: list[CloseRunner] = []
        self._offer_ids = (f"o{n}" for n in itertools.count())

    # --- peers joining ---------------------------------------------------------------

    def add_runner(self, conn: int, *, runner_id: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "Python Task Runner")
        kwargs.setdefault("task_types", ["python"])
        kwargs.setdefault("max_concurrency", 1)
        runner = RunnerConnection(
            new_offer_id=lambda: next(self._offer_ids), random=Random(conn), **kwargs
        )
        self.runners[conn] = runner
        self.events[conn] = []
        self.deliver(self.core.connect_runner(conn, runner_id or f"runner-{conn}", self.now))
        self.pump()

    def add_launcher(self, conn: int, task_type: str = "python") -> LauncherHandshake:
        launcher = LauncherHandshake(task_type, offer_id=f"launcher-{conn}")
        self.launchers[conn] = launcher
        self.deliver(self.core.connect_runner(conn, f"launcher-{conn}", self.now))
        return launcher

    def add_silent_runner(self, conn: int) -> None:
        """A registered runner with one open offer that never answers anything."""
        self.core.connect_runner(conn, f"silent-{conn}", self.now)
        self.core.receive_from_runner(conn, RunnerInfo("silent", ("python",)), self.now)
        offer = RunnerTaskOffer(f"silent-{conn}", "python", -1)
        self.deliver(self.core.receive_from_runner(conn, offer, self.now))

    # --- moving messages -----------------------------------------------------------------

    def deliver(self, outputs: Iterable[Output]) -> None:
        """Carry out the core's outputs, and everything they cause, until all is quiet."""
        queue = deque(outputs)
        while queue:
            output = queue.popleft()
            if isinstance(output, SendToRunner):
                queue.extend(self._to_runner(output.connection, wire(output.message)))
            elif isinstance(output, SendToRequester):
                queue.extend(self._to_requester(wire(output.message)))
            else:
                self.closed.append(output)
                if output.connection in self.runners:
                    step = self.runners.pop(output.connection).connection_closed()
                    self.events[output.connection].extend(step.events)

    def _to_runner(self, conn: int, message: Message) -> list[Output]:
        if conn in self.launchers:
            launcher = self.launchers[conn]
            out = self._from_runner(conn, launcher.receive(message))
            if launcher.done:  # the launcher hangs up and starts the real runner
                del self.launchers[conn]
                out += self.core.disconnect_runner(conn, self.now)
            return out
        if conn not in self.runners:
            return []  # a silent runner
        step = self.runners[conn].receive(message, self.now)
        self.events[conn].extend(step.events)
        return self._from_runner(conn, step.to_send)

    def _from_runner(self, conn: int, messages: Iterable[Any]) -> list[Output]:
        out: list[Output] = []
        for message in messages:
            out += self.core.receive_from_runner(conn, wire(message), self.now)
        return out

    def _to_requester(self, message: Message) -> list[Output]:
        self.inbox.append(message)
        if isinstance(message, BrokerTaskReady) and message.request_id in self.settings:
            settings = RequesterTaskSettings(message.task_id, self.settings[message.request_id])
            return self.core.receive_from_requester(REQ, wire(settings), self.now)
        return []

    def pump(self) -> None:
        """Let every runner send the offers due and release overdue tasks."""
        for conn, runner in list(self.runners.items()):
            step = runner.expire_waiting(self.now)
            self.events[conn].extend(step.events)
            self.deliver(self._from_runner(conn, [*step.to_send, *runner.offers_due(self.now)]))

    # --- the requester and the runners' applications ------------------------------------------

    def request(self, request_id: str, settings: Any = None, *, send_settings: bool = True) -> None:
        if send_settings:
            self.settings[request_id] = settings if settings is not None else {"code": request_id}
        message = wire(RequesterTaskRequest(request_id, "python"))
        self.deliver(self.core.receive_from_requester(REQ, message, self.now))

    def requester_sends(self, message: Any) -> None:
        self.deliver(self.core.receive_from_requester(REQ, wire(message), self.now))

    def finish(self, conn: int, task_id: str, result: Any) -> None:
        messages = self.runners[conn].task_done(task_id, {"result": result})
        self.deliver(self._from_runner(conn, messages))
        self.pump()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.deliver(self.core.advance_time(self.now))
        self.pump()

    def started(self, conn: int) -> list[StartTask]:
        return [e for e in self.events[conn] if isinstance(e, StartTask)]


def test_normal_flow() -> None:
    net = Net()
    net.add_runner(1, max_concurrency=2)
    assert net.events[1] == [Registered()]
    assert net.core.statistics().offers == 2
    net.request("r1", {"code": "return 1"})
    [start] = net.started(1)
    assert start.settings == {"code": "return 1"}
    assert net.inbox == [BrokerTaskReady("r1", start.task_id)]
    assert net.events[1][1] == TaskAccepted(start.task_id)
    net.finish(1, start.task_id, [{"json": {"a": 1}}])
    assert net.inbox[-1] == BrokerTaskDone(start.task_id, {"result": [{"json": {"a": 1}}]})
    stats = net.core.statistics()
    assert (stats.offers, stats.tasks_in_flight, stats.tasks_done) == (2, 0, 1)


def test_many_tasks_share_the_runners() -> None:
    net = Net()
    for conn in (1, 2, 3):
        net.add_runner(conn, max_concurrency=2)
    for n in range(6):
        net.request(f"r{n}")
    assert net.core.statistics().tasks_in_flight == 6
    net.request("r6")
    assert net.core.statistics().pending_requests == 1  # every slot is taken
    for conn in (1, 2, 3):
        for start in net.started(conn):
            net.finish(conn, start.task_id, start.settings["code"])
    done = [m for m in net.inbox if isinstance(m, BrokerTaskDone)]
    assert len(done) == 6
    assert net.core.statistics().tasks_in_flight == 1  # r6 got a freed slot


def test_runner_offers_are_refreshed_as_they_expire() -> None:
    net = Net()
    net.add_runner(1, max_concurrency=3, offer_validity=5.0, offer_jitter=0.5)
    for _ in range(10):
        net.advance(2.0)
        assert net.core.statistics().offers == net.runners[1].open_offers == 3
    net.request("r1")
    assert len(net.started(1)) == 1


def test_launcher_defers_then_the_real_runner_takes_the_task() -> None:
    net = Net(request=60.0)
    launcher = net.add_launcher(9)
    assert net.core.statistics().offers == 1  # the launcher's never-expiring offer
    net.advance(30.0)
    net.request("r1")
    assert launcher.done and launcher.task_id == "t0"
    assert net.core.runner_state(9) is None  # it hung up
    stats = net.core.statistics()
    assert (stats.pending_requests, stats.offers, stats.runners) == (1, 0, 0)
    net.advance(1.5)  # the launcher starts the runner
    net.add_runner(1)
    [start] = net.started(1)
    assert start.task_id == "t1"  # a new task id, not the deferred one
    net.finish(1, start.task_id, "ok")
    assert net.inbox == [BrokerTaskReady("r1", "t1"), BrokerTaskDone("t1", {"result": "ok"})]


def test_launcher_deferral_refreshes_the_request_timeout() -> None:
    net = Net(request=10.0)
    net.request("r1")
    net.advance(8.0)
    net.add_launcher(9)  # defers at t=8: the request may now wait until t=18
    net.advance(9.0)
    assert net.inbox == []
    net.advance(1.0)
    assert net.inbox == [BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT)]


def test_cancel_a_running_task() -> None:
    net = Net()
    net.add_runner(1)
    net.request("r1")
    [start] = net.started(1)
    net.requester_sends(RequesterTaskCancel(start.task_id, reasons.CANCELLED_BY_USER))
    assert net.events[1][-1] == CancelTask(start.task_id, reasons.CANCELLED_BY_USER)
    net.finish(1, start.task_id, "too late")  # the runner sends nothing for it
    assert net.inbox == [BrokerTaskReady("r1", start.task_id)]
    assert net.core.statistics().offers == 1


def test_task_timeout() -> None:
    net = Net(task=30.0)
    net.add_runner(1)
    net.request("r1")
    [start] = net.started(1)
    net.advance(29.9)
    assert not any(isinstance(e, CancelTask) for e in net.events[1])
    net.advance(0.1)
    assert net.events[1][-1] == CancelTask(start.task_id, reasons.TASK_TIMED_OUT)
    error = net.inbox[-1]
    assert isinstance(error, BrokerTaskError)
    assert error.error["message"] == "Task execution timed out after 30 seconds"
    net.finish(1, start.task_id, "late")
    assert net.inbox[-1] == error


def test_request_timeout_without_runners() -> None:
    net = Net(request=60.0)
    net.request("r1")
    net.advance(59.0)
    assert net.inbox == []
    net.advance(1.0)
    assert net.inbox == [BrokerRequestExpired("r1", reasons.EXPIRED_TIMEOUT)]


def test_requester_too_slow_releases_the_runner() -> None:
    net = Net(accept=2.0)
    net.add_runner(1)
    net.request("r1", send_settings=False)
    [ready] = net.inbox
    assert isinstance(ready, BrokerTaskReady)
    net.advance(2.0)
    assert TaskDropped(ready.task_id, reasons.REQUESTER_TOO_SLOW) in net.events[1]
    error = net.inbox[-1]
    assert isinstance(error, BrokerTaskError)
    assert error.error["message"] == reasons.REQUESTER_TOO_SLOW
    assert net.runners[1].is_idle
    assert net.core.statistics().offers == 1  # the slot is offered again


def test_accept_timeout_moves_the_task_to_a_live_runner() -> None:
    net = Net(accept=2.0)
    net.add_silent_runner(5)
    net.request("r1")
    net.add_runner(1)  # its offer waits: the request is out to the silent runner
    assert net.started(1) == []
    net.advance(2.0)
    [start] = net.started(1)
    assert start.settings == {"code": "r1"}


def test_disconnect_fails_the_runners_tasks() -> None:
    net = Net()
    net.add_runner(1)
    net.request("r1")
    [start] = net.started(1)
    net.deliver(net.core.disconnect_runner(1, net.now, cause=DisconnectCause.HEARTBEAT))
    error = net.inbox[-1]
    assert isinstance(error, BrokerTaskError) and error.task_id == start.task_id
    assert error.error["message"] == "Task execution aborted because runner became unresponsive"
    step = net.runners.pop(1).connection_closed()
    assert step.events == (CancelTask(start.task_id, CONNECTION_CLOSED),)
    assert net.core.statistics().runners == 0


def test_reconnect_under_the_same_id_evicts_the_old_connection() -> None:
    net = Net()
    net.add_runner(1, runner_id="r")
    net.request("r1")
    [start] = net.started(1)
    net.add_runner(2, runner_id="r")
    assert net.closed == [CloseRunner(1, 1000, EVICTED_REASON)]
    assert CancelTask(start.task_id, CONNECTION_CLOSED) in net.events[1]
    error = net.inbox[-1]
    assert isinstance(error, BrokerTaskError) and error.task_id == start.task_id
    net.request("r2")
    assert len(net.started(2)) == 1


def test_drain() -> None:
    net = Net()
    net.add_runner(1)
    net.add_runner(2)
    net.request("running")
    [start] = net.started(1) or net.started(2)
    busy = 1 if net.started(1) else 2
    net.deliver(net.core.drain(net.now))
    for conn in (1, 2):
        assert net.events[conn][-1] == DrainRequested()
        assert net.runners[conn].open_offers == 0
    net.pump()
    assert net.core.statistics().offers == 0  # drained runners offer no more
    net.request("late")
    net.finish(busy, start.task_id, "finished anyway")
    assert net.inbox[-2:] == [
        BrokerRequestExpired("late", reasons.EXPIRED_DRAINING),
        BrokerTaskDone(start.task_id, {"result": "finished anyway"}),
    ]


def test_rpc_round_trip() -> None:
    net = Net()
    net.add_runner(1)
    net.request("r1")
    [start] = net.started(1)
    call = net.runners[1].rpc(start.task_id, "logNodeOutput", ["'hello'"])
    net.deliver(net.core.receive_from_runner(1, wire(call), net.now))
    assert net.inbox[-1] == BrokerRpc(call.call_id, start.task_id, "logNodeOutput", ["'hello'"])
    net.requester_sends(RequesterRpcResponse(start.task_id, call.call_id, "success"))
    answered = net.events[1][-1]
    assert isinstance(answered, RpcAnswered)
    assert (answered.task_id, answered.call_id, answered.status) == (
        start.task_id,
        call.call_id,
        "success",
    )
