"""The graphs FBP clients edit: graph:* commands on fbp-graph documents (no runner)."""

from __future__ import annotations

import pytest

from trio_launcher.flows.fbp.graphs import GraphStore, new_graph
from trio_launcher.flows.fbp.messages import Refused


def store_with_graph() -> GraphStore:
    store = GraphStore()
    document, answer = new_graph({"id": "g", "name": "G", "main": True, "baseDir": "/x"})
    assert answer == {"id": "g", "name": "G", "main": True}
    store.put(document)
    return store


def apply(store: GraphStore, command: str, **payload: object) -> list[tuple[str, dict]]:
    document, answers = store.edited(command, {"graph": "g", **payload})
    store.put(document)
    return answers


def a_chain(store: GraphStore) -> None:
    apply(store, "addnode", id="a", component="core/Repeat", metadata={"x": 1})
    apply(store, "addnode", id="b", component="core/Drop")
    apply(store, "addedge", src={"node": "a", "port": "out"}, tgt={"node": "b", "port": "in"})
    apply(store, "addinitial", src={"data": "hi"}, tgt={"node": "a", "port": "in"})
    apply(store, "addinport", public="in", node="a", port="in")
    apply(store, "addoutport", public="out", node="b", port="out")


def test_nodes_edges_and_initial_packets_become_an_fbp_graph_document() -> None:
    store = store_with_graph()
    a_chain(store)
    document = store.get("g")
    assert document["processes"]["a"] == {"component": "core/Repeat", "metadata": {"x": 1}}
    assert document["connections"] == [
        {
            "src": {"process": "a", "port": "out"},
            "tgt": {"process": "b", "port": "in"},
            "metadata": {},
        },
        {"data": "hi", "tgt": {"process": "a", "port": "in"}, "metadata": {}},
    ]
    assert document["inports"] == {"in": {"process": "a", "port": "in"}}
    assert document["revision"] == 6


def test_removing_a_node_removes_and_answers_what_touched_it() -> None:
    store = store_with_graph()
    a_chain(store)
    answers = apply(store, "removenode", id="a")
    assert answers == [
        ("removeedge", {"src": {"node": "a", "port": "out"}, "tgt": {"node": "b", "port": "in"}}),
        ("removeinitial", {"src": {"data": "hi"}, "tgt": {"node": "a", "port": "in"}}),
        ("removeinport", {"public": "in"}),
        ("removenode", {"id": "a"}),
    ]
    assert store.get("g")["connections"] == []


def test_a_renamed_node_is_renamed_in_edges_ports_and_groups() -> None:
    store = store_with_graph()
    a_chain(store)
    apply(store, "addgroup", name="grp", nodes=["a", "b"])
    assert apply(store, "renamenode", **{"from": "a", "to": "z"}) == [
        ("renamenode", {"from": "a", "to": "z"})
    ]
    document = store.get("g")
    assert list(document["processes"]) == ["z", "b"]
    assert document["connections"][0]["src"]["process"] == "z"
    assert document["inports"]["in"]["process"] == "z"
    assert document["groups"][0]["nodes"] == ["z", "b"]


def test_metadata_is_merged_and_null_removes_a_key() -> None:
    store = store_with_graph()
    a_chain(store)
    apply(store, "changenode", id="b", metadata={"sort": 1})
    apply(store, "changenode", id="b", metadata={"tag": "t"})
    assert apply(store, "changenode", id="b", metadata={"sort": None}) == [
        ("changenode", {"id": "b", "metadata": {"tag": "t"}})
    ]
    edge = {"src": {"node": "a", "port": "out"}, "tgt": {"node": "b", "port": "in"}}
    assert apply(store, "changeedge", **edge, metadata={"route": 5}) == [
        ("changeedge", {**edge, "metadata": {"route": 5}})
    ]


def test_an_initial_packet_is_removed_by_its_target_and_answered_with_its_data() -> None:
    store = store_with_graph()
    a_chain(store)
    answers = apply(store, "removeinitial", tgt={"node": "a", "port": "in"})
    assert answers == [
        ("removeinitial", {"src": {"data": "hi"}, "tgt": {"node": "a", "port": "in"}})
    ]


def test_exported_ports_are_renamed_and_removed() -> None:
    store = store_with_graph()
    a_chain(store)
    assert apply(store, "renameinport", **{"from": "in", "to": "input"}) == [
        ("renameinport", {"from": "in", "to": "input"})
    ]
    assert apply(store, "removeoutport", public="out") == [("removeoutport", {"public": "out"})]
    document = store.get("g")
    assert document["inports"] == {"input": {"process": "a", "port": "in"}}
    assert document["outports"] == {}


def test_groups_are_added_renamed_changed_and_removed() -> None:
    store = store_with_graph()
    a_chain(store)
    apply(store, "addgroup", name="grp", nodes=["a"], metadata={"description": "d"})
    apply(store, "renamegroup", **{"from": "grp", "to": "g2"})
    assert apply(store, "changegroup", name="g2", metadata={"colour": 1}) == [
        ("changegroup", {"name": "g2", "metadata": {"description": "d", "colour": 1}})
    ]
    assert apply(store, "removegroup", name="g2") == [("removegroup", {"name": "g2"})]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"id": "n", "component": "c"}, "No graph specified"),
        ({"id": "n", "component": "c", "graph": "other"}, "Requested graph not found"),
    ],
)
def test_a_command_without_its_graph_is_refused_as_the_protocol_says(
    payload: dict, message: str
) -> None:
    with pytest.raises(Refused, match=message):
        store_with_graph().edited("addnode", payload)


@pytest.mark.parametrize(
    ("command", "payload", "message"),
    [
        ("addnode", {"id": "a", "component": "c"}, "node a exists"),
        (
            "addedge",
            {"src": {"node": "x", "port": "out"}, "tgt": {"node": "b", "port": "in"}},
            "node not found: x",
        ),
        (
            "removeedge",
            {"src": {"node": "b", "port": "out"}, "tgt": {"node": "a", "port": "in"}},
            "edge not found",
        ),
        ("removeinitial", {"tgt": {"node": "b", "port": "in"}}, "initial packet not found"),
        ("removeinport", {"public": "nope"}, "port not found: nope"),
        ("addinitial", {"src": "hi", "tgt": {"node": "a", "port": "in"}}, "src must be"),
        ("changenode", {"id": "a", "metadata": []}, "metadata must be an object"),
    ],
)
def test_a_wrong_edit_is_refused_and_changes_nothing(
    command: str, payload: dict, message: str
) -> None:
    store = store_with_graph()
    a_chain(store)
    before = store.get("g")
    with pytest.raises(Refused, match=message):
        store.edited(command, {"graph": "g", **payload})
    assert store.get("g") == before
