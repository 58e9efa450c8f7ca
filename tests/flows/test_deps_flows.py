"""Modules with dependencies: each sees the version it pinned; updates lose nothing;
failures change nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from deps_helpers import (
    JS_VERSION,
    needs_npm,
    node_config,
    python_config,
    two_versions,
    versioned_middle,
    versions,
)
from runner_flows import needs_node

from trio_launcher.flows.deps.dependencies import DependencyFailed, Progress
from trio_launcher.flows.errors import InvalidFlow
from trio_launcher.flows.runner import FlowRunner, open_flow_runner


def all_directories(paths: tuple[str, ...]) -> bool:
    return all(Path(path).is_dir() for path in paths)


@pytest.mark.parametrize("installer", ["pip", "uv"])
async def test_two_python_modules_of_one_flow_each_import_the_version_they_pinned(
    tmp_path: Path, installer: str
) -> None:
    config = python_config(tmp_path, installer)
    with trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            await runner.add_or_update_flow(
                two_versions("python", ["tinypkg==1.0.0"], ["tinypkg>=2"])
            )
            await runner.start_flow("versions")
            assert await versions(runner, "versions") == ["1.0.0", "2.0.0"]
            locks = runner.packages.locks("versions")
            processes = {info.id for info in runner.list_runtimes()}
    assert [(p.name, p.version) for p in locks["one"].lock.packages] == [("tinypkg", "1.0.0")]
    assert [(p.name, p.version) for p in locks["two"].lock.packages] == [("tinypkg", "2.0.0")]
    assert all(p.hashes[0].startswith("sha256:") for p in locks["two"].lock.packages)
    # one interpreter imports one version: each lock has its own process
    assert {locks["one"].process, locks["two"].process} <= processes
    assert locks["one"].process != locks["two"].process


@needs_node
@needs_npm
async def test_two_node_modules_in_one_process_each_require_the_version_they_pinned(
    tmp_path: Path,
) -> None:
    with node_config(tmp_path) as config, trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            await runner.add_or_update_flow(two_versions("node", {"tiny": "^1"}, {"tiny": "2.x"}))
            await runner.start_flow("versions")
            assert await versions(runner, "versions") == ["1.0.0", "2.0.0"]
            locks = runner.packages.locks("versions")
            node = [info for info in runner.list_runtimes() if info.state == "up"]
    assert [info.id for info in node] == ["node"]  # both in the one Node.js process
    assert [(p.name, p.version) for p in locks["one"].lock.packages] == [("tiny", "1.0.0")]
    assert locks["two"].lock.packages[0].hashes[0].startswith("sha512-")
    for installed in locks.values():
        (directory,) = installed.paths
        assert (Path(directory) / "node_modules" / "tiny" / "package.json").is_file()


async def test_the_lock_is_kept_with_the_revision_and_returned_by_the_api(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    steps: list[Progress] = []
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(versioned_middle(["tinypkg>=1"], 0), progress=steps.append)
        first = runner.packages.locks("pinned")["middle"]
        steps.clear()
        await runner.add_or_update_flow(versioned_middle(["tinypkg>=1"], 1), progress=steps.append)
        document = runner.get_flow("pinned").to_document()
    assert [(p.name, p.version) for p in first.lock.packages] == [("tinypkg", "2.0.0")]
    assert steps == []  # the same declaration keeps its lock: no installer ran
    lock = document["processes"]["middle"]["metadata"]["lock"]
    assert lock["packages"][0]["version"] == "2.0.0" and lock["digest"] == first.lock.digest
    assert document["processes"]["middle"]["metadata"]["deps"] == ["tinypkg>=1"]


async def update_under_load(
    runner: FlowRunner, before: dict[str, Any], after: dict[str, Any]
) -> tuple[list[Any], int]:
    """Messages sent while ``after`` replaces ``before``: what came out, the context's count."""
    got: list[Any] = []
    flow_id = before["id"]
    await runner.add_or_update_flow(before)
    await runner.start_flow(flow_id)
    async with runner.output(flow_id, "out") as out, trio.open_nursery() as nursery:
        updated = trio.Event()
        sent = 0

        async def feed() -> None:
            nonlocal sent
            while not updated.is_set() or sent < 200:
                await runner.send(flow_id, "in", [sent])
                sent += 1
                await trio.lowlevel.checkpoint()

        async def update() -> None:
            while sent < 100:
                await trio.lowlevel.checkpoint()
            await runner.add_or_update_flow(after)
            updated.set()

        nursery.start_soon(feed)
        nursery.start_soon(update)
        while not updated.is_set() or len(got) < sent:
            got.append(await anext(out))
    return got, runner.context(flow_id, "middle")["count"]


