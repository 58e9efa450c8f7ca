"""Whatever it is given, parse_flow answers a Flow or InvalidFlow; a flow's document reads back."""

from __future__ import annotations

import copy
import json
from typing import Any

from flow_documents import JSON_VALUES, flow_documents, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_launcher.flows.errors import InvalidFlow

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path = tuple[str | int, ...]


def _paths(value: object, path: Path = ()) -> list[Path]:
    """Every place in a document: each object key and array index, nested."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _parse_or_refuse(document: object) -> None:
    try:
        parse(document)
    except InvalidFlow as invalid:
        assert invalid.problems
        assert all(isinstance(problem.path, str) for problem in invalid.problems)


@FUZZ
@given(document=JSON_VALUES)
def test_any_json_value_is_refused_with_problems(document: object) -> None:
    _parse_or_refuse(document)
    _parse_or_refuse(json.dumps(document))


@FUZZ
@given(text=st.text(max_size=40) | st.binary(max_size=40))
def test_any_text_or_bytes_is_refused_with_problems(text: str | bytes) -> None:
    _parse_or_refuse(text)


@FUZZ
@given(data=st.data(), document=flow_documents())
def test_a_valid_document_changed_anywhere_is_a_flow_or_problems(
    data: st.DataObject, document: dict[str, Any]
) -> None:
    changed = copy.deepcopy(document)
    path = data.draw(st.sampled_from(_paths(changed)))
    parent: Any = changed
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(
            JSON_VALUES | st.sampled_from([float("nan"), object(), (), {1: "x"}, 10**400])
        )
    else:
        del parent[path[-1]]
    _parse_or_refuse(changed)


@FUZZ
@given(document=flow_documents())
def test_a_flow_reads_back_from_its_document(document: dict[str, Any]) -> None:
    flow = parse(document)
    again = parse(flow.to_document())
    assert again == flow
    assert again.to_document() == flow.to_document()
    assert parse(json.dumps(flow.to_document())) == flow
