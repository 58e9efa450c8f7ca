"""The shipped runtimes, Python and Node.js, as real processes behind the real FIFOs."""

from __future__ import annotations

import os
import signal
from functools import partial

import orjson
import pytest
import trio
from runtime_helpers import (
    invoke,
    load,
    receive_dones,
    receive_until,
    started_runtime,
    summary,
)
from runtime_languages import Language

from trio_launcher.flows.errors import RuntimeExited
from trio_launcher.flows.fifos import open_fifo_pair
from trio_launcher.flows.wire import FrameReader


async def test_hello_says_what_the_runtime_is(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        hello = runtime.hello
        assert hello is not None
        assert (hello.protocol, hello.runtime, hello.pid) == (0, language.runtime, runtime.pid)
        assert hello.name and hello.version
        assert isinstance(hello.capabilities, tuple)


async def test_an_invocation_emits_on_ports_then_is_done_in_order(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        invoke(runtime, "echo", "1", "abc")
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "echo", {"async": False}),
        ("emit", "1", "echo", "out", "abc"),
        ("emit", "1", "echo", "count", 3),
        ("done", "1", None),
    ]


async def test_a_module_that_raises_reports_its_line_and_the_runtime_goes_on(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "m", language.raises)
        invoke(runtime, "m", "1", "bad")
        invoke(runtime, "m", "2", "good")
        frames = await receive_until(runtime, "done")
        frames += await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "m", {"async": False}),
        ("error", "m", "1", {"message": language.raised, "line": 3}),
        ("done", "1", None),
        ("emit", "2", "m", "out", "good"),
        ("done", "2", None),
    ]


async def test_source_that_does_not_compile_is_a_load_error_with_its_line(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "broken", language.broken)
        load(runtime, "empty", language.empty)
        load(runtime, "fails", language.fails)
        frames = [await runtime.receive() for _ in range(3)]
    errors = [(frame.type, frame.header, orjson.loads(frame.body)) for frame in frames]
    assert [(kind, header["module"], body["line"]) for kind, header, body in errors] == [
        ("error", "broken", 2),
        ("error", "empty", None),
        ("error", "fails", 2),
    ]
    assert all("id" not in header for _, header, _ in errors)
    assert "handle" in errors[1][2]["message"]
    assert errors[2][2]["message"] == language.failed


async def test_context_is_given_at_load_and_written_through(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "counter", language.counter, count=41)
        invoke(runtime, "counter", "1", None)
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "counter", {"async": False}),
        ("ctx.set", "counter", {"key": "count", "value": 42}),
        ("emit", "1", "counter", "out", 42),
        ("done", "1", None),
    ]