def check_switched_once(got: list[Any], count: int) -> None:
    assert [n for n, _ in got] == list(range(len(got)))  # none lost, doubled or reordered
    versions = [version for _, version in got]
    # one switch: what was still queued for the module when the update began went to v2
    switch = versions.index("2.0.0")
    assert set(versions[:switch]) <= {"1.0.0"} and set(versions[switch:]) == {"2.0.0"}
    assert count == len(got)  # the context moved with the module


async def test_a_dependency_update_under_load_loses_and_doubles_nothing_and_keeps_context(
    tmp_path: Path,
) -> None:
    config = python_config(tmp_path)
    before = versioned_middle(["tinypkg==1.0.0"], 0)
    after = versioned_middle(["tinypkg==2.0.0"], 1)
    with trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            got, count = await update_under_load(runner, before, after)
    check_switched_once(got, count)


@needs_node
@needs_npm
async def test_a_node_dependency_update_under_load_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    before = versioned_middle({"tiny": "1.0.0"}, 0, JS_VERSION, runtime="node")
    after = versioned_middle({"tiny": "^2"}, 1, JS_VERSION, runtime="node")
    with node_config(tmp_path) as config, trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            got, count = await update_under_load(runner, before, after)
    check_switched_once(got, count)


async def test_a_version_that_does_not_exist_names_it_and_leaves_the_old_version_serving(
    tmp_path: Path,
) -> None:
    config = python_config(tmp_path)
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(versioned_middle(["tinypkg==1.0.0"], 0))
        await runner.start_flow("pinned")
        with pytest.raises(DependencyFailed) as failed:
            await runner.add_or_update_flow(versioned_middle(["tinypkg==3.0.0"], 1))
        with pytest.raises(DependencyFailed) as unknown:
            await runner.add_or_update_flow(versioned_middle(["nopkg"], 1))
        with pytest.raises(InvalidFlow) as invalid:
            await runner.add_or_update_flow(versioned_middle(["--index-url=http://x/"], 1))
        assert runner.get_flow("pinned").revision == 0
        assert await versions(runner, "pinned") == ["1.0.0"]
    assert failed.value.module == "pinned/middle" and "tinypkg==3.0.0" in failed.value.package
    assert "tinypkg==3.0.0" in failed.value.reason  # the installer's own words
    assert unknown.value.package == "nopkg" and "nopkg" in unknown.value.reason
    assert [p.path for p in invalid.value.problems] == ["processes.middle.metadata.deps[0]"]


