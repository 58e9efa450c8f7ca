"""Breakpoints and single step through the Runner API, on real runtimes."""

from __future__ import annotations

import trio
from runner_flows import PY_COUNT, PY_DOUBLE, chain, module

from trio_launcher.flows import core
from trio_launcher.flows.runner import FlowRunner, open_flow_runner


def two_modules() -> dict[str, object]:
    return chain(
        "dbg",
        ("double", module("python", PY_DOUBLE)),
        ("count", module("python", PY_COUNT)),
    )


async def paused(
    runner: FlowRunner, events: trio.MemoryReceiveChannel[core.FlowEvent]
) -> core.Paused:
    while True:
        event = await events.receive()
        if isinstance(event, core.Paused):
            return event


async def test_a_breakpoint_holds_messages_and_a_step_runs_exactly_one() -> None:
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(two_modules())
            await runner.start_flow("dbg")
            runner.set_breakpoint("dbg/count", "in")
            async with runner.output("dbg", "out") as out:
                for n in (1, 2, 3):
                    await runner.send("dbg", "in", n)
                event = await paused(runner, events)
                assert (event.module, event.port) == ("count", "in")

                step = await runner.single_step()
                assert step["dbg/count"] == {
                    "inputStates": {"in": [4, 6]},
                    "outputStates": {"out": [2]},
                    "errors": [],
                    "context": {"count": 1},
                }
                assert await anext(out) == 2
                assert runner.context("dbg", "count") == {"count": 1}

                runner.drop_held("dbg/count")
                runner.remove_breakpoint("dbg/count")
                assert await anext(out) == 6
            assert runner.context("dbg", "count") == {"count": 2}


async def test_pausing_one_module_leaves_the_others_running() -> None:
    flow = two_modules()
    flow["processes"]["other"] = module("python", PY_DOUBLE)
    flow["inports"]["other_in"] = {"process": "other", "port": "in"}
    flow["outports"]["other_out"] = {"process": "other", "port": "out"}
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(flow)
            await runner.start_flow("dbg")
            runner.set_breakpoint("dbg/count")
            await runner.send("dbg", "in", 1)
            await paused(runner, events)
            async with runner.output("dbg", "other_out") as other:
                for n in range(100):
                    await runner.send("dbg", "other_in", n)
                assert [await anext(other) for _ in range(100)] == [2 * n for n in range(100)]
            assert runner.module_states("dbg")["count"] is core.ModuleState.PAUSED


async def test_pausing_the_flow_holds_every_module() -> None:
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(two_modules())
            await runner.start_flow("dbg")
            runner.set_breakpoint("dbg/count", pause="flow")
            await runner.send("dbg", "in", 1)
            await paused(runner, events)
            await runner.send("dbg", "in", 2)
            states = runner.module_states("dbg")
            assert set(states.values()) == {core.ModuleState.PAUSED}
            step = await runner.single_step()
            assert step["dbg/double"]["outputStates"] == {"out": [4]}
            assert step["dbg/count"]["outputStates"] == {"out": [2]}
            assert step["dbg/count"]["inputStates"] == {"in": [4]}
