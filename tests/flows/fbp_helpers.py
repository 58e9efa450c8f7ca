"""An FBP endpoint on a real runner for the tests, and a client's ways to wait for messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_launcher.flows.config import FlowRunnerConfig, shipped_runtimes
from trio_launcher.flows.fbp import serve_fbp
from trio_launcher.flows.fbp.client import FbpClient, open_fbp_client
from trio_launcher.flows.runner import FlowRunner, open_flow_runner

#: A module that doubles what it gets.
PY_DOUBLE = "def handle(message, context, send):\n    send('out', message * 2)\n"


def python_only() -> FlowRunnerConfig:
    """A runner with the Python runtime only."""
    return FlowRunnerConfig(runtimes={"python": shipped_runtimes()["python"]})


@asynccontextmanager
async def endpoint(
    *, secret: str | None = None, config: FlowRunnerConfig | None = None
) -> AsyncIterator[tuple[FlowRunner, str]]:
    """A runner and its FBP endpoint on a free port: the runner and the endpoint's URL."""
    async with open_flow_runner(config or python_only()) as runner, trio.open_nursery() as nursery:
        served = await nursery.start(serve_fbp, runner, "127.0.0.1", 0, secret)
        yield runner, served.url
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def client_of(url: str, secret: str | None = None) -> AsyncIterator[FbpClient]:
    """A client of the endpoint at ``url``."""
    async with open_fbp_client(url, secret=secret) as client:
        yield client


async def next_of(client: FbpClient, protocol: str, command: str) -> dict[str, Any]:
    """The payload of the next message ``protocol:command``, skipping others."""
    while True:
        message = await client.next_message()
        if (message["protocol"], message["command"]) == (protocol, command):
            payload: dict[str, Any] = message["payload"]
            return payload


def double_flow(flow_id: str = "double") -> dict[str, Any]:
    """in -> double -> out, in Python."""
    return {
        "id": flow_id,
        "processes": {
            "double": {"component": "Double", "metadata": {"source": PY_DOUBLE}},
        },
        "connections": [],
        "inports": {"numbers": {"process": "double", "port": "in"}},
        "outports": {"doubled": {"process": "double", "port": "out"}},
    }
