"""The FBP endpoint on a real runner: runtime, component, graph and network commands."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from fbp_helpers import PY_DOUBLE, client_of, double_flow, endpoint, next_of

from trio_launcher.flows.fbp.client import FbpRefused
from trio_launcher.flows.fbp.messages import EXTENSION_CAPABILITIES, STANDARD_CAPABILITIES
from trio_launcher.transport import websocket


async def test_getruntime_names_the_runtime_its_protocol_and_capabilities() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        runtime = await client.request("runtime", "getruntime")
    assert runtime["type"] == "trio-launcher"
    assert runtime["version"] == "0.8"
    assert runtime["capabilities"] == [*STANDARD_CAPABILITIES, *EXTENSION_CAPABILITIES]
    assert all(c.startswith("trio-launcher:") for c in EXTENSION_CAPABILITIES)


async def test_the_noflo_subprotocol_is_accepted() -> None:
    async with endpoint() as (_, url), websocket.connect(url, subprotocols=("noflo",)) as ws:
        assert ws._connection.subprotocol == "noflo"


async def test_component_list_gives_the_library_with_its_ports() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        await client.send("component", "list", {}, "r")
        components = [await next_of(client, "component", "component") for _ in range(3)]
        ready = await client.next_message()
    names = {c["name"]: c for c in components}
    assert set(names) == {"core/Repeat", "core/Drop", "core/Output"}
    assert names["core/Repeat"]["inPorts"] == [{"id": "in", "type": "all"}]
    assert [p["id"] for p in names["core/Repeat"]["outPorts"]] == ["out", "error"]
    assert ready == {
        "protocol": "component",
        "command": "componentsready",
        "payload": 3,
        "responseTo": "r",
    }


async def test_getsource_gives_a_component_source_and_language() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        source = await client.request("component", "getsource", {"name": "core/Repeat"})
        with pytest.raises(FbpRefused, match="no component 'nope'"):
            await client.request("component", "getsource", {"name": "nope"})
    assert source["name"] == "Repeat" and source["library"] == "core"
    assert source["language"] == "python"
    assert 'send("out", message)' in source["code"]


async def test_a_component_from_source_text_runs_in_the_runtime_of_its_language() -> None:
    code = (
        "# inports: a\n# outports: b\n"
        "def handle(message, context, send):\n    send('b', -message)\n"
    )
    flow = {
        "id": "neg",
        "processes": {"n": {"component": "mine/Negate"}},
        "inports": {"x": {"process": "n", "port": "a"}},
        "outports": {"y": {"process": "n", "port": "b"}},
    }
    async with endpoint() as (runner, url), client_of(url) as client:
        payload = {"name": "Negate", "library": "mine", "language": "python", "code": code}
        component = await client.request("component", "source", payload)
        assert component["name"] == "mine/Negate"
        assert component["inPorts"] == [{"id": "a", "type": "all"}]
        await client.request("graph", "set", {"graph": flow})
        await client.request("network", "start", {"graph": "neg"})
        await client.request(
            "runtime", "packet", {"graph": "neg", "port": "x", "event": "data", "payload": 4}
        )
        packet = await next_of(client, "runtime", "packet")
    assert packet == {"port": "y", "event": "data", "payload": -4, "graph": "neg"}
    assert runner.get_flow("neg").modules["n"].runtime == "python"


async def test_a_component_in_a_language_no_runtime_runs_is_refused() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        payload = {"name": "x/Y", "language": "cobol", "code": "DISPLAY 'HI'."}
        with pytest.raises(FbpRefused, match="no runtime runs cobol here"):
            await client.request("component", "source", payload)


async def test_a_changed_component_updates_the_running_flows_that_use_it() -> None:
    flow = {
        "id": "uses",
        "processes": {"r": {"component": "core/Repeat"}},
        "inports": {"in": {"process": "r", "port": "in"}},
        "outports": {"out": {"process": "r", "port": "out"}},
    }
    plus_one = "def handle(message, context, send):\n    send('out', message + 1)\n"
    async with endpoint() as (runner, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": flow})
        await client.request("network", "start", {"graph": "uses"})
        source = {"name": "Repeat", "library": "core", "language": "python", "code": plus_one}
        await client.request("component", "source", source)
        await client.request(
            "runtime", "packet", {"graph": "uses", "port": "in", "event": "data", "payload": 1}
        )
        packet = await next_of(client, "runtime", "packet")
        assert packet["payload"] == 2
        broken = {**source, "code": "def handle(:\n"}
        with pytest.raises(FbpRefused, match="line 1"):
            await client.request("component", "source", broken)
        assert runner.components["core/Repeat"].sources["python"] == plus_one


async def test_the_network_starts_an_edited_graph_and_reports_its_edges_data() -> None:
    async with endpoint() as (runner, url), client_of(url) as client:
        await client.request("graph", "clear", {"id": "bar", "main": True})
        await client.request(
            "graph", "addnode", {"graph": "bar", "id": "Hello", "component": "core/Repeat"}
        )
        await client.request(
            "graph", "addnode", {"graph": "bar", "id": "World", "component": "core/Drop"}
        )
        edge = {"src": {"node": "Hello", "port": "out"}, "tgt": {"node": "World", "port": "in"}}
        await client.request("graph", "addedge", {"graph": "bar", **edge})
        iip = {"src": {"data": "Hello, world!"}, "tgt": {"node": "Hello", "port": "in"}}
        await client.request("graph", "addinitial", {"graph": "bar", **iip})
        await client.send("network", "start", {"graph": "bar"})
        started = await client.next_message()
        first, second = (
            await next_of(client, "network", "data"),
            await next_of(client, "network", "data"),
        )
        status = await client.request("network", "getstatus", {"graph": "bar"})
        assert set(runner.edge_routes("bar").values()) == {"runner"}
        stopped = await client.request("network", "stop", {"graph": "bar"})
    assert (started["command"], started["payload"]["graph"], started["payload"]["started"]) == (
        "started",
        "bar",
        True,
    )
    assert first == {
        "id": "DATA -> IN Hello()",
        "graph": "bar",
        "tgt": {"node": "Hello", "port": "in"},
        "data": "Hello, world!",
    }
    assert second == {
        "id": "Hello() OUT -> IN World()",
        "graph": "bar",
        **edge,
        "data": "Hello, world!",
    }
    assert status["started"] is True
    assert (stopped["started"], stopped["running"]) == (False, False)


async def test_network_edges_narrows_the_data_and_debug_false_stops_it() -> None:
    document = {
        "id": "two",
        "processes": {
            "a": {"component": "core/Repeat"},
            "b": {"component": "core/Repeat"},
            "c": {"component": "core/Drop"},
        },
        "connections": [
            {"src": {"process": "a", "port": "out"}, "tgt": {"process": "b", "port": "in"}},
            {"src": {"process": "b", "port": "out"}, "tgt": {"process": "c", "port": "in"}},
        ],
        "inports": {"in": {"process": "a", "port": "in"}},
    }
    b_to_c = {"src": {"node": "b", "port": "out"}, "tgt": {"node": "c", "port": "in"}}
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": document})
        await client.request("network", "edges", {"graph": "two", "edges": [b_to_c]})
        await client.request("network", "start", {"graph": "two"})
        packet = {"graph": "two", "port": "in", "event": "data", "payload": 7}
        await client.request("runtime", "packet", packet)
        data = await next_of(client, "network", "data")
        assert data["id"] == "b() OUT -> IN c()"
        await client.request("network", "debug", {"graph": "two", "enable": False})
        await client.request("runtime", "packet", {**packet, "payload": 8})
        status = await client.request("network", "getstatus", {"graph": "two"})
        assert status["graph"] == "two"
        assert all(m["command"] != "data" for m in client._waiting)


async def test_an_edit_of_a_running_graph_is_a_hot_update_or_is_refused() -> None:
    async with endpoint() as (runner, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        await client.request("network", "start", {"graph": "double"})
        meta = {"source": PY_DOUBLE.replace("* 2", "* 3")}
        await client.request(
            "graph", "changenode", {"graph": "double", "id": "double", "metadata": meta}
        )
        packet = {"graph": "double", "port": "numbers", "event": "data", "payload": 5}
        await client.request("runtime", "packet", packet)
        assert (await next_of(client, "runtime", "packet"))["payload"] == 15
        bad = {"graph": "double", "id": "double", "metadata": {"runtime": "cobol"}}
        with pytest.raises(FbpRefused, match='unknown runtime "cobol"') as refused:
            await client.request("graph", "changenode", bad)
        assert refused.value.payload["problems"][0]["module"] == "double"
        listed = (await client.request("graph", "list"))["graphs"]
        assert runner.get_flow("double").modules["double"].runtime == "python"
    assert listed == [{"id": "double", "revision": 1, "state": "running", "deployed": True}]


async def test_packets_go_into_exported_inputs_and_come_out_of_exported_outputs() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        await client.request("network", "start", {"graph": "double"})
        packet = {"graph": "double", "port": "numbers", "event": "data", "payload": [1]}
        sent = await client.request("runtime", "packet", packet)
        out = await next_of(client, "runtime", "packet")
        with pytest.raises(FbpRefused, match="no exported input 'nope'"):
            await client.request("runtime", "packet", {**packet, "port": "nope"})
    assert sent == {"port": "numbers", "event": "data", "graph": "double", "payload": [1]}
    assert out == {"port": "doubled", "event": "data", "payload": [1, 1], "graph": "double"}


async def network_event_of_one_packet(source: str, graph: str, command: str) -> dict[str, Any]:
    """Run ``source`` as the double flow's module, send it 1: the next ``network:command``."""
    document = double_flow(graph)
    document["processes"]["double"]["metadata"]["source"] = source
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": document})
        await client.request("network", "start", {"graph": graph})
        packet = {"graph": graph, "port": "numbers", "event": "data", "payload": 1}
        await client.request("runtime", "packet", packet)
        return await next_of(client, "network", command)


