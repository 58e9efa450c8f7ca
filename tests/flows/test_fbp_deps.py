"""The FBP endpoint's ``deps`` extension: secret required, progress streamed, cancellable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deps_helpers import python_config, versioned_middle
from fbp_helpers import client_of, endpoint
from runner_flows import PY_FORWARD

from trio_launcher.flows.fbp.client import FbpClient, FbpRefused

SECRET = "s3cret-for-packages"


async def deploy(client: FbpClient, document: dict[str, Any]) -> dict[str, Any]:
    return await client.request("graph", "set", {"graph": document})


async def test_an_endpoint_without_a_secret_installs_nothing(tmp_path: Path) -> None:
    async with endpoint(config=python_config(tmp_path)) as (runner, url), client_of(url) as client:
        with pytest.raises(FbpRefused, match="needs an endpoint with a secret"):
            await deploy(client, versioned_middle(["tinypkg"], 0))
        await deploy(client, versioned_middle([], 0, PY_FORWARD))
        with pytest.raises(FbpRefused, match="needs an endpoint with a secret"):
            await client.request(
                "deps", "install", {"graph": "pinned", "node": "middle", "packages": ["tinypkg"]}
            )
        listed = await client.request("deps", "list", {})
        assert runner.get_flow("pinned").modules["middle"].deps == ()
    assert listed == {"ok": True, "packages": []}
    assert not (tmp_path / "store").exists()


async def test_install_streams_progress_and_answers_with_the_lock(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    progress: list[dict[str, Any]] = []
    async with (
        endpoint(secret=SECRET, config=config) as (_, url),
        client_of(url, SECRET) as client,
    ):
        await deploy(client, versioned_middle(["tinypkg==1.0.0"], 0))
        answer = await client.request(
            "deps",
            "install",
            {"graph": "pinned", "node": "middle", "packages": ["tinypkg==2.0.0", "otherpkg"]},
            on_event=lambda message: progress.append(message["payload"]),
        )
        listed = await client.request("deps", "list", {"graph": "pinned", "node": "middle"})
        removed = await client.request(
            "deps", "remove", {"graph": "pinned", "node": "middle", "packages": ["otherpkg"]}
        )
        collected = await client.request("deps", "gc", {})
        with pytest.raises(FbpRefused, match="declares no nopkg"):
            await client.request(
                "deps", "remove", {"graph": "pinned", "node": "middle", "packages": ["nopkg"]}
            )
    pins = [(p["name"], p["version"]) for p in answer["lock"]["packages"]]
    assert pins == [("otherpkg", "1.0.0"), ("tinypkg", "2.0.0")]
    installed = [p["package"] for p in progress if p["step"] == "installed"]
    assert sorted(installed) == ["otherpkg==1.0.0", "tinypkg==2.0.0"]
    assert {p["request"] for p in progress} == {"r2"}
    assert [p["name"] for p in listed["packages"]] == ["otherpkg", "tinypkg"]
    assert [p["name"] for p in removed["lock"]["packages"]] == ["tinypkg"]
    assert sorted(path.split("==")[0] for path in collected["removed"]) == [
        "python/otherpkg",
        "python/tinypkg",  # 1.0.0, which no lock uses any more
    ]


async def test_a_change_can_be_cancelled_and_leaves_the_module_as_it_was(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with (
        endpoint(secret=SECRET, config=config) as (runner, url),
        client_of(url, SECRET) as client,
    ):
        await deploy(client, versioned_middle([], 0, PY_FORWARD))
        payload = {"graph": "pinned", "node": "middle", "packages": ["tinypkg"]}
        await client.send("deps", "install", payload, "install-1")
        while True:
            message = await client.next_message()
            if message["command"] == "progress":
                break
        cancelled = await client.request("deps", "cancel", {"request": "install-1"})
        while True:
            message = await client.next_message()
            if message.get("responseTo") == "install-1":
                break
        assert runner.get_flow("pinned").revision == 0
    assert cancelled == {"ok": True, "request": "install-1", "cancelled": True}
    assert message["payload"] == {"ok": False, "reason": "cancelled"}


async def test_a_client_that_leaves_cancels_its_change(tmp_path: Path) -> None:
    config = python_config(tmp_path)
    async with endpoint(secret=SECRET, config=config) as (runner, url):
        async with client_of(url, SECRET) as client:
            await deploy(client, versioned_middle([], 0, PY_FORWARD))
            payload = {"graph": "pinned", "node": "middle", "packages": ["tinypkg"]}
            await client.send("deps", "install", payload, "install-1")
            while (await client.next_message())["command"] != "progress":
                pass
        async with client_of(url, SECRET) as client:
            payload = {"graph": "pinned", "node": "middle", "packages": ["otherpkg"]}
            await client.request("deps", "install", payload)
        flow = runner.get_flow("pinned")
    # only the second change was made: the first ended with its client
    assert flow.revision == 1
    assert [d.spec for d in flow.modules["middle"].deps] == ["otherpkg"]
    assert not list((tmp_path / "store" / "staging").iterdir())
