"""The Runner API against the shipped runtimes: flows end to end, errors, crashes, timeouts."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
import trio.testing
from runner_flows import JS_ADD_ONE, PY_COUNT, PY_DOUBLE, PY_FORWARD, chain, module, needs_node

from trio_launcher.flows import core
from trio_launcher.flows.config import FlowRunnerConfig
from trio_launcher.flows.errors import FlowNotFound, InvalidFlow
from trio_launcher.flows.runner import FlowRunner, open_flow_runner


async def collect(runner: FlowRunner, flow: str, messages: list[Any], expected: int) -> list[Any]:
    """Send ``messages`` into ``in`` and read ``expected`` messages from ``out``."""
    got: list[Any] = []
    async with runner.output(flow, "out") as out, trio.open_nursery() as nursery:

        async def feed() -> None:
            for message in messages:
                await runner.send(flow, "in", message)

        nursery.start_soon(feed)
        async for message in out:
            got.append(message)
            if len(got) == expected:
                break
    return got


@needs_node
async def test_a_flow_across_python_and_node_runs_end_to_end() -> None:
    document = chain(
        "mixed",
        ("double", module("python", PY_DOUBLE)),
        ("add", module("node", JS_ADD_ONE)),
        ("count", module("python", PY_COUNT)),
    )
    with trio.fail_after(30):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("mixed")
            got = await collect(runner, "mixed", list(range(500)), 500)
            assert got == [2 * n + 1 for n in range(500)]
            assert runner.context("mixed", "count") == {"count": 500}
            assert sorted(runner.list_flows_for_runtime("node")) == ["mixed"]
            assert await runner.stop_flow("mixed") == 0


async def test_modules_of_one_runtime_pass_messages_inside_it_in_order() -> None:
    document = chain(
        "local",
        ("a", module("python", PY_DOUBLE)),
        ("b", module("python", PY_FORWARD)),
        ("c", module("python", PY_COUNT)),
    )
    with trio.fail_after(30):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("local")
            got = await collect(runner, "local", list(range(2000)), 2000)
            assert got == [2 * n for n in range(2000)]
            assert runner.context("local", "c") == {"count": 2000}
            routes = runner.edge_routes("local")
            assert set(routes.values()) == {"local"}


async def test_a_document_with_problems_is_refused_with_every_one() -> None:
    document = chain(
        "bad",
        ("a", module("python", "def handle(message, context, send):\n    send('out',\n")),
        ("b", module("cobol", PY_FORWARD)),
    )
    document["connections"].append(
        {"src": {"process": "a", "port": "nope"}, "tgt": {"process": "b", "port": "in"}}
    )
    async with open_flow_runner() as runner:
        with pytest.raises(InvalidFlow) as refused:
            await runner.add_or_update_flow(document)
        paths = {problem.path for problem in refused.value.problems}
        assert "processes.b.metadata.runtime" in paths
        assert any(p.startswith("connections[1].src.port") for p in paths)
        assert runner.list_flows() == []


async def test_source_that_does_not_compile_is_refused_with_its_line() -> None:
    document = chain("bad", ("a", module("python", "def handle(m, c, s):\n    x = (\n")))
    async with open_flow_runner() as runner:
        with trio.fail_after(20), pytest.raises(InvalidFlow) as refused:
            await runner.add_or_update_flow(document)
        (problem,) = refused.value.problems
        assert problem.module == "a"
        assert problem.path == "processes.a.metadata.source"
        assert "(line 2)" in problem.message
        assert runner.list_flows() == []


CRASHER = (
    "import os\n"
    "def handle(message, context, send):\n"
    "    context['seen'] = context.get('seen', 0) + 1\n"
    "    if message == 'crash':\n"
    "        os._exit(3)\n"
    "    send('out', message)\n"
)


async def test_a_runtime_that_crashes_is_restarted_and_loses_only_the_message_it_ran() -> None:
    document = chain("crashy", ("a", module("python", CRASHER)))
    messages: list[Any] = [*range(50), "crash", *range(50, 100)]
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(document)
            await runner.start_flow("crashy")
            got = await collect(runner, "crashy", messages, 100)
            assert got == list(range(100))
            failures = []
            while not failures:
                event = await events.receive()
                if isinstance(event, core.InvocationFailed):
                    failures.append(event)
            assert failures[0].module == "a"
            assert "died while running it" in failures[0].message
            # the 100 that ran; what the crashing one set died with it
            assert runner.context("crashy", "a")["seen"] == 100


LOOPER = (
    "def handle(message, context, send):\n"
    "    while message == 'loop':\n"
    "        pass\n"
    "    send('out', message)\n"
)


async def test_an_invocation_past_its_timeout_is_stopped_and_reported() -> None:
    document = chain("loops", ("a", module("python", LOOPER, timeout=0.5)))
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(document)
            await runner.start_flow("loops")
            got = await collect(runner, "loops", [1, "loop", 2, 3], 3)
            assert got == [1, 2, 3]
            event = await events.receive()
            while not isinstance(event, core.InvocationFailed):
                event = await events.receive()
            assert "timeout of 0.5 s" in event.message


FAILER = (
    "def handle(message, context, send):\n"
    "    if message % 2:\n"
    "        raise ValueError(f'odd {message}')\n"
    "    send('out', message)\n"
)
CATCHER = "def handle(message, context, send):\n    send('out', message['message'])\n"


async def test_an_error_goes_to_the_error_port_when_it_is_wired() -> None:
    document = chain("errs", ("a", module("python", FAILER)))
    document["processes"]["catch"] = module("python", CATCHER)
    document["connections"].append(
        {"src": {"process": "a", "port": "error"}, "tgt": {"process": "catch", "port": "in"}}
    )
    document["outports"]["caught"] = {"process": "catch", "port": "out"}
    with trio.fail_after(30):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("errs")
            async with runner.output("errs", "caught") as caught:
                got = await collect(runner, "errs", list(range(10)), 5)
                assert got == [0, 2, 4, 6, 8]
                errors = [await anext(caught) for _ in range(5)]
            assert errors == [f"ValueError: odd {n}" for n in (1, 3, 5, 7, 9)]


SLOW = (
    "import time\n"
    "def handle(message, context, send):\n"
    "    time.sleep(0.002)\n"
    "    send('out', message)\n"
)


@needs_node
async def test_a_full_edge_stops_its_producer_and_the_sender() -> None:
    document = chain(
        "slow",
        ("fast", module("python", PY_FORWARD)),
        (
            "slow",
            module(
                "node",
                "function handle(m, c, send) {\n"
                "  const end = Date.now() + 2; while (Date.now() < end) {}\n"
                "  send('out', m);\n}\n",
            ),
        ),
        maxMessages=20,
    )
    most = 0
    with trio.fail_after(60):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("slow")
            async with runner.output("slow", "out") as out, trio.open_nursery() as nursery:

                async def feed() -> None:
                    for n in range(500):
                        await runner.send("slow", "in", n)

                nursery.start_soon(feed)
                got = []
                async for message in out:
                    got.append(message)
                    counts = runner.edge_counts("slow")
                    most = max(most, counts[("fast", "out", "slow", "in")])
                    if len(got) == 500:
                        break
    assert got == list(range(500))
    assert most <= 20 + 64  # the bound, plus what the producer had in flight


async def test_unknown_flows_are_named_in_the_error() -> None:
    async with open_flow_runner() as runner:
        with pytest.raises(FlowNotFound, match="nope"):
            await runner.start_flow("nope")
        with pytest.raises(FlowNotFound):
            await runner.send("nope", "in", 1)


async def test_no_runtime_runs_while_no_flow_needs_one() -> None:
    document = chain("idle", ("a", module("python", PY_FORWARD)))
    with trio.fail_after(20):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("idle")
            (python,) = [r for r in runner.list_runtimes() if r.id == "python"]
            assert python.state == "up" and python.pid is not None
            await runner.stop_flow("idle")
            await runner.wait_runtime_state("python", "down")
            with pytest.raises(ProcessLookupError):
                os.kill(python.pid, 0)


async def test_changes_of_one_flow_made_at_once_apply_one_after_the_other() -> None:
    first = chain("twice", ("double", module("python", PY_DOUBLE)))
    second = {**chain("twice", ("double", module("python", PY_FORWARD))), "revision": 1}
    with trio.fail_after(30):
        async with open_flow_runner() as runner:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(runner.add_or_update_flow, first)
                await trio.testing.wait_all_tasks_blocked()  # the first waits for its check
                nursery.start_soon(runner.add_or_update_flow, second)
            assert runner.get_flow("twice").revision == 1
            await runner.start_flow("twice")
            async with runner.output("twice", "out") as out:
                await runner.send("twice", "in", 21)
                assert await anext(out) == 21  # the second, in call order


async def test_a_runtime_stopped_on_purpose_starts_again_at_once_when_needed() -> None:
    # a backoff of an hour would hold the second start past the guard: a stop is no crash
    config = FlowRunnerConfig(restart_initial=3600, restart_maximum=3600)
    flow = chain("again", ("double", module("python", PY_DOUBLE)))
    with trio.fail_after(30):
        async with open_flow_runner(config) as runner:
            await runner.add_or_update_flow(flow)
            for _ in range(3):
                await runner.start_flow("again")
                async with runner.output("again", "out") as out:
                    await runner.send("again", "in", 21)
                    assert await anext(out) == 42
                await runner.stop_flow("again")


async def test_a_runtime_that_cannot_start_fails_the_start_with_the_reason() -> None:
    config = FlowRunnerConfig(runtimes={"python": ("/nonexistent/python",)})
    document = chain("nostart", ("a", module("python", PY_FORWARD)))
    with trio.fail_after(20):
        async with open_flow_runner(config) as runner:
            with pytest.raises(InvalidFlow) as refused:
                await runner.add_or_update_flow(document)
            (problem,) = refused.value.problems
            assert "cannot start" in problem.message
            assert "/nonexistent/python" in problem.message


SLEEPY = (
    "import time\n"
    "def handle(message, context, send):\n"
    "    time.sleep(0.02)\n"
    "    send('out', message)\n"
)


@pytest.mark.parametrize("runtime", ["python", pytest.param("node", marks=needs_node)])
async def test_a_slow_module_within_its_timeout_is_never_stopped(runtime: str) -> None:
    # 60 invocations are sent at once and take 1.2 s together: each must be seen to
    # end as it ends, or the last would look 1.2 s old against a 0.3 s timeout
    source = (
        SLEEPY
        if runtime == "python"
        else (
            "function handle(message, context, send) {\n"
            "  const end = Date.now() + 20; while (Date.now() < end) {}\n"
            "  send('out', message);\n}\n"
        )
    )
    document = chain("slowly", ("a", module(runtime, source, timeout=0.3)))
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(document)
            await runner.start_flow("slowly")
            got = await collect(runner, "slowly", list(range(60)), 60)
            assert got == list(range(60))
            failures = []
            while True:
                try:
                    failures.append(events.receive_nowait())
                except trio.WouldBlock:
                    break
            stopped = (core.InvocationFailed, core.RuntimeLost)
            assert not [e for e in failures if isinstance(e, stopped)]


async def test_a_reader_that_falls_behind_slows_the_flow_and_loses_nothing() -> None:
    document = chain("late", ("a", module("python", PY_FORWARD)))
    sent = 0
    with trio.fail_after(60):
        async with open_flow_runner() as runner:
            await runner.add_or_update_flow(document)
            await runner.start_flow("late")
            async with runner.output("late", "out") as out, trio.open_nursery() as nursery:

                async def feed() -> None:
                    nonlocal sent
                    for n in range(12_000):
                        await runner.send("late", "in", n)
                        sent += 1

                nursery.start_soon(feed)
                first = await anext(out)  # the flow runs; then nobody reads for a while
                for _ in range(20):
                    await trio.testing.wait_all_tasks_blocked()
                assert sent < 12_000  # the port's bound held the sender back
                got = [first, *[await anext(out) for _ in range(11_999)]]
    assert got == list(range(12_000))


PRINTS = {
    "python": (
        "import sys\n"
        "def handle(message, context, send):\n"
        "    print('got', message)\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    send('out', message)\n"
    ),
    "node": (
        "function handle(message, context, send) {\n"
        "  console.log('got', message);\n"
        "  console.warn('careful: %d', message);\n"
        "  send('out', message);\n}\n"
    ),
}
PRINTED = {
    "python": [("info", "got 7")],
    "node": [("info", "got 7"), ("warning", "careful: 7")],
}


@pytest.mark.parametrize("runtime", ["python", pytest.param("node", marks=needs_node)])
async def test_what_a_module_prints_is_a_log_event_of_that_module(runtime: str) -> None:
    document = chain("talky", ("say", module(runtime, PRINTS[runtime])))
    with trio.fail_after(30):
        async with open_flow_runner() as runner, runner.events() as events:
            await runner.add_or_update_flow(document)
            await runner.start_flow("talky")
            assert await collect(runner, "talky", [7], 1) == [7]
            logged: list[core.ModuleLog] = []
            while len(logged) < len(PRINTED[runtime]):
                event = await events.receive()
                if isinstance(event, core.ModuleLog):
                    logged.append(event)
    assert {(e.flow, e.module) for e in logged} == {("talky", "say")}
    assert [(e.level, e.message) for e in logged] == PRINTED[runtime]
