"""A flow as the core holds it: its modules, its edges and where its exported ports lead."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from .records import EdgeKey, EdgeRecord, ModuleRecord

if TYPE_CHECKING:
    from ..graph import Flow

__all__ = [
    "DEFAULT_INPORT_BOUND",
    "FlowRecord",
    "FlowState",
    "build_edges",
    "build_outport_edges",
]

#: The bound of an exported input port: messages and bytes a sender may have waiting.
DEFAULT_INPORT_BOUND = (1000, 8 * 1024 * 1024)


class FlowState(enum.Enum):
    """Whether a flow runs."""

    STOPPED = enum.auto()
    STARTING = enum.auto()  #: its modules are loading
    RUNNING = enum.auto()
    STOPPING = enum.auto()  #: its modules are draining


@attrs.define(eq=False, slots=True)
class FlowRecord:
    """One flow: the document it runs, and the runner's records for it."""

    flow: Flow
    modules: dict[str, ModuleRecord]
    edges: dict[EdgeKey, EdgeRecord]
    #: exported input port -> its edge (source None) to the module it feeds
    inports: dict[str, EdgeRecord]
    #: (module, output port) -> the exported output ports it feeds
    outports: dict[tuple[str, str], list[str]]
    #: exported output port -> what its readers have not taken yet (it bounds producers)
    outport_edges: dict[str, EdgeRecord] = attrs.field(factory=dict)
    state: FlowState = FlowState.STOPPED
    pause_all: bool = False
    updating: int | None = None  #: the revision a hot update is bringing in
    blocked: set[ModuleRecord] = attrs.field(factory=set)
    tapped: bool = False  #: every delivery is reported (:mod:`.taps`); no edge is local

    @property
    def id(self) -> str:
        return self.flow.id


def build_edges(
    flow: Flow, old: Mapping[EdgeKey, EdgeRecord]
) -> tuple[dict[EdgeKey, EdgeRecord], dict[str, EdgeRecord]]:
    """The flow's edges and exported inputs, keeping the records (and counts) of ``old``."""
    edges: dict[EdgeKey, EdgeRecord] = {}
    for edge in flow.edges:
        key: EdgeKey = (edge.src.module, edge.src.port, edge.tgt.module, edge.tgt.port)
        edges[key] = _record(flow.id, key, edge.max_messages, edge.max_bytes, old)
    inports: dict[str, EdgeRecord] = {}
    for name, exported in flow.inports.items():
        key = (None, name, exported.target.module, exported.target.port)
        inports[name] = _record(flow.id, key, *DEFAULT_INPORT_BOUND, old)
    return edges, inports


def build_outport_edges(flow: Flow, old: Mapping[str, EdgeRecord]) -> dict[str, EdgeRecord]:
    """An edge per exported output port (key ``(module, port, "", public name)``), old kept."""
    edges: dict[str, EdgeRecord] = {}
    for name, exported in flow.outports.items():
        key: EdgeKey = (exported.target.module, exported.target.port, "", name)
        record = old.get(name)
        edges[name] = (
            record
            if record is not None and record.key == key
            else EdgeRecord(flow.id, key, *DEFAULT_INPORT_BOUND)
        )
    return edges


def _record(
    flow: str, key: EdgeKey, max_messages: int, max_bytes: int, old: Mapping[EdgeKey, EdgeRecord]
) -> EdgeRecord:
    record = old.get(key)
    if record is None:
        return EdgeRecord(flow, key, max_messages, max_bytes)
    record.max_messages, record.max_bytes = max_messages, max_bytes
    return record
