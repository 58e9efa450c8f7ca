"""Hot update under load: no message lost, doubled or reordered, context kept."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
from runner_flows import PY_FORWARD, chain, module

from trio_launcher.flows.runner import FlowRunner, open_flow_runner

SYNC = (
    "# version {version}\n"
    "def handle(message, context, send):\n"
    "    context['count'] = context.get('count', 0) + 1\n"
    "    send('out', message)\n"
)
ASYNC = (
    "# version {version}\n"
    "import asyncio\n"
    "async def handle(message, context, send):\n"
    "    await asyncio.sleep(0.02)\n"
    "    context['count'] = context.get('count', 0) + 1\n"
    "    send('out', message)\n"
)
BUFFER = (
    "# version {version}\n"
    "def handle(message, context, send):\n"
    "    held = list(context.get('held', []))\n"
    "    context['count'] = context.get('count', 0) + 1\n"
    "    if message == 'flush':\n"
    "        for each in held:\n"
    "            send('out', each)\n"
    "        context['held'] = []\n"
    "        return\n"
    "    held.append(message)\n"
    "    if len(held) > 40:\n"
    "        send('out', held.pop(0))\n"
    "    context['held'] = held\n"
)


def document(source: str, version: int, revision: int) -> dict[str, Any]:
    flow = chain(
        "hot",
        ("source", module("python", PY_FORWARD)),
        ("middle", module("python", source.format(version=version))),
        ("sink", module("python", PY_FORWARD)),
    )
    flow["revision"] = revision
    return flow


async def run_under_updates(
    runner: FlowRunner, source: str, messages: int, updates: int
) -> list[Any]:
    got: list[Any] = []
    async with runner.output("hot", "out") as out, trio.open_nursery() as nursery:

        async def feed() -> None:
            for n in range(messages):
                await runner.send("hot", "in", n)
                if n % 100 == 0:
                    await trio.lowlevel.checkpoint()
            await runner.send("hot", "in", "flush")

        async def update() -> None:
            for version in range(1, updates + 1):
                await runner.add_or_update_flow(document(source, version, version))

        nursery.start_soon(feed)
        nursery.start_soon(update)
        async for message in out:
            got.append(message)
            if len(got) == messages:
                break
    return got


@pytest.mark.parametrize("source", [SYNC, ASYNC, BUFFER], ids=["sync", "async", "buffer"])
async def test_updates_while_messages_flow_lose_double_and_reorder_nothing(source: str) -> None:
    messages, updates = 3000, 20
    with trio.fail_after(120):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document(source, 0, 0))
            await runner.start_flow("hot")
            got = await run_under_updates(runner, source, messages, updates)
            assert runner.get_flow("hot").revision == updates
            context = runner.context("hot", "middle")
    assert got == list(range(messages))
    assert context["count"] == messages + 1  # and the flush