async def test_a_module_that_raises_is_a_processerror() -> None:
    source = "def handle(message, context, send):\n    raise ValueError('no ' + str(message))\n"
    error = await network_event_of_one_packet(source, "fails", "processerror")
    assert error["id"] == "double" and error["graph"] == "fails"
    assert "no 1" in error["error"]


async def test_what_a_module_prints_is_a_network_output() -> None:
    source = "def handle(message, context, send):\n    print('seen', message)\n"
    output = await network_event_of_one_packet(source, "talks", "output")
    assert output == {"message": "[talks/double] seen 1", "type": "message"}


async def test_start_and_stop_answer_and_refuse_as_the_state_says() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        with pytest.raises(FbpRefused, match="Requested graph not found"):
            await client.request("network", "start", {"graph": "nope"})
        await client.request("graph", "set", {"graph": double_flow()})
        stopped = await client.request("network", "stop", {"graph": "double"})
        started = await client.request("network", "start", {"graph": "double"})
        with pytest.raises(FbpRefused, match="running already"):
            await client.request("network", "start", {"graph": "double"})
    assert stopped["started"] is False
    assert started["started"] is True


async def test_a_message_that_is_not_json_is_answered_with_an_error() -> None:
    async with endpoint() as (_, url), websocket.connect(url) as ws:
        await ws.send_message("{nope")
        answer = orjson.loads(await ws.get_message())
        await ws.send_message('{"protocol": "trace", "command": "rewind", "payload": {}}')
        unknown = orjson.loads(await ws.get_message())
    assert (answer["protocol"], answer["command"]) == ("runtime", "error")
    assert answer["payload"]["message"].startswith("not JSON")
    assert (
        unknown["command"] == "error"
        and "unknown command trace:rewind" in unknown["payload"]["message"]
    )


