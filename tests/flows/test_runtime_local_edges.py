"""Local edges in the shipped runtimes: wire, deliveries within one invocation, fences, unload."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_helpers import (
    invoke,
    load,
    receive_dones,
    receive_until,
    started_runtime,
    summary,
    wire,
)
from runtime_languages import Language, in_language

from trio_launcher.flows.wire import Frame

#: Sends {"nested": {"x": 1}} on "out".
SOURCE = {
    "python": 'def handle(message, context, send):\n    send("out", {"nested": {"x": 1}})\n',
    "node": 'function handle(message, context, send) {\n  send("out", { nested: { x: 1 } });\n}\n',
}
#: Changes what it gets, in place, then sends it.
MUTATE = {
    "python": 'def handle(message, context, send):\n    message["nested"]["x"] = 2\n'
    '    send("out", message)\n',
    "node": "function handle(message, context, send) {\n  message.nested.x = 2;\n"
    '  send("out", message);\n}\n',
}
#: Sends what it gets.
PLAIN = {
    "python": 'def handle(message, context, send):\n    send("out", message)\n',
    "node": 'function handle(message, context, send) {\n  send("out", message);\n}\n',
}


async def test_a_local_edge_delivers_within_the_invocation_after_the_sender_returns(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)})
        invoke(runtime, "echo", "1", "abc")
        frames = (await receive_until(runtime, "done"))[2:]
    assert [summary(frame) for frame in frames] == [
        ("wired", "echo", {"fence": None}),
        ("emit", "1", "echo", "count", 3),
        ("ctx.set", "counter", {"key": "count", "value": 1}),
        ("emit", "1", "counter", "out", 1),
        ("done", "1", None),
    ]


async def test_runner_true_also_emits_what_goes_to_local_targets(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], True), "count": ([], False)})
        invoke(runtime, "echo", "1", "abc")
        frames = (await receive_until(runtime, "done"))[3:]
    assert [summary(frame) for frame in frames] == [
        ("emit", "1", "echo", "out", "abc"),
        ("ctx.set", "counter", {"key": "count", "value": 1}),
        ("emit", "1", "counter", "out", 1),
        ("done", "1", None),
    ]


async def test_each_further_target_gets_a_copy(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        for name, sources in (("source", SOURCE), ("mutate", MUTATE), ("plain", PLAIN)):
            load(runtime, name, in_language(language, sources))
        wire(runtime, "source", {"out": ([("mutate", "in"), ("plain", "in")], False)})
        invoke(runtime, "source", "1", None)
        frames = (await receive_until(runtime, "done"))[4:]
    assert [summary(frame) for frame in frames] == [
        ("emit", "1", "mutate", "out", {"nested": {"x": 2}}),
        ("emit", "1", "plain", "out", {"nested": {"x": 1}}),
        ("done", "1", None),
    ]


async def test_a_local_invocation_that_raises_or_has_no_module_is_an_error_of_the_root_id(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "m", language.raises)
        wire(runtime, "echo", {"out": ([("m", "in"), ("ghost", "in")], False)})
        invoke(runtime, "echo", "1", "bad")
        frames = (await receive_until(runtime, "done"))[3:]
    assert [summary(frame)[:3] for frame in frames] == [
        ("emit", "1", "echo"),
        ("error", "m", "1"),
        ("error", "ghost", "1"),
        ("done", "1", None),
    ]
    assert orjson.loads(frames[1].body) == {"message": language.raised, "line": 3}


async def test_unload_drops_the_modules_wiring_and_the_routes_to_it(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        for name in ("a", "b"):
            load(runtime, name, language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "a", {"out": ([("counter", "in")], True)})
        wire(runtime, "b", {"out": ([("a", "in")], False)})
        runtime.send({"t": "unload", "module": "counter"})
        invoke(runtime, "a", "1", "x")  # no route to counter is left
        runtime.send({"t": "unload", "module": "a"})
        load(runtime, "a", language.echo)
        invoke(runtime, "a", "2", "y")  # a's wiring went with it
        invoke(runtime, "b", "3", "z")  # and so did b's route to a
        frames = await receive_dones(runtime, 3)
    assert [summary(frame)[:4] for frame in frames if frame.type in ("emit", "error")] == [
        ("emit", "1", "a", "out"),
        ("emit", "1", "a", "count"),
        ("emit", "2", "a", "out"),
        ("emit", "2", "a", "count"),
        ("emit", "3", "b", "count"),
    ]


async def test_a_reload_keeps_the_modules_wiring(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)})
        load(runtime, "echo", language.echo)
        invoke(runtime, "echo", "1", "x")
        frames = await receive_until(runtime, "done")
    assert ("emit", "1", "counter", "out", 1) in [summary(frame) for frame in frames]


async def test_a_fence_holds_deliveries_until_release_and_keeps_their_order(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)}, fence="F1")
        invoke(runtime, "echo", "1", "held")
        runtime.send({"t": "ping", "id": "p"})
        held = (await receive_until(runtime, "pong"))[2:]
        invoke(runtime, "counter", "2", "forwarded before the release")
        runtime.send({"t": "release"}, orjson.dumps({"fence": "F1"}))
        invoke(runtime, "echo", "3", "after")
        released = await receive_dones(runtime, 3)
    assert [summary(frame) for frame in held] == [
        ("wired", "echo", {"fence": "F1"}),
        ("emit", "1", "echo", "count", 4),
        ("pong", "p", None),
    ]
    assert [summary(frame) for frame in released if frame.type != "ctx.set"] == [
        ("emit", "2", "counter", "out", 1),
        ("done", "2", None),
        ("emit", "1", "counter", "out", 2),
        ("done", "1", None),
        ("emit", "3", "echo", "count", 5),
        ("emit", "3", "counter", "out", 3),
        ("done", "3", None),
    ]


def counted(frames: list[Frame]) -> list[tuple[Any, ...]]:
    """The ``out`` emits of the counters ``counter`` and ``other``, in order."""
    return [
        summary(frame)
        for frame in frames
        if frame.type == "emit" and frame.header["module"] in ("counter", "other")
    ]


async def test_a_fence_holds_only_the_targets_its_wire_adds(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        for name, source in (("echo", language.echo), ("counter", language.counter)):
            load(runtime, name, source)
        load(runtime, "other", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)})
        wire(runtime, "echo", {"out": ([("counter", "in"), ("other", "in")], False)}, fence="F")
        invoke(runtime, "echo", "1", "x")
        runtime.send({"t": "ping", "id": "p"})
        before = await receive_until(runtime, "pong")
        runtime.send({"t": "release"}, orjson.dumps({"fence": "F"}))
        after = await receive_until(runtime, "done")
    assert counted(before) == [("emit", "1", "counter", "out", 1)]  # never held
    assert counted(after) == [("emit", "1", "other", "out", 1)]


async def test_a_target_an_earlier_fence_holds_stays_held_in_order(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        for name, source in (("echo", language.echo), ("counter", language.counter)):
            load(runtime, name, source)
        load(runtime, "other", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)}, fence="F1")
        invoke(runtime, "echo", "1", "x")
        wire(runtime, "echo", {"out": ([("counter", "in"), ("other", "in")], False)}, fence="F2")
        invoke(runtime, "echo", "2", "y")
        runtime.send({"t": "release"}, orjson.dumps({"fence": "F2"}))
        runtime.send({"t": "ping", "id": "p"})
        first = await receive_until(runtime, "pong")
        runtime.send({"t": "release"}, orjson.dumps({"fence": "F1"}))
        second = await receive_dones(runtime, 2)
    assert counted(first) == [("emit", "2", "other", "out", 1)]
    assert counted(second) == [
        ("emit", "1", "counter", "out", 1),
        ("emit", "2", "counter", "out", 2),
    ]


async def test_drain_waits_for_fenced_deliveries(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("counter", "in")], False)}, fence="F")
        invoke(runtime, "echo", "1", "x")
        runtime.send({"t": "drain", "module": "counter"})
        runtime.send({"t": "drain", "module": "echo"})
        runtime.send({"t": "release"}, orjson.dumps({"fence": "F"}))
        frames = await receive_until(runtime, "done")
        frames += await receive_until(runtime, "drained")
    kinds = [(frame.type, frame.header.get("module")) for frame in frames]
    assert kinds.index(("drained", "echo")) < kinds.index(("emit", "counter"))
    assert kinds[-1] == ("drained", "counter")


#: Module K of the chain: sends its message with [K, copy] appended, COPIES times.
CHAIN_MODULE = {
    "python": """\
        def handle(message, context, send):
            for copy in range({copies}):
                send("out", message + [{k}, copy])
        """,
    "node": """\
        function handle(message, context, send) {{
          for (let copy = 0; copy < {copies}; copy += 1) {{
            send("out", [...message, {k}, copy]);
          }}
        }}
        """,
}
#: How an edge of the chain goes: through the runner, local, local with a runner tap, or
#: local behind a fence released once every input is sent.
EDGES = st.sampled_from(["runner", "local", "tapped", "fenced"])


def chain_outputs(inputs: list[list[int]], copies: list[int]) -> list[list[list[int]]]:
    """What each module of the chain sends, in order, when every edge keeps its order."""
    sent = []
    for k, count in enumerate(copies):
        inputs = [[*message, k, copy] for message in inputs for copy in range(count)]
        sent.append(inputs)
    return sent


async def run_chain(
    language: Language, edges: list[str], copies: list[int], inputs: list[list[int]]
) -> dict[str, list[object]]:
    """Every emit per module, with the runner forwarding what goes through it."""
    names = [f"m{k}" for k in range(len(copies))]
    received: dict[str, list[object]] = {name: [] for name in names}
    async with started_runtime(language.command) as runtime:
        for k, count in enumerate(copies):
            load(runtime, names[k], in_language(language, CHAIN_MODULE).format(k=k, copies=count))
        for k, edge in enumerate(edges):
            if edge != "runner":
                target = ([(names[k + 1], "in")], edge == "tapped")
                wire(
                    runtime, names[k], {"out": target}, fence=f"F{k}" if edge == "fenced" else None
                )
        for number, message in enumerate(inputs):
            invoke(runtime, names[0], f"in{number}", message)
        for k, edge in enumerate(edges):
            if edge == "fenced":
                runtime.send({"t": "release"}, orjson.dumps({"fence": f"F{k}"}))
        open_ids, forwarded = len(inputs), 0
        while open_ids:
            frame = await runtime.receive()
            assert frame.type not in ("error", "log"), summary(frame)
            if frame.type == "done":
                open_ids -= 1
            elif frame.type == "emit":
                k = names.index(frame.header["module"])
                received[names[k]].append(orjson.loads(frame.body))
                if k < len(edges) and edges[k] == "runner":
                    forwarded += 1
                    open_ids += 1
                    runtime.send(
                        {
                            "t": "invoke",
                            "id": f"f{forwarded}",
                            "module": names[k + 1],
                            "port": "in",
                        },
                        frame.body,
                    )
    return received


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edges=st.lists(EDGES, min_size=3, max_size=3),
    copies=st.lists(st.integers(1, 2), min_size=4, max_size=4),
    count=st.integers(1, 4),
)
async def test_a_chain_wired_locally_sends_what_it_sends_through_the_runner(
    language: Language, edges: list[str], copies: list[int], count: int
) -> None:
    inputs = [[number] for number in range(count)]
    received = await run_chain(language, edges, copies, inputs)
    expected = chain_outputs(inputs, copies)
    assert received["m3"] == expected[3]
    for k, edge in enumerate(edges):
        assert received[f"m{k}"] == (expected[k] if edge in ("runner", "tapped") else [])
