"""Flows whose modules declare dependencies, and runners that install them offline.

The packages are built by the tests themselves (:mod:`package_builds`): ``tinypkg``
1.0.0 and 2.0.0 and ``otherpkg`` 1.0.0 as wheels in a folder that pip and uv take
as their only index, ``tiny`` 1.0.0 and 2.0.0 as npm tarballs that a registry on
loopback serves.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from package_builds import LocalNpmRegistry, build_wheel, npm_env, npm_pack, offline_python_env
from runner_flows import PY_FORWARD, chain, module

from trio_launcher.flows.config import FlowRunnerConfig
from trio_launcher.flows.deps.settings import DependencySettings
from trio_launcher.flows.runner import FlowRunner

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")

JS_FORWARD = "function handle(message, context, send) { send('out', message); }\n"
#: A Python module that adds the version of the tinypkg it imports to the list it gets.
PY_VERSION = (
    "import tinypkg\n"
    "def handle(message, context, send):\n"
    "    context['count'] = context.get('count', 0) + 1\n"
    "    send('out', [*message, tinypkg.VERSION])\n"
)
#: The same in Node.js, with the npm package ``tiny``.
JS_VERSION = (
    "const tiny = require('tiny');\n"
    "function handle(message, context, send) {\n"
    "  context.count = (context.count ?? 0) + 1;\n"
    "  send('out', [...message, tiny.version]);\n}\n"
)


async def versions(runner: FlowRunner, flow_id: str) -> list[str]:
    """What the flow's modules add to an empty list: the versions of the packages they see."""
    async with runner.output(flow_id, "out") as out:
        await runner.send(flow_id, "in", [])
        got: list[str] = await anext(out)
        return got


def wheels(folder: Path) -> Path:
    """``folder`` holding the wheels of tinypkg 1.0.0 and 2.0.0 and otherpkg 1.0.0."""
    for version in ("1.0.0", "2.0.0"):
        build_wheel(folder, "tinypkg", version, f"VERSION = {version!r}\n")
    build_wheel(folder, "otherpkg", "1.0.0", "VERSION = '1.0.0'\n")
    return folder


def python_config(tmp_path: Path, installer: str = "pip", **settings: Any) -> FlowRunnerConfig:
    """A runner whose Python packages come from a folder of wheels, into a store of its own."""
    env = offline_python_env(wheels(tmp_path / "wheels"))
    dependencies = DependencySettings(
        store=tmp_path / "store", python_installer=installer, environment=env, **settings
    )
    return FlowRunnerConfig(dependencies=dependencies)


@contextlib.contextmanager
def node_config(tmp_path: Path) -> Iterator[FlowRunnerConfig]:
    """A runner whose npm packages come from a registry on loopback serving a folder."""
    folder = tmp_path / "tarballs"
    for version in ("1.0.0", "2.0.0"):
        npm_pack(folder, "tiny", version, f"exports.version = {version!r};\n")
    with LocalNpmRegistry(folder) as registry:
        env = npm_env(registry.url, tmp_path / "npm-cache")
        dependencies = DependencySettings(store=tmp_path / "store", environment=env)
        yield FlowRunnerConfig(dependencies=dependencies)


def two_versions(runtime: str, first: object, second: object) -> dict[str, Any]:
    """``in -> one -> two -> out``: each module adds the version of the package it sees."""
    source = PY_VERSION if runtime == "python" else JS_VERSION
    return chain(
        "versions",
        ("one", module(runtime, source, deps=first)),
        ("two", module(runtime, source, deps=second)),
    )


def versioned_middle(
    deps: object, revision: int, source: str = PY_VERSION, *, runtime: str = "python"
) -> dict[str, Any]:
    """``in -> source -> middle -> sink -> out``; the middle adds its package's version."""
    forward = PY_FORWARD if runtime == "python" else JS_FORWARD
    flow = chain(
        "pinned",
        ("source", module(runtime, forward)),
        ("middle", module(runtime, source, deps=deps)),
        ("sink", module(runtime, forward)),
    )
    flow["revision"] = revision
    return flow
