"""Every problem a flow document can have, named by its field and module, all at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flow_documents import RUNTIMES, orders, parse, problems_of

from trio_launcher.flows.components import Component, ComponentLibrary
from trio_launcher.flows.errors import InvalidFlow, Problem
from trio_launcher.flows.validation import parse_flow

Document = dict[str, Any]


def _processes(document: Document) -> Document:
    processes: Document = document["processes"]
    return processes


def _double(document: Document) -> Document:
    metadata: Document = document["processes"]["double"]["metadata"]
    return metadata


def _wire(document: Document) -> Document:
    wire: Document = document["connections"][0]
    return wire


def _set(
    where: Callable[[Document], Document], key: str, value: object
) -> Callable[[Document], None]:
    return lambda document: where(document).__setitem__(key, value)


def _delete(where: Callable[[Document], Document], key: str) -> Callable[[Document], None]:
    return lambda document: where(document).__delitem__(key)


def _port(end: str, key: str, value: str) -> Callable[[Document], None]:
    return lambda document: _wire(document)[end].__setitem__(key, value)


def _append(connection: Document) -> Callable[[Document], None]:
    return lambda document: document["connections"].append(connection)


def _top(key: str, value: object) -> Callable[[Document], None]:
    return lambda document: document.__setitem__(key, value)


IIP_TO_NOWHERE = {"data": 1, "tgt": {"process": "nowhere", "port": "in"}}
IN = "inputs: in"
CASES = [
    (
        "no processes",
        _delete(lambda d: d, "processes"),
        "processes",
        "a flow needs processes",
        None,
    ),
    ("empty processes", _top("processes", {}), "processes", "at least one process", None),
    ("processes not an object", _top("processes", []), "processes", "JSON object is needed", None),
    ("bad flow id", _top("id", "a/b"), "id", "a flow id is 1 to 128 of", None),
    ("long flow id", _top("id", "x" * 129), "id", "a flow id is 1 to 128 of", None),
    ("bad revision", _top("revision", -1), "revision", "whole number >= 0", None),
    (
        "properties not an object",
        _top("properties", "x"),
        "properties",
        'a JSON object is needed here, not "x"',
        None,
    ),
    (
        "process not an object",
        _set(_processes, "double", 3),
        "processes.double",
        "a JSON object is needed here, not 3",
        "double",
    ),
    (
        "process without component",
        lambda d: d["processes"]["show"].pop("component"),
        "processes.show.component",
        "missing: a non-empty string is needed here",
        "show",
    ),
    (
        "unknown component without source",
        lambda d: d["processes"]["show"].__setitem__("component", "core/Nope"),
        "processes.show.component",
        'unknown component "core/Nope" and no metadata.source (library: core/Drop,',
        "show",
    ),
    (
        "source not a string",
        _set(_double, "source", ["print(1)"]),
        "processes.double.metadata.source",
        "source text (a string) is needed",
        "double",
    ),
    (
        "missing runtime",
        _delete(_double, "runtime"),
        "processes.double.metadata.runtime",
        "no runtime: give one of: node, python",
        "double",
    ),
    (
        "unknown runtime",
        _set(_double, "runtime", "go"),
        "processes.double.metadata.runtime",
        'unknown runtime "go" (known: node, python)',
        "double",
    ),
    (
        "metadata not an object",
        lambda d: d["processes"]["double"].__setitem__("metadata", [1]),
        "processes.double.metadata",
        "a JSON object is needed here, not [1]",
        "double",
    ),
    (
        "ports not a list",
        _set(_double, "inports", "in"),
        "processes.double.metadata.inports",
        "a list of port names",
        "double",
    ),
    (
        "empty port name",
        _set(_double, "outports", [""]),
        "processes.double.metadata.outports",
        "a list of port names",
        "double",
    ),
    (
        "port named twice",
        _set(_double, "outports", ["out", "out"]),
        "processes.double.metadata.outports",
        "a port is named more than once: out",
        "double",
    ),
    (
        "timeout zero",
        _set(_double, "timeout", 0),
        "processes.double.metadata.timeout",
        "a number of seconds > 0 is needed, not 0",
        "double",
    ),
    (
        "timeout a string",
        _set(_double, "timeout", "30"),
        "processes.double.metadata.timeout",
        'not "30"',
        "double",
    ),
    (
        "connection to an unknown process",
        _port("tgt", "process", "nowhere"),
        "connections[0].tgt.process",
        'unknown process "nowhere" (processes: double, show)',
        None,
    ),
    (
        "connection to an unknown port",
        _port("tgt", "port", "nope"),
        "connections[0].tgt.port",
        'module show has no port "nope" (inputs: in; outputs: out, error)',
        "show",
    ),
    (
        "src port not an output",
        _port("src", "port", "in"),
        "connections[0].src.port",
        '"in" is an input port of double: an output port is needed here (outputs: out, error)',
        "double",
    ),
    (
        "tgt port not an input",
        _port("tgt", "port", "out"),
        "connections[0].tgt.port",
        f'"out" is an output port of show: an input port is needed here ({IN})',
        "show",
    ),
    (
        "connection without tgt",
        _delete(_wire, "tgt"),
        "connections[0].tgt",
        "a JSON object is needed here, not null",
        None,
    ),
    (
        "connection without src or data",
        _delete(_wire, "src"),
        "connections[0]",
        "a connection needs src (or data, for an initial packet)",
        None,
    ),
    (
        "connection port not a string",
        _port("src", "port", 7),  # type: ignore[arg-type]
        "connections[0].src.port",
        "a non-empty string is needed here, not 7",
        "double",
    ),
    (
        "maxMessages zero",
        lambda d: _wire(d)["metadata"].__setitem__("maxMessages", 0),
        "connections[0].metadata.maxMessages",
        "a whole number >= 1 is needed, not 0",
        None,
    ),
    (
        "maxBytes not whole",
        lambda d: _wire(d)["metadata"].__setitem__("maxBytes", 1.5),
        "connections[0].metadata.maxBytes",
        "a whole number >= 1 is needed, not 1.5",
        None,
    ),
    (
        "duplicate connection",
        lambda d: d["connections"].append(_wire(d)),
        "connections[2]",
        "duplicates connections[0] (double.out -> show.in)",
        None,
    ),
    (
        "initial packet to an unknown process",
        _append(IIP_TO_NOWHERE),
        "connections[2].tgt.process",
        'unknown process "nowhere"',
        None,
    ),
    (
        "initial packet to an output port",
        _append({"data": 1, "tgt": {"process": "double", "port": "out"}}),
        "connections[2].tgt.port",
        '"out" is an output port of double',
        "double",
    ),
    (
        "initial packet with src too",
        _append({"data": 1, "src": {}, "tgt": {"process": "double", "port": "in"}}),
        "connections[2]",
        "src or data (an initial packet), not both",
        None,
    ),
    (
        "initial packet not JSON",
        _append({"data": float("nan"), "tgt": {"process": "double", "port": "in"}}),
        "connections[2].data",
        "must be a JSON value",
        None,
    ),
    (
        "connections not an array",
        _top("connections", {}),
        "connections",
        "a JSON array is needed here, not {}",
        None,
    ),
    (
        "exported inport to an unknown process",
        lambda d: d["inports"]["in"].__setitem__("process", "nowhere"),
        "inports.in.process",
        'unknown process "nowhere"',
        None,
    ),
    (
        "exported inport to an output port",
        lambda d: d["inports"]["in"].__setitem__("port", "out"),
        "inports.in.port",
        '"out" is an output port of double: an input port is needed here',
        "double",
    ),
    (
        "exported outport to an unknown port",
        lambda d: d["outports"]["out"].__setitem__("port", "nope"),
        "outports.out.port",
        'module show has no port "nope"',
        "show",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "message", "module"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_problem_names_its_field_and_module(
    change: Callable[[Document], None], path: str, message: str, module: str | None
) -> None:
    document = orders()
    change(document)
    problems = problems_of(document)
    assert [(problem.path, problem.module) for problem in problems] == [(path, module)]
    assert message in problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    document = orders()
    _double(document)["runtime"] = "go"
    _double(document)["timeout"] = -1
    _wire(document)["tgt"]["port"] = "nope"
    document["connections"].append(IIP_TO_NOWHERE)
    with pytest.raises(InvalidFlow) as raised:
        parse(document)
    assert [problem.path for problem in raised.value.problems] == [
        "processes.double.metadata.runtime",
        "processes.double.metadata.timeout",
        "connections[0].tgt.port",
        "connections[2].tgt.process",
    ]
    message = str(raised.value)
    assert message.startswith("invalid flow (4 problems):")
    assert all(str(problem) in message for problem in raised.value.problems)


def test_a_module_with_a_problem_is_still_known_to_the_connections() -> None:
    document = orders()
    _double(document)["runtime"] = "go"
    _wire(document)["src"]["port"] = "nope"
    assert [problem.path for problem in problems_of(document)] == [
        "processes.double.metadata.runtime",
        "connections[0].src.port",
    ]


def test_a_library_component_without_a_source_for_the_runtime_is_a_problem() -> None:
    library = ComponentLibrary([Component("core/Repeat", ("in",), ("out",), {"python": "x"})])
    with pytest.raises(InvalidFlow) as raised:
        parse_flow(orders(), runtimes=RUNTIMES, components=library)
    assert raised.value.problems == (
        Problem(
            "processes.show.metadata.runtime",
            "component core/Repeat has no source for runtime node (it has: python)",
            "show",
        ),
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"id": "x",\n "processes": {,}}', "line 2, column 16"),
        (b"[1, 2", "line 1, column 6"),
        ("", "line 1, column 1"),
    ],
)
def test_json_that_does_not_parse_is_one_problem_with_its_line_and_column(
    text: str | bytes, where: str
) -> None:
    (problem,) = problems_of(text)
    assert problem.path == ""
    assert problem.message.startswith("not JSON: ") and problem.message.endswith(where)


@pytest.mark.parametrize("document", [[], "[]", 3, None, "null", b'"flow"', object()])
def test_a_document_that_is_not_an_object_is_one_problem(document: object) -> None:
    (problem,) = problems_of(document)
    assert problem.message.startswith("a flow document must be a JSON object")


def test_json_nested_too_deeply_is_refused_before_it_is_parsed() -> None:
    (problem,) = problems_of("[" * 100_000)
    assert problem.message == "not JSON: JSON nested deeper than 512 levels"


def test_a_document_without_any_id_says_where_an_id_goes() -> None:
    document = orders()
    del document["id"]
    del document["properties"]
    (problem,) = problems_of(document)
    assert problem == Problem(
        "id", "the flow has no id: give id (or properties.id, or properties.name)"
    )


def test_odd_keys_are_quoted_in_paths() -> None:
    document = orders()
    document["processes"]["a.b c"] = {"metadata": {"runtime": "python"}}
    (problem,) = problems_of(document)
    assert (problem.path, problem.module) == ('processes["a.b c"].component', "a.b c")
