"""``runner.packages``: list, install, remove and lock a module's packages on a running flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from deps_helpers import (
    needs_npm,
    node_config,
    python_config,
    two_versions,
    versioned_middle,
    versions,
)
from package_builds import build_wheel
from runner_flows import needs_node

from trio_launcher.flows.deps.dependencies import Progress
from trio_launcher.flows.errors import FlowRunnerError, InvalidFlow
from trio_launcher.flows.runner import open_flow_runner


async def test_install_and_remove_change_what_a_running_module_imports(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    steps: list[Progress] = []
    with trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            await runner.add_or_update_flow(versioned_middle(["tinypkg==1.0.0"], 0))
            await runner.start_flow("pinned")
            lock = await runner.packages.install(
                "pinned/middle", ["TinyPkg==2.0.0", "otherpkg"], progress=steps.append
            )
            after_install = await versions(runner, "pinned")
            listed = runner.packages.list(flow_module_id="pinned/middle")
            await runner.packages.remove("pinned/middle", ["otherpkg"])
            declared = runner.get_flow("pinned").to_document()["processes"]["middle"]
            revision = runner.get_flow("pinned").revision
            with pytest.raises(FlowRunnerError, match="declares no nopkg"):
                await runner.packages.remove("pinned/middle", ["nopkg"])
            with pytest.raises(InvalidFlow):
                await runner.packages.install("pinned/middle", ["-e ."])
    assert after_install == ["2.0.0"]
    assert sorted(p.pin for p in lock.lock.packages) == ["otherpkg==1.0.0", "tinypkg==2.0.0"]
    assert [(p.name, p.version, p.modules) for p in listed] == [
        ("otherpkg", "1.0.0", ("pinned/middle",)),
        ("tinypkg", "2.0.0", ("pinned/middle",)),
    ]
    assert declared["metadata"]["deps"] == ["TinyPkg==2.0.0"] and revision == 2
    assert str(steps[0]) == "pinned/middle: resolving"


async def test_lock_resolves_again_and_takes_a_newer_version(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    wheels = tmp_path / "wheels"
    (wheels / "tinypkg-2.0.0-py3-none-any.whl").unlink()
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(versioned_middle(["tinypkg>=1"], 0))
        await runner.start_flow("pinned")
        before = await versions(runner, "pinned")
        build_wheel(wheels, "tinypkg", "2.0.0", "VERSION = '2.0.0'\n")
        await runner.add_or_update_flow(versioned_middle(["tinypkg>=1"], 1))
        kept = await versions(runner, "pinned")
        locks = await runner.packages.lock("pinned")
        after = await versions(runner, "pinned")
        with pytest.raises(FlowRunnerError, match="no module nope"):
            await runner.packages.lock("pinned", ["nope"])
    assert (before, kept, after) == (["1.0.0"], ["1.0.0"], ["2.0.0"])
    assert list(locks) == ["middle"]


async def test_list_by_runtime_names_every_module_that_locked_a_package(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(two_versions("python", ["tinypkg==1.0.0"], ["tinypkg<2"]))
        listed = runner.packages.list(runtime_id="python")
        none = runner.packages.list(runtime_id="node")
    assert [(p.name, p.version, p.modules) for p in listed] == [
        ("tinypkg", "1.0.0", ("versions/one", "versions/two"))
    ]
    assert none == []


@needs_node
@needs_npm
async def test_a_node_module_gets_a_new_version_without_losing_its_context(
    tmp_path: Path,
) -> None:
    with node_config(tmp_path) as config, trio.fail_after(120):
        async with open_flow_runner(config) as runner:
            await runner.add_or_update_flow(two_versions("node", {"tiny": "^1"}, {"tiny": "^1"}))
            await runner.start_flow("versions")
            before = await versions(runner, "versions")
            await runner.packages.install("versions/two", ["tiny@^2"])
            after = await versions(runner, "versions")
            context = runner.context("versions", "two")
    assert (before, after) == (["1.0.0", "1.0.0"], ["1.0.0", "2.0.0"])
    assert context == {"count": 2}


async def test_two_installs_at_once_on_one_module_both_take_effect(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with open_flow_runner(config) as runner:
        await runner.add_or_update_flow(versioned_middle(["tinypkg==1.0.0"], 0))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.packages.install, "pinned/middle", ["tinypkg==2.0.0"])
            await trio.testing.wait_all_tasks_blocked()  # the first is resolving
            nursery.start_soon(runner.packages.install, "pinned/middle", ["otherpkg"])
        flow = runner.get_flow("pinned")
    assert [d.spec for d in flow.modules["middle"].deps] == ["tinypkg==2.0.0", "otherpkg"]
    assert flow.revision == 2
