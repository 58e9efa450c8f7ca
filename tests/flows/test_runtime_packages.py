"""A load's ``paths``: the module imports its dependencies from them, in both runtimes."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from runtime_helpers import (
    NODE_24,
    NODE_RUNTIME_SCRIPT,
    PYTHON_RUNTIME,
    invoke,
    receive_until,
    started_runtime,
    summary,
)
from runtime_languages import Language

from trio_launcher.flows.runtime_process import RuntimeProcess

PYTHON_IMPORTER = """\
import tiny_dep


def handle(message, context, send):
    send("out", tiny_dep.VERSION)
"""
NODE_IMPORTER = """\
const tiny = require("tiny");
function handle(message, context, send) {
  send("out", tiny.version);
}
"""
NODE_BUILTINS = """\
const os = require("node:os");
function handle(message, context, send) {
  send("out", typeof os.cpus);
}
"""
#: The Node.js runtimes to run here: the one on PATH, and Node 24 where it is installed.
NODES = [
    pytest.param(
        shutil.which("node"),
        id="node",
        marks=pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH"),
    ),
    pytest.param(
        str(NODE_24),
        id="node24",
        marks=pytest.mark.skipif(not NODE_24.exists(), reason=f"no Node 24 at {NODE_24}"),
    ),
]


def load_with(runtime: RuntimeProcess, module: str, source: str, paths: object = None) -> None:
    """Send a ``load`` of ``module``, with ``paths`` unless it is None."""
    body: dict[str, object] = {"source": source, "context": {}}
    if paths is not None:
        body["paths"] = paths
    runtime.send({"t": "load", "module": module}, orjson.dumps(body))


def node_package(folder: Path, version: str) -> Path:
    """``folder`` holding ``node_modules/tiny``, whose ``version`` is ``version``."""
    package = folder / "node_modules" / "tiny"
    package.mkdir(parents=True)
    (package / "index.js").write_text(f"module.exports = {{ version: {version!r} }};\n")
    return folder


async def answer_of(runtime: RuntimeProcess, module: str, invocation: str) -> object:
    """What ``module`` sends on ``out`` when invoked (as ``invocation``), once done."""
    invoke(runtime, module, invocation, None)
    frames = await receive_until(runtime, "done")
    emits = [summary(frame) for frame in frames if frame.type == "emit"]
    assert [emit[:-1] for emit in emits] == [("emit", invocation, module, "out")], frames
    return emits[0][-1]


async def test_the_python_runtime_imports_a_package_from_the_paths(tmp_path: Path) -> None:
    (tmp_path / "tiny_dep").mkdir()
    (tmp_path / "tiny_dep" / "__init__.py").write_text("VERSION = '1.2.3'\n")
    async with started_runtime(PYTHON_RUNTIME) as runtime:
        assert runtime.hello is not None
        assert "packages" in runtime.hello.capabilities
        load_with(runtime, "m", PYTHON_IMPORTER, [str(tmp_path)])
        loaded = await runtime.receive()
        assert summary(loaded) == ("loaded", "m", {"async": False})
        assert await answer_of(runtime, "m", "1") == "1.2.3"


async def test_without_paths_the_python_runtime_does_not_find_the_package(
    tmp_path: Path,
) -> None:
    (tmp_path / "tiny_dep").mkdir()
    (tmp_path / "tiny_dep" / "__init__.py").write_text("VERSION = '1.2.3'\n")
    async with started_runtime(PYTHON_RUNTIME) as runtime:
        load_with(runtime, "m", PYTHON_IMPORTER, [])
        error = await runtime.receive()
    assert summary(error) == (
        "error",
        "m",
        {"message": "ModuleNotFoundError: No module named 'tiny_dep'", "line": 1},
    )


@pytest.mark.parametrize("node", NODES)
async def test_two_node_modules_each_require_the_version_their_paths_hold(
    node: str, tmp_path: Path
) -> None:
    old = node_package(tmp_path / "old", "1.0.0")
    new = node_package(tmp_path / "new", "2.0.0")
    async with started_runtime([node, NODE_RUNTIME_SCRIPT]) as runtime:
        assert runtime.hello is not None
        assert "packages" in runtime.hello.capabilities
        load_with(runtime, "a", NODE_IMPORTER, [str(old)])
        load_with(runtime, "b", NODE_IMPORTER, [str(new)])
        assert [summary(await runtime.receive()) for _ in range(2)] == [
            ("loaded", "a", {"async": False}),
            ("loaded", "b", {"async": False}),
        ]
        assert await answer_of(runtime, "a", "1") == "1.0.0"
        assert await answer_of(runtime, "b", "2") == "2.0.0"


@pytest.mark.parametrize("node", NODES)
async def test_without_paths_a_node_module_requires_the_built_ins(node: str) -> None:
    async with started_runtime([node, NODE_RUNTIME_SCRIPT]) as runtime:
        load_with(runtime, "m", NODE_BUILTINS)
        assert summary(await runtime.receive()) == ("loaded", "m", {"async": False})
        assert await answer_of(runtime, "m", "1") == "function"


@pytest.mark.parametrize("paths", [7, "/tmp", [7], ["relative/dir"], None])
async def test_bad_paths_fail_the_load_and_the_runtime_answers_ping(
    language: Language, paths: object
) -> None:
    async with started_runtime(language.command) as runtime:
        body = {"source": language.echo, "context": {}, "paths": paths}
        runtime.send({"t": "load", "module": "m"}, orjson.dumps(body))
        runtime.send({"t": "ping", "id": "p"})
        error, pong = await runtime.receive(), await runtime.receive()
    assert (error.type, error.header) == ("error", {"t": "error", "module": "m"})
    assert "bad load body" in orjson.loads(error.body)["message"]
    assert orjson.loads(error.body)["line"] is None
    assert summary(pong) == ("pong", "p", None)
