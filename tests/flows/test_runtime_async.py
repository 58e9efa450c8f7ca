"""Async modules in the shipped runtimes: many invocations at once, each ended by one done."""

from __future__ import annotations

import orjson
from runtime_helpers import (
    invoke,
    load,
    receive_dones,
    receive_until,
    started_runtime,
    summary,
    wire,
)
from runtime_languages import LANGUAGES, Language, in_language

from trio_launcher.flows.wire import Frame

PYTHON_LANGUAGE: Language = LANGUAGES[0].values[0]  # type: ignore[attr-defined]
#: Every invocation waits until one gets "open"; then each sends its message on "out".
GATE = {
    "python": """\
        import asyncio
        gate = None

        async def handle(message, context, send):
            global gate
            gate = gate or asyncio.Event()
            if message == "open":
                gate.set()
            else:
                await gate.wait()
            send("out", message)
        """,
    "node": """\
        let open;
        const gate = new Promise((resolve) => { open = resolve; });

        async function handle(message, context, send) {
          if (message === "open") { open(); } else { await gate; }
          send("out", message);
        }
        """,
}
#: Yields to the event loop once, then raises (line 4) or sends.
LATE = {
    "python": """\
        import asyncio
        async def handle(message, context, send):
            await asyncio.sleep(0)
            if message == "bad": raise ValueError("late " + message)
            send("out", message)
        """,
    "node": """\
        async function handle(message, context, send) {
          await null;
          await null;
          if (message === "bad") { throw new Error("late " + message); }
          send("out", message);
        }
        """,
}


def position(frames: list[Frame], kind: str, invocation: str) -> int:
    return next(
        index
        for index, frame in enumerate(frames)
        if frame.type == kind and frame.header.get("id") == invocation
    )


async def test_loaded_says_whether_handle_is_async(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "gate", in_language(language, GATE))
        frames = [await runtime.receive() for _ in range(2)]
    assert [summary(frame) for frame in frames] == [
        ("loaded", "echo", {"async": False}),
        ("loaded", "gate", {"async": True}),
    ]


async def test_async_invocations_run_at_once_and_end_in_any_order(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "gate", in_language(language, GATE))
        invoke(runtime, "gate", "w1", "a")
        invoke(runtime, "gate", "w2", "b")
        invoke(runtime, "gate", "o", "open")
        frames = (await receive_dones(runtime, 3))[1:]
    emits = sorted(summary(frame) for frame in frames if frame.type == "emit")
    assert emits == [
        ("emit", "o", "gate", "out", "open"),
        ("emit", "w1", "gate", "out", "a"),
        ("emit", "w2", "gate", "out", "b"),
    ]
    assert sorted(frame.header["id"] for frame in frames if frame.type == "done") == [
        "o",
        "w1",
        "w2",
    ]
    for waiter in ("w1", "w2"):  # they could only end once "open" had run
        assert position(frames, "emit", "o") < position(frames, "emit", waiter)
        assert position(frames, "emit", waiter) < position(frames, "done", waiter)


async def test_sync_invocations_run_in_arrival_order_while_async_ones_wait(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "gate", in_language(language, GATE))
        load(runtime, "echo", language.echo)
        invoke(runtime, "gate", "w", "a")
        for number in range(3):
            invoke(runtime, "echo", f"e{number}", "x")
        frames = await receive_dones(runtime, 3)
        invoke(runtime, "gate", "o", "open")
        frames += await receive_dones(runtime, 2)
    dones = [frame.header["id"] for frame in frames if frame.type == "done"]
    assert dones[:3] == ["e0", "e1", "e2"]
    assert sorted(dones[3:]) == ["o", "w"]


async def test_an_async_module_that_raises_after_an_await_is_an_error_then_done(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "late", in_language(language, LATE))
        invoke(runtime, "late", "1", "bad")
        invoke(runtime, "late", "2", "good")
        frames = (await receive_dones(runtime, 2))[1:]
    failed = [frame for frame in frames if frame.header.get("id") == "1"]
    assert [frame.type for frame in failed] == ["error", "done"]
    message = language.raised.replace("no", "late")
    assert orjson.loads(failed[0].body) == {"message": message, "line": 4}
    assert [summary(frame) for frame in frames if frame.header.get("id") == "2"] == [
        ("emit", "2", "late", "out", "good"),
        ("done", "2", None),
    ]


async def test_drain_is_answered_once_the_async_invocations_have_ended(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "gate", in_language(language, GATE))
        invoke(runtime, "gate", "w", "a")
        runtime.send({"t": "drain", "module": "gate"})
        runtime.send({"t": "ping", "id": "p"})
        before = await receive_until(runtime, "pong")
        invoke(runtime, "gate", "o", "open")
        after = await receive_until(runtime, "drained")
    assert [frame.type for frame in before] == ["loaded", "pong"]
    assert sorted(summary(frame) for frame in after) == [
        ("done", "o", None),
        ("done", "w", None),
        ("drained", "gate", None),
        ("emit", "o", "gate", "out", "open"),
        ("emit", "w", "gate", "out", "a"),
    ]
    assert after[-1].type == "drained"


async def test_a_cascade_through_an_async_module_ends_with_one_done(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        load(runtime, "late", in_language(language, LATE))
        load(runtime, "counter", language.counter)
        wire(runtime, "echo", {"out": ([("late", "in")], False)})
        wire(runtime, "late", {"out": ([("counter", "in")], True)})
        invoke(runtime, "echo", "1", "ab")
        frames = (await receive_until(runtime, "done"))[5:]
    assert [summary(frame) for frame in frames] == [
        ("emit", "1", "echo", "count", 2),
        ("emit", "1", "late", "out", "ab"),
        ("ctx.set", "counter", {"key": "count", "value": 1}),
        ("emit", "1", "counter", "out", 1),
        ("done", "1", None),
    ]


async def test_the_python_runtime_imports_asyncio_with_the_first_async_module_only() -> None:
    probe = "import sys\ndef handle(m, context, send):\n    send('out', 'asyncio' in sys.modules)\n"
    async with started_runtime(PYTHON_LANGUAGE.command) as runtime:
        load(runtime, "probe", probe)
        invoke(runtime, "probe", "before", None)
        load(runtime, "gate", in_language(PYTHON_LANGUAGE, GATE))
        invoke(runtime, "probe", "after", None)
        frames = await receive_dones(runtime, 2)
    assert [summary(frame) for frame in frames if frame.type == "emit"] == [
        ("emit", "before", "probe", "out", False),
        ("emit", "after", "probe", "out", True),
    ]
