"""What diff_flows says changed between two revisions of a flow."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flow_documents import flow_documents, orders, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_launcher.flows.graph import Flow, PortRef
from trio_launcher.flows.graph_diff import FlowDiff, ModuleChange, diff_flows

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _changed(change: dict[str, Any]) -> Flow:
    document = orders()
    for key, value in change.items():
        where: Any = document
        *parents, last = key.split("/")
        for part in parents:
            where = where[int(part)] if part.isdigit() else where[part]
        where[last] = value
    return parse(document)


OLD = parse(orders())
DOUBLE = "processes/double/metadata"


def test_the_same_flow_has_an_empty_diff() -> None:
    diff = diff_flows(OLD, parse(orders()))
    assert diff.is_empty
    assert diff.modules_unchanged == {"double", "show"}


def test_positions_and_other_metadata_are_no_change() -> None:
    new = _changed({f"{DOUBLE}/x": 4, "connections/0/metadata/route": 2, "properties/z": 1})
    assert diff_flows(OLD, new).is_empty


def test_a_changed_module_says_which_fields_changed() -> None:
    new = _changed(
        {f"{DOUBLE}/source": "x = 1", f"{DOUBLE}/timeout": 5, f"{DOUBLE}/deps": ["attrs"]}
    )
    diff = diff_flows(OLD, new)
    assert diff.modules_changed == {
        "double": ModuleChange("double", frozenset({"source", "timeout", "deps"}))
    }
    assert diff.modules_unchanged == {"show"}
    assert not diff.runtime_changed


def test_a_module_moved_to_another_runtime_is_a_runtime_change() -> None:
    diff = diff_flows(OLD, _changed({"processes/show/metadata/runtime": "python"}))
    change = diff.modules_changed["show"]
    assert change.fields == {"runtime", "source"}  # the library's source for the other runtime
    assert change.runtime_changed
    assert diff.runtime_changed == {"show"}


def test_modules_added_and_removed_with_their_edges() -> None:
    document = orders()
    del document["processes"]["show"]
    del document["outports"]
    document["processes"]["drop"] = {"component": "core/Drop", "metadata": {"runtime": "python"}}
    document["connections"][0]["tgt"]["process"] = "drop"
    diff = diff_flows(OLD, parse(document))
    assert (diff.modules_added, diff.modules_removed) == ({"drop"}, {"show"})
    assert [str(edge) for edge in diff.edges_added] == ["double.out -> drop.in"]
    assert [str(edge) for edge in diff.edges_removed] == ["double.out -> show.in"]
    assert diff.outports_changed == {"out"}


def test_an_edge_whose_bound_changed_is_changed_not_replaced() -> None:
    diff = diff_flows(OLD, _changed({"connections/0/metadata/maxMessages": 5}))
    (change,) = diff.edges_changed
    assert (change.old.max_messages, change.new.max_messages) == (1000, 5)
    assert not diff.edges_added and not diff.edges_removed


def test_initial_packets_added_and_removed_count_repeats() -> None:
    document = orders()
    document["connections"] += [{"data": 21, "tgt": {"process": "double", "port": "in"}}] * 2
    document["connections"][1]["data"] = {"b": 1, "a": [2]}
    diff = diff_flows(OLD, parse(document))
    assert [packet.data for packet in diff.initial_packets_added] == [{"b": 1, "a": [2]}, 21]
    assert diff.initial_packets_removed == ()
    assert [packet.data for packet in diff_flows(parse(document), OLD).initial_packets_removed] == [
        {"b": 1, "a": [2]},
        21,
    ]


def test_an_exported_port_pointed_elsewhere_is_changed() -> None:
    diff = diff_flows(OLD, _changed({"inports/in": {"process": "show", "port": "in"}}))
    assert (diff.inports_changed, diff.outports_changed) == ({"in"}, frozenset())


@FUZZ
@given(document=flow_documents())
def test_a_flow_has_no_diff_with_itself(document: dict[str, Any]) -> None:
    flow = parse(document)
    assert diff_flows(flow, parse(flow.to_document())) == FlowDiff(
        modules_unchanged=frozenset(flow.modules)
    )


SHARED_IDS = st.sampled_from(["a", "b", "c", "d"])


@FUZZ
@given(old=flow_documents(SHARED_IDS), new=flow_documents(SHARED_IDS))
def test_applying_the_diff_to_the_old_flow_gives_the_new_ones_modules_and_edges(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    a, b = parse(old), parse(new)
    diff = diff_flows(a, b)
    kept = set(a.modules) - diff.modules_removed
    assert kept | diff.modules_added == set(b.modules)
    assert kept == set(diff.modules_changed) | diff.modules_unchanged
    for key in diff.modules_unchanged:
        assert diff_flows(_only(a, key), _only(b, key)).is_empty
    edges = set(a.edges) - diff.edges_removed - {change.old for change in diff.edges_changed}
    assert edges | diff.edges_added | {change.new for change in diff.edges_changed} == set(b.edges)
    packets = [packet.key for packet in a.initial_packets]
    for packet in diff.initial_packets_removed:
        packets.remove(packet.key)
    packets += [packet.key for packet in diff.initial_packets_added]
    assert Counter(packets) == Counter(packet.key for packet in b.initial_packets)


def _only(flow: Flow, module: str) -> Flow:
    """``flow`` with nothing but ``module``."""
    return Flow(id=flow.id, modules={module: flow.modules[module]})


def test_edges_compare_by_their_ends_not_their_index() -> None:
    assert PortRef("a", "out", 0) == PortRef("a", "out", 1)
    assert hash(PortRef("a", "out", 0)) == hash(PortRef("a", "out"))
