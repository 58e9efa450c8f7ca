"""The FBP endpoint's extensions (graphs, runtimes, breakpoints, step) and its secret."""

from __future__ import annotations

import logging

import orjson
import pytest
from fbp_helpers import client_of, double_flow, endpoint, next_of

from trio_launcher.flows.fbp.client import FbpRefused
from trio_launcher.transport import websocket


async def test_graph_set_list_and_delete() -> None:
    async with endpoint() as (runner, url), client_of(url) as client:
        answer = await client.request("graph", "set", {"graph": {**double_flow(), "revision": 3}})
        await client.request("graph", "clear", {"id": "draft"})
        listed = (await client.request("graph", "list"))["graphs"]
        await client.request("network", "start", {"graph": "double"})
        deleted = await client.request("graph", "delete", {"graph": "double"})
        with pytest.raises(FbpRefused, match="no graph 'double'"):
            await client.request("graph", "delete", {"graph": "double"})
        assert runner.list_flows() == []
    assert answer == {"ok": True, "graph": "double", "revision": 3}
    assert listed == [
        {"id": "double", "revision": 3, "state": "stopped", "deployed": True},
        {"id": "draft", "revision": 0, "state": "stopped", "deployed": False},
    ]
    assert deleted == {"ok": True, "graph": "double"}


async def test_a_refused_document_says_ok_false_with_every_problem() -> None:
    document = double_flow()
    document["processes"]["double"]["metadata"]["source"] = "def handle(:\n"
    document["connections"] = [
        {"src": {"process": "double", "port": "nope"}, "tgt": {"process": "double", "port": "in"}}
    ]
    async with endpoint() as (_, url), client_of(url) as client:
        with pytest.raises(FbpRefused) as refused:
            await client.request("graph", "set", {"graph": document})
    payload = refused.value.payload
    assert payload["ok"] is False
    assert payload["reason"].startswith("invalid flow (1 problem)")
    assert payload["problems"] == [
        {
            "path": "connections[0].src.port",
            "message": payload["problems"][0]["message"],
            "module": "double",
        }
    ]
    assert 'has no port "nope"' in payload["problems"][0]["message"]


async def test_a_source_that_does_not_compile_is_refused_with_its_line() -> None:
    document = double_flow()
    document["processes"]["double"]["metadata"]["source"] = "x = 1\ndef handle(:\n"
    async with endpoint() as (_, url), client_of(url) as client:
        with pytest.raises(FbpRefused) as refused:
            await client.request("graph", "set", {"graph": document})
    (problem,) = refused.value.payload["problems"]
    assert problem["path"] == "processes.double.metadata.source"
    assert "(line 2)" in problem["message"]


async def test_runtimes_lists_the_language_runtimes() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        answer = await client.request("runtime", "runtimes")
    (python,) = answer["runtimes"]
    assert python["id"] == "python" and python["state"] == "down"
    assert "trio_launcher.flows.runtime_py" in python["command"]


async def test_a_breakpoint_pauses_a_module_and_a_step_runs_one_held_message() -> None:
    async with endpoint() as (_, url), client_of(url) as client, client_of(url) as other:
        await client.request("graph", "set", {"graph": double_flow()})
        await client.request("network", "start", {"graph": "double"})
        answer = await client.request(
            "network", "setbreakpoint", {"graph": "double", "node": "double"}
        )
        packet = {"graph": "double", "port": "numbers", "event": "data"}
        await client.request("runtime", "packet", {**packet, "payload": 1})
        await client.request("runtime", "packet", {**packet, "payload": 2})
        paused = await next_of(client, "network", "paused")
        step = await client.request("network", "step")
        assert await other.request("network", "getstatus", {"graph": "double"})
        assert all(m["command"] != "paused" for m in other._waiting)
        await client.request("network", "removebreakpoint", {"graph": "double", "node": "double"})
        outputs = [(await next_of(client, "runtime", "packet"))["payload"] for _ in range(2)]
    assert answer == {
        "ok": True,
        "graph": "double",
        "node": "double",
        "port": "*",
        "pause": "module",
    }
    assert paused == {"graph": "double", "node": "double", "port": "in"}
    assert step["steps"]["double/double"]["outputStates"] == {"out": [2]}
    assert step["steps"]["double/double"]["inputStates"] == {"in": [2]}
    assert outputs == [2, 4]


async def test_a_breakpoint_on_an_unknown_module_says_ok_false() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        with pytest.raises(FbpRefused, match="has no module 'nope'") as refused:
            await client.request("network", "setbreakpoint", {"graph": "double", "node": "nope"})
        with pytest.raises(FbpRefused, match="pause must be"):
            payload = {"graph": "double", "node": "double", "pause": "world"}
            await client.request("network", "setbreakpoint", payload)
    assert refused.value.payload["ok"] is False


async def test_with_a_secret_only_getruntime_answers_without_it() -> None:
    async with endpoint(secret="s3cret") as (_, url):
        async with client_of(url) as stranger:
            runtime = await stranger.request("runtime", "getruntime")
            with pytest.raises(FbpRefused, match="access denied"):
                await stranger.request("network", "getstatus", {"graph": "x"})
            with pytest.raises(FbpRefused, match="access denied") as refused:
                await stranger.request("graph", "list")
        async with client_of(url, "wrong") as wrong:
            with pytest.raises(FbpRefused, match="access denied"):
                await wrong.request("graph", "list")
        async with client_of(url, "s3cret") as friend:
            assert (await friend.request("graph", "list"))["graphs"] == []
            assert (
                "protocol:graph" in (await friend.request("runtime", "getruntime"))["capabilities"]
            )
    assert runtime["capabilities"] == []
    assert "protocol:graph" in runtime["allCapabilities"]
    assert refused.value.payload["ok"] is False


async def test_the_secret_may_come_in_the_payload_and_is_never_logged_or_echoed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with endpoint(secret="s3cret") as (_, url), websocket.connect(url) as ws:
        message = {
            "protocol": "graph",
            "command": "clear",
            "payload": {"id": "g", "secret": "s3cret"},
        }
        await ws.send_message(orjson.dumps(message).decode())
        answer = await ws.get_message()
        await ws.send_message(
            orjson.dumps({**message, "payload": {"id": "g", "secret": "no"}}).decode()
        )
        refused = await ws.get_message()
    assert orjson.loads(answer) == {"protocol": "graph", "command": "clear", "payload": {"id": "g"}}
    assert "access denied" in str(refused)
    assert "s3cret" not in caplog.text
