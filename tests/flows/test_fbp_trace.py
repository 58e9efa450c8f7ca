"""The FBP ``trace`` protocol: a graph's network messages recorded, bounded, dumped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
from fbp_helpers import PY_DOUBLE, client_of, double_flow, endpoint, next_of
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.flows.core import EdgeData
from trio_launcher.flows.fbp.client import FbpClient, FbpRefused
from trio_launcher.flows.fbp.traces import Trace


async def send_and_see(client: FbpClient, graph: str, value: object) -> None:
    """Send ``value`` into the graph's ``numbers`` and wait for its ``network:data``."""
    packet = {"graph": graph, "port": "numbers", "event": "data", "payload": value}
    await client.request("runtime", "packet", packet)
    await next_of(client, "network", "data")


async def dump(client: FbpClient, graph: str) -> dict[str, Any]:
    answer = await client.request("trace", "dump", {"graph": graph, "type": "flowtrace.json"})
    assert answer["graph"] == graph and answer["type"] == "flowtrace.json"
    flowtrace: dict[str, Any] = orjson.loads(answer["flowtrace"])
    return flowtrace


async def test_a_trace_holds_the_graph_and_its_messages_while_it_records() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        assert "protocol:trace" in (await client.request("runtime", "getruntime"))["capabilities"]
        await client.request("graph", "set", {"graph": double_flow()})
        assert await client.request("trace", "start", {"graph": "double"}) == {"graph": "double"}
        await client.request("network", "start", {"graph": "double"})
        for value in (1, 2, 3):
            await send_and_see(client, "double", value)
        await client.request("trace", "stop", {"graph": "double"})
        await send_and_see(client, "double", 4)
        flowtrace = await dump(client, "double")
        await client.request("trace", "clear", {"graph": "double"})
        cleared = await dump(client, "double")
    events = flowtrace["events"]
    assert [event["command"] for event in events] == ["started", "data", "data", "data"]
    assert [event["payload"]["data"] for event in events[1:]] == [1, 2, 3]
    assert {(event["protocol"], event["graph"]) for event in events} == {("network", "double")}
    assert all(event["time"] for event in events)
    header = flowtrace["header"]
    assert header["main"] == "double"
    assert header["graphs"]["double"]["processes"]["double"]["metadata"]["source"] == PY_DOUBLE
    assert header["metadata"]["start"] <= header["metadata"]["end"]
    assert cleared["events"] == []


async def test_a_traced_flow_reports_the_messages_of_its_inner_edges() -> None:
    document = {
        "id": "pair",
        "processes": {
            name: {"component": name, "metadata": {"source": PY_DOUBLE, "runtime": "python"}}
            for name in ("a", "b")
        },
        "connections": [
            {"src": {"process": "a", "port": "out"}, "tgt": {"process": "b", "port": "in"}}
        ],
        "inports": {"in": {"process": "a", "port": "in"}},
        "outports": {"out": {"process": "b", "port": "out"}},
    }
    async with endpoint() as (runner, url), client_of(url) as client, runner.events() as events:
        await runner.add_or_update_flow(document)
        await runner.start_flow("pair")
        await client.request("trace", "start", {"graph": "pair"})
        await runner.send("pair", "in", 1)
        with trio.fail_after(10):
            while True:  # only a tapped flow reports its inner edge's messages
                event = await events.receive()
                if isinstance(event, EdgeData) and event.src == ("a", "out"):
                    break
    assert (event.tgt, orjson.loads(event.body)) == (("b", "in"), 2)


@pytest.mark.parametrize(
    ("command", "payload", "reason"),
    [
        ("dump", {"graph": "double", "type": "flowtrace.json"}, "has no trace"),
        ("start", {"graph": "nope"}, "Requested graph not found"),
        ("start", {"graph": "double", "buffersize": 0}, "buffersize is a number of bytes"),
        ("stop", {}, "No graph specified"),
    ],
)
async def test_what_cannot_be_traced_is_refused_with_the_reason(
    command: str, payload: dict[str, Any], reason: str
) -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        with pytest.raises(FbpRefused, match=reason):
            await client.request("trace", command, payload)


async def test_a_dump_of_an_unknown_type_is_refused() -> None:
    async with endpoint() as (_, url), client_of(url) as client:
        await client.request("graph", "set", {"graph": double_flow()})
        await client.request("trace", "start", {"graph": "double"})
        with pytest.raises(FbpRefused, match=r"unknown trace type 'flowtrace\.xml'"):
            await client.request("trace", "dump", {"graph": "double", "type": "flowtrace.xml"})


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
    buffersize=st.integers(min_value=1, max_value=3000),
)
def test_a_trace_keeps_the_newest_events_that_fit_its_buffer(
    sizes: list[int], buffersize: int
) -> None:
    trace = Trace("g", buffersize)
    for n, size in enumerate(sizes):
        trace.record("data", {"n": n, "pad": "x" * size})
    kept = [event["payload"]["n"] for event in orjson.loads(trace.dump(None, "r"))["events"]]
    assert kept == list(range(len(sizes) - len(kept), len(sizes)))  # the newest, in order
    encoded = [len(orjson.dumps(e)) for e in orjson.loads(trace.dump(None, "r"))["events"]]
    assert sum(encoded) <= buffersize
    if len(kept) < len(sizes):  # the one before them would not have fitted
        dropped = len(sizes) - len(kept) - 1
        probe = Trace("g", 1 << 30)
        probe.record("data", {"n": dropped, "pad": "x" * sizes[dropped]})
        one = len(orjson.dumps(orjson.loads(probe.dump(None, "r"))["events"][0]))
        assert sum(encoded) + one > buffersize
