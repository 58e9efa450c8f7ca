"""Module dependencies: what a lock costs to make, to install, to reuse, and to run.

The packages are built here (``tests/package_builds.py``: tinypkg 1.0.0 and 2.0.0,
otherpkg 1.0.0 as wheels; ``tiny`` 1.0.0 as an npm tarball) and installed offline,
from a folder (pip, uv) or a registry on loopback serving one (npm), so the
figures are the installers' own work, not the network's.

- **fresh**: ``add_or_update_flow`` of a module declaring ``tinypkg==1.0.0`` and
  ``otherpkg`` into an empty store: resolve, install each package. Per installer.
- **cached store**: the same declaration on a new runner whose store holds the
  packages: resolve only, nothing installed.
- **cached lock** (target: the runtime's start, no installer): a second flow with
  the same declaration on the same runner, added and started, to its first
  message out; beside the same for a module with no dependencies (a plain
  runtime start), in the same run.
- **memory per distinct Python lock**: four modules with four distinct locks, each
  in its own process; the RSS and PSS of one such process.
- **Node.js**: the same fresh and cached-lock figures for ``tiny@^1``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import trio
from _common import MB, Target, arguments, emit, log

from trio_launcher.flows.config import FlowRunnerConfig
from trio_launcher.flows.deps.settings import DependencySettings
from trio_launcher.flows.runner import FlowRunner, open_flow_runner

# the tests' package builder and local registry: one way to make the tiny packages
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from package_builds import (
    LocalNpmRegistry,
    build_wheel,
    npm_env,
    npm_pack,
    offline_python_env,
)

PY_SOURCE = (
    "import tinypkg\ndef handle(message, context, send):\n    send('out', tinypkg.VERSION)\n"
)
PY_PLAIN = "def handle(message, context, send):\n    send('out', message)\n"
JS_SOURCE = (
    "const tiny = require('tiny');\nfunction handle(m, c, send) { send('out', tiny.version); }\n"
)
JS_PLAIN = "function handle(message, context, send) { send('out', message); }\n"
DECLARED = ["tinypkg==1.0.0", "otherpkg"]


def flow(flow_id: str, runtime: str, source: str, deps: object = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"runtime": runtime, "source": source}
    if deps is not None:
        metadata["deps"] = deps
    return {
        "id": flow_id,
        "processes": {"m": {"component": "m", "metadata": metadata}},
        "inports": {"in": {"process": "m", "port": "in"}},
        "outports": {"out": {"process": "m", "port": "out"}},
    }


async def add_and_run(runner: FlowRunner, document: dict[str, Any]) -> float:
    """Milliseconds from ``add_or_update_flow`` to the first message out of the started flow."""
    started = time.perf_counter()
    await runner.add_or_update_flow(document)
    await runner.start_flow(document["id"])
    async with runner.output(document["id"], "out") as out:
        await runner.send(document["id"], "in", 1)
        await anext(out)
    return (time.perf_counter() - started) * 1e3


def ms(values: list[float]) -> float:
    return round(statistics.median(values), 1)


async def python_figures(folder: Path, installer: str, rounds: int) -> dict[str, Any]:
    env = offline_python_env(folder)
    fresh, store_cached, lock_cached, plain = [], [], [], []
    for n in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-deps-") as store:
            settings = DependencySettings(store=store, python_installer=installer, environment=env)
            config = FlowRunnerConfig(dependencies=settings)
            async with open_flow_runner(config) as runner:
                fresh.append(await add_and_run(runner, flow("a", "python", PY_SOURCE, DECLARED)))
                await runner.stop_flow("a")
                for process in {
                    installed.process for installed in runner.packages.locks("a").values()
                }:
                    await runner.wait_runtime_state(str(process), "down")  # a cold start, as c's
                lock_cached.append(
                    await add_and_run(runner, flow(f"b{n}", "python", PY_SOURCE, DECLARED))
                )
                plain.append(await add_and_run(runner, flow(f"c{n}", "python", PY_PLAIN)))
            async with open_flow_runner(config) as runner:
                store_cached.append(
                    await add_and_run(runner, flow("a", "python", PY_SOURCE, DECLARED))
                )
    return {
        f"{installer}_fresh_install_ms": ms(fresh),
        f"{installer}_cached_store_ms": ms(store_cached),
        f"{installer}_cached_lock_add_ms": ms(lock_cached),
        f"{installer}_no_deps_add_ms": ms(plain),
    }


async def lock_memory(folder: Path) -> dict[str, Any]:
    env = offline_python_env(folder)
    locks = [
        ["tinypkg==1.0.0"],
        ["tinypkg==2.0.0"],
        ["tinypkg==1.0.0", "otherpkg"],
        ["tinypkg==2.0.0", "otherpkg"],
    ]
    with tempfile.TemporaryDirectory(prefix="bench-deps-") as store:
        settings = DependencySettings(store=store, python_installer="pip", environment=env)
        async with open_flow_runner(FlowRunnerConfig(dependencies=settings)) as runner:
            for n, declared in enumerate(locks):
                await add_and_run(runner, flow(f"f{n}", "python", PY_SOURCE, declared))
            pids = [info.pid for info in runner.list_runtimes() if "@" in info.id and info.pid]
            rss, pss = [], []
            for pid in pids:
                memory = psutil.Process(pid).memory_full_info()
                rss.append(memory.rss / MB)
                pss.append(memory.pss / MB)
    return {
        "lock_processes": len(pids),
        "rss_per_lock_mb": round(statistics.median(rss), 1),
        "pss_per_lock_mb": round(statistics.median(pss), 1),
    }


@contextmanager
def npm_registry(folder: Path) -> Iterator[dict[str, str]]:
    npm_pack(folder, "tiny", "1.0.0", "exports.version = '1.0.0';\n")
    with LocalNpmRegistry(folder) as registry:
        yield npm_env(registry.url, folder / "npm-cache")


async def node_figures(folder: Path, rounds: int) -> dict[str, Any]:
    fresh, lock_cached, plain = [], [], []
    with npm_registry(folder) as env:
        for n in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-deps-") as store:
                settings = DependencySettings(store=store, environment=env)
                async with open_flow_runner(FlowRunnerConfig(dependencies=settings)) as runner:
                    deps = {"tiny": "^1"}
                    fresh.append(await add_and_run(runner, flow("a", "node", JS_SOURCE, deps)))
                    lock_cached.append(
                        await add_and_run(runner, flow(f"b{n}", "node", JS_SOURCE, deps))
                    )
                    plain.append(await add_and_run(runner, flow(f"c{n}", "node", JS_PLAIN)))
    return {
        "npm_fresh_install_ms": ms(fresh),
        "npm_cached_lock_add_ms": ms(lock_cached),
        "npm_no_deps_module_add_ms": ms(plain),
    }


def main() -> None:
    args = arguments(__doc__ or "")
    rounds = 2 if args.quick else 5
    figures: dict[str, Any] = {}
    notes = [f"{rounds} rounds, medians", "all installs offline, from local folders"]
    with tempfile.TemporaryDirectory(prefix="bench-deps-packages-") as scratch:
        wheels = Path(scratch, "wheels")
        for version in ("1.0.0", "2.0.0"):
            build_wheel(wheels, "tinypkg", version, f"VERSION = {version!r}\n")
        build_wheel(wheels, "otherpkg", "1.0.0", "VERSION = '1.0.0'\n")
        installers = ["pip"] + (["uv"] if shutil.which("uv") else [])
        for installer in installers:
            log(f"python packages with {installer}")
            figures.update(trio.run(python_figures, wheels, installer, rounds))
        log("memory per distinct lock")
        figures.update(trio.run(lock_memory, wheels))
        if shutil.which("npm") and shutil.which("node"):
            log("node packages with npm")
            figures.update(trio.run(node_figures, Path(scratch, "npm"), rounds))
        else:
            notes.append("no npm or node on PATH: Node.js skipped")
    targets: dict[str, Target] = {}
    for installer in ("pip", "uv"):
        plain = figures.get(f"{installer}_no_deps_add_ms")
        if plain is not None:
            figures[f"{installer}_cached_lock_over_no_deps_ms"] = round(
                figures[f"{installer}_cached_lock_add_ms"] - plain, 1
            )
    notes.append(
        "cached_lock_add: a second flow with a declaration seen before (no installer); "
        "no_deps_add: the same with no dependencies; both start a runtime process"
    )
    notes.append(f"python {sys.version.split()[0]}, CPUs {os.cpu_count()}")
    emit("flows_deps", {"rounds": rounds, "quick": args.quick}, figures, targets, notes)


if __name__ == "__main__":
    main()
