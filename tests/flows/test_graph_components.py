"""The shipped core components, run in the shipped runtimes as a flow would run them."""

from __future__ import annotations

import shutil

import pytest
from runtime_helpers import (
    NODE_RUNTIME_SCRIPT,
    PYTHON_RUNTIME,
    invoke,
    load,
    receive_until,
    started_runtime,
    summary,
)

from trio_launcher.flows.components import builtin_components

LIBRARY = builtin_components()

NODE = shutil.which("node")
RUNTIMES = [
    pytest.param("python", PYTHON_RUNTIME, id="python"),
    pytest.param(
        "node",
        [NODE or "node", NODE_RUNTIME_SCRIPT],
        id="node",
        marks=pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    ),
]


def test_the_library_has_the_core_components_fbp_test_expects() -> None:
    ports = {name: (c.inports, c.outports) for name, c in LIBRARY.items()}
    assert ports == {
        "core/Repeat": (("in",), ("out",)),
        "core/Drop": (("in",), ()),
        "core/Output": (("in",), ("out",)),
    }
    assert all(set(component.sources) == {"python", "node"} for component in LIBRARY.values())
    assert all(component.description for component in LIBRARY.values())


@pytest.mark.parametrize(("runtime", "command"), RUNTIMES)
async def test_repeat_sends_on_what_it_gets_and_drop_sends_nothing(
    runtime: str, command: list[str]
) -> None:
    async with started_runtime(command) as process:
        load(process, "repeat", LIBRARY["core/Repeat"].sources[runtime])
        load(process, "drop", LIBRARY["core/Drop"].sources[runtime])
        invoke(process, "repeat", "1", {"n": [1, 2]})
        invoke(process, "drop", "2", "gone")
        frames = await receive_until(process, "done")
        frames += await receive_until(process, "done")
    assert [summary(frame) for frame in frames] == [
        ("loaded", "repeat", {"async": False}),
        ("loaded", "drop", {"async": False}),
        ("emit", "1", "repeat", "out", {"n": [1, 2]}),
        ("done", "1", None),
        ("done", "2", None),
    ]


@pytest.mark.parametrize(("runtime", "command"), RUNTIMES)
async def test_output_prints_what_it_gets_and_sends_it_on(runtime: str, command: list[str]) -> None:
    async with started_runtime(command) as process:
        load(process, "show", LIBRARY["core/Output"].sources[runtime])
        invoke(process, "show", "1", "Hello, world!")
        frames = await receive_until(process, "done")
    assert [summary(frame) for frame in frames][1:] == [
        ("log", "show", {"level": "info", "message": "Hello, world!"}),
        ("emit", "1", "show", "out", "Hello, world!"),
        ("done", "1", None),
    ]
