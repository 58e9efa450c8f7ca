"""A valid flow document read into the model: defaults, kept fields, lookups, and back."""

from __future__ import annotations

import json

from flow_documents import DOUBLE_SOURCE, LIBRARY, orders, parse

from trio_launcher.flows.graph import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_MESSAGES,
    DEFAULT_TIMEOUT,
    Edge,
    Flow,
    InitialPacket,
    PortRef,
)


def test_the_worked_example_reads_into_modules_edges_packets_and_ports() -> None:
    flow = parse(orders())
    assert (flow.id, flow.revision, flow.properties) == ("orders", 3, {"name": "orders"})
    double, show = flow.modules["double"], flow.modules["show"]
    assert (double.runtime, double.source, double.from_library) == ("python", DOUBLE_SOURCE, False)
    assert (double.inports, double.outports, double.timeout) == (("in",), ("out",), 30)
    assert (show.component, show.runtime, show.from_library) == ("core/Repeat", "node", True)
    assert show.source == LIBRARY["core/Repeat"].sources["node"]
    assert flow.edges == (Edge(PortRef("double", "out"), PortRef("show", "in"), 1000, 8388608),)
    assert flow.initial_packets == (InitialPacket(PortRef("double", "in"), 21),)
    assert flow.inports["in"].target == PortRef("double", "in")
    assert flow.outports["out"].target == PortRef("show", "out")


def test_json_text_and_bytes_read_as_the_mapping_does() -> None:
    text = json.dumps(orders())
    assert parse(text) == parse(text.encode()) == parse(orders())


def test_absent_fields_take_their_defaults() -> None:
    document = orders()
    del document["revision"]
    del document["processes"]["double"]["metadata"]["inports"]
    del document["processes"]["double"]["metadata"]["outports"]
    del document["processes"]["double"]["metadata"]["timeout"]
    del document["connections"][0]["metadata"]
    flow = parse(document)
    double = flow.modules["double"]
    assert (flow.revision, double.inports, double.outports) == (0, ("in",), ("out",))
    assert (double.timeout, double.deps) == (DEFAULT_TIMEOUT, ())
    assert (flow.edges[0].max_messages, flow.edges[0].max_bytes) == (
        DEFAULT_MAX_MESSAGES,
        DEFAULT_MAX_BYTES,
    )


def test_the_flow_id_is_id_else_properties_id_else_properties_name() -> None:
    document = orders()
    document["properties"] = {"id": "by-properties", "name": "by-name"}
    assert parse(document).id == "orders"
    del document["id"]
    assert parse(document).id == "by-properties"
    del document["properties"]["id"]
    assert parse(document).id == "by-name"


def test_every_module_has_an_error_port_besides_its_outputs() -> None:
    flow = parse(orders())
    assert flow.modules["double"].output_ports == ("out", "error")
    assert parse_drop().modules["drop"].output_ports == ("error",)


def parse_drop() -> Flow:
    document = orders()
    document["processes"]["drop"] = {"component": "core/Drop", "metadata": {"runtime": "python"}}
    document["connections"].append(
        {"src": {"process": "double", "port": "error"}, "tgt": {"process": "drop", "port": "in"}}
    )
    return parse(document)


def test_an_error_port_may_be_wired_and_a_library_component_brings_its_ports() -> None:
    flow = parse_drop()
    drop = flow.modules["drop"]
    assert (drop.inports, drop.outports) == (("in",), ())
    assert [str(edge) for edge in flow.edges_from("double", "error")] == ["double.error -> drop.in"]


def test_unknown_keys_and_other_metadata_are_kept_as_they_are() -> None:
    document = orders()
    document["caseSensitive"] = False
    document["groups"] = [{"name": "g", "nodes": ["double"]}]
    metadata = document["processes"]["double"]["metadata"]
    metadata.update(deps=["attrs>=23"], x=10, y=20)
    document["connections"][0]["metadata"]["route"] = 5
    document["connections"][0]["src"]["index"] = 2
    flow = parse(document)
    assert flow.extra == {"caseSensitive": False, "groups": [{"name": "g", "nodes": ["double"]}]}
    assert [d.spec for d in flow.modules["double"].deps] == ["attrs>=23"]
    assert flow.modules["double"].metadata == {"x": 10, "y": 20}
    assert flow.edges[0].metadata == {"route": 5}
    assert flow.edges[0].src.index == 2
    assert parse(flow.to_document()).to_document() == flow.to_document()


def test_fan_in_fan_out_and_cycles_are_flows() -> None:
    document = orders()
    document["processes"]["again"] = {"component": "core/Repeat", "metadata": {"runtime": "python"}}
    wires = [("double", "again"), ("show", "double"), ("again", "show"), ("again", "double")]
    document["connections"] += [
        {"src": {"process": src, "port": "out"}, "tgt": {"process": tgt, "port": "in"}}
        for src, tgt in wires
    ]
    flow = parse(document)
    assert len(flow.edges_from("double", "out")) == 2
    assert sorted(edge.src.module for edge in flow.edges_into("double")) == ["again", "show"]
    assert flow.edges_into("nobody") == flow.edges_from("double", "nothing") == ()


def test_the_document_given_back_reads_as_the_same_flow() -> None:
    flow = parse(orders())
    document = flow.to_document()
    assert parse(document) == flow
    assert parse(json.dumps(document)) == flow
    assert document["processes"]["show"] == {
        "component": "core/Repeat",
        "metadata": {"runtime": "node", "timeout": DEFAULT_TIMEOUT},
    }