async def test_ping_is_answered_with_its_id(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        runtime.send({"t": "ping", "id": "p1"})
        frame = await runtime.receive()
    assert frame.header == {"t": "pong", "id": "p1"}


async def test_frames_of_unknown_types_or_without_a_needed_field_are_logged(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        runtime.send({"t": "shrug"})
        runtime.send({"t": "invoke", "module": "m", "port": "in"})
        runtime.send({"t": "ping", "id": "after"})
        frames = await receive_until(runtime, "pong")
    assert [summary(frame) for frame in frames] == [
        ("log", "", {"level": "warning", "message": "unknown frame type 'shrug' ignored"}),
        ("log", "", {"level": "warning", "message": "'invoke' frame without 'id' ignored"}),
        ("pong", "after", None),
    ]


async def test_pipelined_invocations_arrive_in_order(language: Language) -> None:
    count = 1000
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        for number in range(count):
            invoke(runtime, "echo", str(number), [number])
        assert (await runtime.receive()).type == "loaded"
        frames = [await runtime.receive() for _ in range(3 * count)]
    expected = []
    for number in range(count):
        expected += [
            ("emit", str(number), "echo", "out", [number]),
            ("emit", str(number), "echo", "count", 1),
            ("done", str(number), None),
        ]
    assert [summary(frame) for frame in frames] == expected


async def test_a_killed_runtime_is_seen_from_its_exit(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        runtime.send({"t": "ping", "id": "before"})
        assert (await runtime.receive()).header["id"] == "before"
        assert runtime.exited is None
        os.kill(runtime.pid, signal.SIGKILL)
        status = await runtime.wait_exited()
        assert status.signal == signal.SIGKILL
        assert runtime.exited == status
        with pytest.raises(RuntimeExited, match="exited"):
            await runtime.receive()
        with pytest.raises(RuntimeExited):
            runtime.send({"t": "ping", "id": "after"})


async def test_sigterm_ends_a_runtime_at_once(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        os.kill(runtime.pid, signal.SIGTERM)
        status = await runtime.wait_exited()
    assert status.signal == signal.SIGTERM


async def test_a_runtime_exits_0_at_the_end_of_its_input(language: Language) -> None:
    async with open_fifo_pair() as fifos, trio.open_nursery() as nursery:
        argv = [*language.command, fifos.to_runtime_path, fifos.from_runtime_path]
        process = await nursery.start(partial(trio.run_process, argv, check=False))
        reader = FrameReader()
        with trio.fail_after(10):
            frames = reader.feed(await fifos.from_runtime.receive_some())
            while not frames:
                frames = reader.feed(await fifos.from_runtime.receive_some())
            assert frames[0].type == "hello"
            await fifos.to_runtime.aclose()
            await process.wait()
    assert process.returncode == 0


async def test_an_invocation_of_a_module_not_loaded_is_an_error_then_done(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        invoke(runtime, "ghost", "1", None)
        frames = await receive_until(runtime, "done")
    assert [(frame.type, frame.header.get("module"), frame.header["id"]) for frame in frames] == [
        ("error", "ghost", "1"),
        ("done", None, "1"),
    ]


async def test_a_failing_reload_keeps_the_old_module_and_its_context(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "counter", language.counter, count=41)
        invoke(runtime, "counter", "1", None)
        for broken in (language.broken, language.empty, language.fails):
            load(runtime, "counter", broken, count=0)
        invoke(runtime, "counter", "2", None)
        frames = await receive_dones(runtime, 2)
    assert [summary(frame)[:2] for frame in frames if frame.type == "error"] == [
        ("error", "counter")
    ] * 3
    assert [summary(frame) for frame in frames if frame.type in ("emit", "done")] == [
        ("emit", "1", "counter", "out", 42),
        ("done", "1", None),
        ("emit", "2", "counter", "out", 43),
        ("done", "2", None),
    ]


async def test_ctx_put_replaces_the_context_without_an_answer(language: Language) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "counter", language.counter, count=1, other="x")
        put = orjson.dumps({"context": {"count": 100}})
        runtime.send({"t": "ctx.put", "module": "counter"}, put)
        runtime.send({"t": "ctx.put", "module": "not-loaded"}, put)
        invoke(runtime, "counter", "1", None)
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "counter", {"async": False}),
        ("ctx.set", "counter", {"key": "count", "value": 101}),
        ("emit", "1", "counter", "out", 101),
        ("done", "1", None),
    ]


async def test_drain_of_a_sync_module_is_answered_after_the_earlier_frames(
    language: Language,
) -> None:
    async with started_runtime(language.command) as runtime:
        load(runtime, "echo", language.echo)
        invoke(runtime, "echo", "1", "ab")
        runtime.send({"t": "drain", "module": "echo"})
        runtime.send({"t": "drain", "module": "never-loaded"})
        frames = [await runtime.receive() for _ in range(6)]
    assert [summary(frame) for frame in frames] == [
        ("loaded", "echo", {"async": False}),
        ("emit", "1", "echo", "out", "ab"),
        ("emit", "1", "echo", "count", 2),
        ("done", "1", None),
        ("drained", "echo", None),
        ("drained", "never-loaded", None),
    ]
