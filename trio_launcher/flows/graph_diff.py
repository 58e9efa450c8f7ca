"""What changed from one revision of a flow to the next: the plan of a hot update.

Pure: :func:`diff_flows` compares two :class:`~.graph.Flow` objects. Modules are
matched by id, edges by their two ends, initial packets by their port and data,
exported ports by name. A module's other metadata (an editor's ``x`` and ``y``)
and an edge's other metadata are not changes: nothing has to be done for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import attrs

from trio_launcher.flows.graph import Edge, ExportedPort, Flow, InitialPacket, Module

__all__ = ["MODULE_FIELDS", "EdgeChange", "FlowDiff", "ModuleChange", "diff_flows"]

#: The fields of a module whose change the runner acts on, as :class:`ModuleChange` names them.
MODULE_FIELDS = ("component", "source", "runtime", "inports", "outports", "timeout", "deps")


@attrs.frozen
class ModuleChange:
    """A module in both revisions, with the :data:`MODULE_FIELDS` that differ."""

    module: str
    fields: frozenset[str]

    @property
    def runtime_changed(self) -> bool:
        """Whether the module moves to another runtime (a new process, not a reload)."""
        return "runtime" in self.fields


@attrs.frozen
class EdgeChange:
    """An edge in both revisions (same ends) whose bound changed."""

    old: Edge
    new: Edge


@attrs.frozen
class FlowDiff:
    """Everything that differs between two revisions; :attr:`is_empty` if nothing does."""

    modules_added: frozenset[str] = frozenset()
    modules_removed: frozenset[str] = frozenset()
    modules_changed: Mapping[str, ModuleChange] = attrs.field(factory=dict)
    modules_unchanged: frozenset[str] = frozenset()
    edges_added: frozenset[Edge] = frozenset()
    edges_removed: frozenset[Edge] = frozenset()
    edges_changed: tuple[EdgeChange, ...] = ()
    initial_packets_added: tuple[InitialPacket, ...] = ()
    initial_packets_removed: tuple[InitialPacket, ...] = ()
    inports_changed: frozenset[str] = frozenset()
    outports_changed: frozenset[str] = frozenset()

    @property
    def runtime_changed(self) -> frozenset[str]:
        """The changed modules that move to another runtime."""
        changes = self.modules_changed.values()
        return frozenset(change.module for change in changes if change.runtime_changed)

    @property
    def is_empty(self) -> bool:
        """Whether the two revisions are the same flow for the runner."""
        return not (
            self.modules_added
            or self.modules_removed
            or self.modules_changed
            or self.edges_added
            or self.edges_removed
            or self.edges_changed
            or self.initial_packets_added
            or self.initial_packets_removed
            or self.inports_changed
            or self.outports_changed
        )


def diff_flows(old: Flow, new: Flow) -> FlowDiff:
    """What changed from ``old`` to ``new``."""
    both = old.modules.keys() & new.modules.keys()
    changed = {}
    for key in both:
        fields = _changed_fields(old.modules[key], new.modules[key])
        if fields:
            changed[key] = ModuleChange(key, fields)
    old_edges = {edge.key: edge for edge in old.edges}
    new_edges = {edge.key: edge for edge in new.edges}
    return FlowDiff(
        modules_added=frozenset(new.modules.keys() - old.modules.keys()),
        modules_removed=frozenset(old.modules.keys() - new.modules.keys()),
        modules_changed=changed,
        modules_unchanged=frozenset(both - changed.keys()),
        edges_added=frozenset(new_edges[key] for key in new_edges.keys() - old_edges.keys()),
        edges_removed=frozenset(old_edges[key] for key in old_edges.keys() - new_edges.keys()),
        edges_changed=tuple(
            EdgeChange(old_edges[key], edge)
            for key, edge in new_edges.items()
            if key in old_edges and old_edges[key] != edge
        ),
        initial_packets_added=_packets_beyond(new.initial_packets, old.initial_packets),
        initial_packets_removed=_packets_beyond(old.initial_packets, new.initial_packets),
        inports_changed=_exports_changed(old.inports, new.inports),
        outports_changed=_exports_changed(old.outports, new.outports),
    )


def _changed_fields(old: Module, new: Module) -> frozenset[str]:
    return frozenset(field for field in MODULE_FIELDS if getattr(old, field) != getattr(new, field))


def _packets_beyond(
    packets: tuple[InitialPacket, ...], others: tuple[InitialPacket, ...]
) -> tuple[InitialPacket, ...]:
    """The packets of ``packets`` that ``others`` does not have (as many times)."""
    unmatched = Counter(packet.key for packet in others)
    beyond = []
    for packet in packets:
        if unmatched[packet.key]:
            unmatched[packet.key] -= 1
        else:
            beyond.append(packet)
    return tuple(beyond)


def _exports_changed(
    old: Mapping[str, ExportedPort], new: Mapping[str, ExportedPort]
) -> frozenset[str]:
    """The public names added, removed or pointed at another port."""
    return frozenset(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
