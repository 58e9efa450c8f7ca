"""The shipped runtimes, Python and Node.js, as real processes behind the real FIFOs."""

from __future__ import annotations

import os
import shutil
import signal
import textwrap
from functools import partial

import attrs
import orjson
import pytest
import trio
from runtime_helpers import (
    NODE_24,
    NODE_RUNTIME_SCRIPT,
    PYTHON_RUNTIME,
    invoke,
    load,
    receive_until,
    started_runtime,
    summary,
)

from trio_launcher.flows.errors import RuntimeExited
from trio_launcher.flows.fifos import open_fifo_pair
from trio_launcher.flows.wire import FrameReader


@attrs.frozen(kw_only=True)
class Language:
    """A runtime's command, and module sources in its language that the tests load."""

    runtime: str
    command: list[str]
    echo: str
    raises: str
    counter: str
    broken: str  # does not compile, at line 2
    empty: str  # defines no handle
    fails: str  # raises at line 2 when loaded
    raised: str  # the error message of ``raises``
    failed: str  # the error message of ``fails``


PYTHON_SOURCES = {
    "echo": """\
        def handle(message, context, send):
            send("out", message)
            send("count", len(message))
        """,
    "raises": """\
        def handle(message, context, send):
            if message == "bad":
                raise ValueError("no " + message)
            send("out", message)
        """,
    "counter": """\
        def handle(message, context, send):
            context["count"] = context.get("count", 0) + 1
            send("out", context["count"])
        """,
    "broken": "x = 1\ndef handle(message, context, send)\n    pass\n",
    "empty": "x = 1\n",
    "fails": "x = 1\nraise RuntimeError('at import')\n",
}
NODE_SOURCES = {
    "echo": """\
        function handle(message, context, send) {
          send("out", message);
          send("count", message.length);
        }
        """,
    "raises": """\
        function handle(message, context, send) {
          if (message === "bad") {
            throw new Error("no " + message);
          }
          send("out", message);
        }
        """,
    "counter": """\
        function handle(message, context, send) {
          context.count = (context.count ?? 0) + 1;
          send("out", context.count);
        }
        """,
    "broken": "let x = 1;\nfunction handle(message, context, send) )\n",
    "empty": "let x = 1;\n",
    "fails": "let x = 1;\nthrow new Error('at import');\n",
}


def _language(runtime: str, command: list[str], **messages: str) -> Language:
    sources = PYTHON_SOURCES if runtime == "python" else NODE_SOURCES
    texts = {name: textwrap.dedent(source) for name, source in sources.items()}
    return Language(runtime=runtime, command=command, **texts, **messages)


def _node_param(node: str | None, param_id: str, missing: str) -> object:
    if node is None:
        return pytest.param(None, id=param_id, marks=pytest.mark.skip(reason=missing))
    command = [node, NODE_RUNTIME_SCRIPT]
    language = _language("node", command, raised="Error: no bad", failed="Error: at import")
    return pytest.param(language, id=param_id)


LANGUAGES = [
    pytest.param(
        _language(
            "python",
            PYTHON_RUNTIME,
            raised="ValueError: no bad",
            failed="RuntimeError: at import",
        ),
        id="python",
    ),
    _node_param(shutil.which("node"), "node", "node is not on PATH"),
    _node_param(str(NODE_24) if NODE_24.exists() else None, "node24", f"no Node 24 at {NODE_24}"),
]


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> Language:
    """Each shipped runtime in turn."""
    chosen: Language = request.param
    return chosen


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