ODD_VALUES = [None, 1, [], {"a": []}, "", "x"]


async def test_odd_payloads_are_answered_and_the_endpoint_goes_on() -> None:
    keys = ["graph", "id", "node", "port", "public", "src", "tgt", "edges", "enable", "name"]
    keys += ["component", "metadata", "from", "to", "event", "payload", "language", "code"]
    reasons: list[str] = []
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        commands = _command_names()
        for protocol, command in commands:
            for value, graph in itertools.product(ODD_VALUES, (None, "double")):
                payload = dict.fromkeys(keys, value)
                if graph is not None:
                    payload["graph"] = graph
                try:
                    await client.request(protocol, command, payload)
                except FbpRefused as exc:
                    reasons.append(f"{protocol}:{command} {value!r}: {exc.reason}")
        assert (await client.request("runtime", "getruntime"))["type"] == "trio-launcher"
    assert [reason for reason in reasons if "internal error" in reason] == []


def _command_names() -> list[tuple[str, str]]:
    from trio_launcher.flows.fbp.graph_commands import GRAPH_HANDLERS
    from trio_launcher.flows.fbp.network_commands import NETWORK_HANDLERS

    names = [("graph", c) for c in GRAPH_HANDLERS if c not in ("clear", "delete")]
    names += [("network", c) for c in NETWORK_HANDLERS if c != "step"]
    names += [("runtime", "packet"), ("component", "getsource"), ("component", "source")]
    return names
