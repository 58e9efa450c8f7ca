"""A scripted fake runner speaking the protocol over a real WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from trio_launcher.broker import Broker
from trio_launcher.protocol import (
    BrokerInfoRequest,
    BrokerRunnerRegistered,
    BrokerTaskOfferAccept,
    BrokerTaskSettings,
    Message,
    RunnerInfo,
    RunnerTaskAccepted,
    RunnerTaskDone,
    RunnerTaskOffer,
    decode,
    encode,
)

Answer = Callable[[BrokerTaskSettings], list[Message]]


def done_with_settings(msg: BrokerTaskSettings) -> list[Message]:
    """Answer every task with its own settings as the result."""
    return [RunnerTaskDone(msg.task_id, {"result": msg.settings})]


class FakeRunner:
    """Registers, keeps one offer open and answers tasks with ``answer``."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, answer: Answer) -> None:
        self.ws = ws
        self.answer = answer
        self.received: list[Message] = []
        self.registered = trio.Event()
        self.closed = trio.Event()
        self.offers = 0

    async def send(self, message: Message) -> None:
        await self.ws.send_message(encode(message))

    async def run(self) -> None:
        try:
            while True:
                message = decode(await self.ws.get_message())
                self.received.append(message)
                for reply in self._replies(message):
                    await self.send(reply)
        except trio_websocket.ConnectionClosed:
            self.closed.set()

    def _replies(self, message: Message) -> list[Message]:
        if isinstance(message, BrokerInfoRequest):
            return [RunnerInfo("fake runner", ("python",))]
        if isinstance(message, BrokerRunnerRegistered):
            self.registered.set()
            return [self._offer()]
        if isinstance(message, BrokerTaskOfferAccept):
            return [RunnerTaskAccepted(message.task_id), self._offer()]
        if isinstance(message, BrokerTaskSettings):
            return self.answer(message)
        return []

    def _offer(self) -> RunnerTaskOffer:
        self.offers += 1
        return RunnerTaskOffer(f"offer-{self.offers}", "python", 60_000)


def ws_url(broker: Broker, runner_id: str = "fake-1") -> str:
    return broker.url.replace("http://", "ws://") + f"/runners/_ws?id={runner_id}"


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {token}".encode())]


@asynccontextmanager
async def fake_runner(
    broker: Broker, answer: Answer = done_with_settings, runner_id: str = "fake-1"
) -> AsyncIterator[FakeRunner]:
    """A registered fake runner, for the duration of the block."""
    token = broker.issue_grant_token()
    async with (
        trio_websocket.open_websocket_url(
            ws_url(broker, runner_id), extra_headers=bearer(token)
        ) as ws,
        trio.open_nursery() as nursery,
    ):
        runner = FakeRunner(ws, answer)
        nursery.start_soon(runner.run)
        await runner.registered.wait()
        yield runner
        nursery.cancel_scope.cancel()


def settings(code: str = "return _items") -> dict[str, Any]:
    return {"code": code, "nodeMode": "runOnceForAllItems", "items": []}
