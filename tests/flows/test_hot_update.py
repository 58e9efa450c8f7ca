"""Hot update under load: no message lost, doubled or reordered, context kept."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
from runner_flows import PY_FORWARD, chain, module, needs_node

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
    "    if len(held) > 400:\n"
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


async def run_under_updates(runner: FlowRunner, source: str, updates: int) -> list[Any]:
    """Messages sent as fast as the flow takes them while ``updates`` updates run one after
    another, then a flush; what came out, all of it."""
    got: list[Any] = []
    sent = 0
    fed = trio.Event()
    async with runner.output("hot", "out") as out, trio.open_nursery() as nursery:
        updated = trio.Event()

        async def feed() -> None:
            nonlocal sent
            while not updated.is_set():
                await runner.send("hot", "in", sent)
                sent += 1
                if sent % 100 == 0:
                    await trio.lowlevel.checkpoint()
            await runner.send("hot", "in", "flush")
            fed.set()

        async def update() -> None:
            for version in range(1, updates + 1):
                await runner.add_or_update_flow(document(source, version, version))
            updated.set()

        nursery.start_soon(feed)
        nursery.start_soon(update)
        async for message in out:
            if message != "flush":  # the sync and async modules pass it on
                got.append(message)
            if fed.is_set() and len(got) == sent:
                break
    assert got == list(range(sent))
    return got


@pytest.mark.parametrize("source", [SYNC, ASYNC, BUFFER], ids=["sync", "async", "buffer"])
async def test_100_updates_while_messages_flow_lose_double_and_reorder_nothing(
    source: str,
) -> None:
    with trio.fail_after(120):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document(source, 0, 0))
            await runner.start_flow("hot")
            got = await run_under_updates(runner, source, 100)
            assert runner.get_flow("hot").revision == 100
            context = runner.context("hot", "middle")
    assert len(got) > 400  # messages flowed through the updates, past what the buffer holds
    assert context["count"] == len(got) + 1  # and the flush


JS_COUNT = (
    "function handle(message, context, send) {\n"
    "  context.count = (context.count ?? 0) + 1;\n"
    "  send('out', message);\n}\n"
)


@needs_node
async def test_a_module_moved_to_another_runtime_keeps_its_context_and_every_message() -> None:
    python = chain("move", ("middle", module("python", SYNC.format(version=0))))
    node = chain("move", ("middle", module("node", JS_COUNT)))
    node["revision"] = 1
    with trio.fail_after(60):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(python)
            await runner.start_flow("move")
            async with runner.output("move", "out") as out, trio.open_nursery() as nursery:

                async def feed() -> None:
                    for n in range(2000):
                        await runner.send("move", "in", n)
                        if n == 1000:
                            nursery.start_soon(runner.add_or_update_flow, node)

                nursery.start_soon(feed)
                got = [await anext(out) for _ in range(2000)]
            assert got == list(range(2000))
            assert runner.context("move", "middle") == {"count": 2000}
            assert runner.list_flows_for_runtime("node") == ["move"]
            assert runner.list_flows_for_runtime("python") == []