async def test_two_locks_share_the_directory_of_a_package_they_both_pin(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    steps: list[Progress] = []
    async with open_flow_runner(config) as runner:
        flow = two_versions("python", ["tinypkg==1.0.0"], ["tinypkg==1.0.0", "otherpkg"])
        await runner.add_or_update_flow(flow, progress=steps.append)
        locks = runner.packages.locks("versions")
    assert locks["one"].lock != locks["two"].lock
    assert set(locks["one"].paths) < set(locks["two"].paths)
    done = [(step.module, step.step, step.package) for step in steps if step.package]
    assert done == [
        ("versions/one", "installing", "tinypkg==1.0.0"),
        ("versions/one", "installed", "tinypkg==1.0.0"),
        ("versions/two", "installing", "otherpkg==1.0.0"),
        ("versions/two", "installed", "otherpkg==1.0.0"),
        ("versions/two", "cached", "tinypkg==1.0.0"),
    ]
    assert sorted(os.listdir(tmp_path / "store" / "python"))[0].startswith("otherpkg==1.0.0-")


async def test_garbage_collection_removes_only_what_no_flow_uses(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(two_versions("python", ["tinypkg==1.0.0"], ["tinypkg>=2"]))
        kept = runner.packages.locks("versions")["one"]
        await runner.add_or_update_flow(versioned_middle(["tinypkg==2.0.0"], 0))
        await runner.remove_flow("versions")
        removed = await runner.packages.collect_garbage()
        again = await runner.packages.collect_garbage()
        still = runner.packages.locks("pinned")["middle"]
    assert removed == [str(Path(kept.paths[0]).relative_to(tmp_path / "store"))]
    assert again == []
    assert all_directories(still.paths)


async def test_an_install_past_its_timeout_is_stopped_and_changes_nothing(tmp_path: Path) -> None:
    config = python_config(tmp_path, timeout=0.001)
    async with open_flow_runner(config) as runner:
        with pytest.raises(DependencyFailed, match=r"timeout of 0\.001 s"):
            await runner.add_or_update_flow(versioned_middle(["tinypkg"], 0))
        assert runner.list_flows() == []
    assert list((tmp_path / "store").glob("*/*")) == []


async def test_a_cancelled_install_leaves_no_directory_half_written(tmp_path: Path) -> None:
    config = python_config(tmp_path)

    def cancel_when_installing(step: Progress) -> None:
        if step.step == "installing":
            scope.cancel()

    async with open_flow_runner(config) as runner:
        with trio.CancelScope() as scope:
            await runner.add_or_update_flow(
                versioned_middle(["tinypkg"], 0), progress=cancel_when_installing
            )
        assert scope.cancelled_caught and runner.list_flows() == []
    store = tmp_path / "store"
    assert os.listdir(store / "staging") == [] and os.listdir(store / "python") == []


async def test_installs_can_be_refused_while_known_locks_still_serve(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(versioned_middle(["tinypkg==1.0.0"], 0))
        await runner.add_or_update_flow(
            versioned_middle(["tinypkg==1.0.0"], 1), refuse_installs="no secret"
        )
        with pytest.raises(DependencyFailed, match="no secret"):
            await runner.add_or_update_flow(
                versioned_middle(["tinypkg==2.0.0"], 2), refuse_installs="no secret"
            )
        assert runner.get_flow("pinned").revision == 1


async def test_a_runtime_that_takes_no_dependencies_is_named_in_the_problem(
    tmp_path: Path,
) -> None:
    config = python_config(tmp_path)
    config = config.__class__(
        runtimes={**config.runtimes, "plain": config.runtimes["python"]},
        dependencies=config.dependencies,
    )
    flow = versioned_middle(["tinypkg"], 0)
    flow["processes"]["middle"]["metadata"]["runtime"] = "plain"
    async with open_flow_runner(config) as runner:
        with pytest.raises(InvalidFlow) as invalid:
            await runner.add_or_update_flow(flow)
    (problem,) = invalid.value.problems
    assert problem.path == "processes.middle.metadata.deps" and '"plain"' in problem.message


async def test_garbage_collected_during_an_update_keeps_what_it_installs(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    installed = trio.Event()
    removed: list[str] = []

    def on_progress(step: Progress) -> None:
        if step.step == "installed":
            installed.set()

    async with open_flow_runner(config) as runner, trio.open_nursery() as nursery:

        async def collect_once_installed() -> None:
            await installed.wait()
            removed.extend(await runner.packages.collect_garbage())

        nursery.start_soon(collect_once_installed)
        await runner.add_or_update_flow(
            versioned_middle(["tinypkg==1.0.0"], 0), progress=on_progress
        )
        await runner.start_flow("pinned")
        assert await versions(runner, "pinned") == ["1.0.0"]
    assert removed == []
