"""The shipped Python runtime, as a real process behind the real FIFOs."""

from __future__ import annotations

import os
import signal
import textwrap

import orjson
import pytest
from runtime_helpers import invoke, load, python_runtime, receive_until, summary

from trio_launcher.flows.errors import RuntimeExited

ECHO = textwrap.dedent(
    """\
    def handle(message, context, send):
        send("out", message)
        send("count", len(message))
    """
)
RAISES = textwrap.dedent(
    """\
    def handle(message, context, send):
        if message == "bad":
            raise ValueError("no " + message)
        send("out", message)
    """
)
COUNTER = textwrap.dedent(
    """\
    def handle(message, context, send):
        context["count"] = context.get("count", 0) + 1
        send("out", context["count"])
    """
)


async def test_hello_says_what_the_runtime_is() -> None:
    async with python_runtime() as runtime:
        hello = runtime.hello
        assert hello is not None
        assert (hello.protocol, hello.runtime, hello.pid) == (0, "python", runtime.pid)
        assert hello.name and hello.version
        assert isinstance(hello.capabilities, tuple)


async def test_an_invocation_emits_on_ports_then_is_done_in_order() -> None:
    async with python_runtime() as runtime:
        load(runtime, "echo", ECHO)
        invoke(runtime, "echo", "1", "abc")
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "echo", None),
        ("emit", "1", "echo", "out", "abc"),
        ("emit", "1", "echo", "count", 3),
        ("done", "1", None),
    ]


async def test_a_module_that_raises_reports_its_line_and_the_runtime_goes_on() -> None:
    async with python_runtime() as runtime:
        load(runtime, "m", RAISES)
        invoke(runtime, "m", "1", "bad")
        invoke(runtime, "m", "2", "good")
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "m", None),
        ("error", "m", "1", {"message": "ValueError: no bad", "line": 3}),
        ("emit", "2", "m", "out", "good"),
        ("done", "2", None),
    ]


async def test_source_that_does_not_compile_is_a_load_error_with_its_line() -> None:
    async with python_runtime() as runtime:
        load(runtime, "broken", "x = 1\ndef handle(message, context, send)\n    pass\n")
        load(runtime, "empty", "x = 1\n")
        load(runtime, "fails", "x = 1\nraise RuntimeError('at import')\n")
        frames = [await runtime.receive() for _ in range(3)]
    errors = [(frame.type, frame.header, orjson.loads(frame.body)) for frame in frames]
    assert [(kind, header["module"], body["line"]) for kind, header, body in errors] == [
        ("error", "broken", 2),
        ("error", "empty", None),
        ("error", "fails", 2),
    ]
    assert all("id" not in header for _, header, _ in errors)
    assert "handle" in errors[1][2]["message"]
    assert errors[2][2]["message"] == "RuntimeError: at import"


async def test_context_is_given_at_load_and_written_through() -> None:
    async with python_runtime() as runtime:
        load(runtime, "counter", COUNTER, count=41)
        invoke(runtime, "counter", "1", None)
        frames = await receive_until(runtime, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "counter", None),
        ("ctx.set", "counter", {"key": "count", "value": 42}),
        ("emit", "1", "counter", "out", 42),
        ("done", "1", None),
    ]


async def test_ping_is_answered_with_its_id() -> None:
    async with python_runtime() as runtime:
        runtime.send({"t": "ping", "id": "p1"})
        frame = await runtime.receive()
    assert frame.header == {"t": "pong", "id": "p1"}


async def test_pipelined_invocations_arrive_in_order() -> None:
    count = 1000
    async with python_runtime() as runtime:
        load(runtime, "echo", ECHO)
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


async def test_a_killed_runtime_is_seen_from_its_exit() -> None:
    async with python_runtime() as runtime:
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
