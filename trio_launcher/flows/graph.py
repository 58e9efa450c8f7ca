"""A flow: modules in runtimes, the bounded edges between their ports, initial packets.

The model of a flow document (fbp-graph JSON), immutable, with no IO. It is
built from a document by :func:`trio_launcher.flows.validation.parse_flow`, which
checks it whole, and :meth:`Flow.to_document` gives the document back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .deps.declared import Declared, declared_document
from .deps.lock import InstalledLock
from .document_fields import canonical_json

__all__ = [
    "DEFAULT_INPORTS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_MESSAGES",
    "DEFAULT_OUTPORTS",
    "DEFAULT_TIMEOUT",
    "ERROR_PORT",
    "Edge",
    "ExportedPort",
    "Flow",
    "InitialPacket",
    "Module",
    "PortRef",
    "canonical_json",
    "with_error_port",
]

#: The output port every module has: where its failed invocations go, if wired.
ERROR_PORT = "error"
DEFAULT_INPORTS = ("in",)
DEFAULT_OUTPORTS = ("out",)
#: Seconds one invocation may run before its runtime is restarted.
DEFAULT_TIMEOUT = 30.0
#: An edge's bound: messages queued on it...
DEFAULT_MAX_MESSAGES = 1000
#: ... and the bytes of their bodies.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024

Document = dict[str, Any]


def with_error_port(outports: tuple[str, ...]) -> tuple[str, ...]:
    """Output ports ``outports`` and :data:`ERROR_PORT`, which every module has."""
    return outports if ERROR_PORT in outports else (*outports, ERROR_PORT)


@attrs.frozen
class PortRef:
    """A port of a module. ``index`` (fbp-graph's addressable ports) is kept, not used."""

    module: str
    port: str
    index: object = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        return f"{self.module}.{self.port}"

    def to_document(self) -> Document:
        """The fbp-graph form: ``{"process", "port"}`` (and ``index`` if it had one)."""
        document: Document = {"process": self.module, "port": self.port}
        if self.index is not None:
            document["index"] = self.index
        return document


@attrs.frozen
class Edge:
    """A connection from an output port to an input port, bounded in messages and bytes.

    ``metadata`` holds the connection's other metadata, as the document gave it;
    it is no part of the edge's identity.
    """

    src: PortRef
    tgt: PortRef
    max_messages: int = DEFAULT_MAX_MESSAGES
    max_bytes: int = DEFAULT_MAX_BYTES
    metadata: Mapping[str, object] = attrs.field(factory=dict, eq=False)

    @property
    def key(self) -> tuple[PortRef, PortRef]:
        """What makes two edges the same wire: their ends (a flow has each once)."""
        return (self.src, self.tgt)

    def __str__(self) -> str:
        return f"{self.src} -> {self.tgt}"

    def to_document(self) -> Document:
        """The fbp-graph connection, with its bound in ``metadata``."""
        metadata = {**self.metadata, "maxMessages": self.max_messages, "maxBytes": self.max_bytes}
        return {"src": self.src.to_document(), "tgt": self.tgt.to_document(), "metadata": metadata}


@attrs.frozen
class InitialPacket:
    """A message (any JSON value) sent to an input port when the flow starts (an IIP)."""

    tgt: PortRef
    data: object
    metadata: Mapping[str, object] = attrs.field(factory=dict, eq=False)

    @property
    def key(self) -> tuple[PortRef, str]:
        """Its port and its data as canonical JSON: equal packets have equal keys."""
        return (self.tgt, canonical_json(self.data))

    def to_document(self) -> Document:
        """The fbp-graph connection ``{"data", "tgt"}``."""
        document: Document = {"data": self.data, "tgt": self.tgt.to_document()}
        if self.metadata:
            document["metadata"] = dict(self.metadata)
        return document


@attrs.frozen
class ExportedPort:
    """A port of the flow (``inports``/``outports``): a module's port under a public name."""

    target: PortRef
    metadata: Mapping[str, object] = attrs.field(factory=dict, eq=False)

    def to_document(self) -> Document:
        """The fbp-graph form: ``{"process", "port"}`` and any metadata."""
        document = self.target.to_document()
        if self.metadata:
            document["metadata"] = dict(self.metadata)
        return document


@attrs.frozen
class Module:
    """A process of the flow: a function run in one runtime, with named ports.

    ``source`` is the module's own code, or its library component's source for
    ``runtime`` when ``from_library``. ``outports`` are the declared output ports;
    :attr:`output_ports` adds :data:`ERROR_PORT`. ``deps`` are the dependencies
    it declares; ``packages`` their lock and where it is installed, once the
    runner has installed them. ``metadata`` holds the other metadata keys.
    """

    id: str
    component: str
    runtime: str
    source: str
    inports: tuple[str, ...] = DEFAULT_INPORTS
    outports: tuple[str, ...] = DEFAULT_OUTPORTS
    timeout: float = DEFAULT_TIMEOUT
    deps: Declared = ()
    metadata: Mapping[str, object] = attrs.field(factory=dict)
    from_library: bool = False
    packages: InstalledLock | None = None

    @property
    def process(self) -> str:
        """The runtime process the module runs in: its runtime's, or its lock's own."""
        if self.packages is not None and self.packages.process is not None:
            return self.packages.process
        return self.runtime

    @property
    def paths(self) -> tuple[str, ...]:
        """Where its runtime finds its packages (the ``paths`` of its ``load``)."""
        return self.packages.paths if self.packages is not None else ()

    @property
    def output_ports(self) -> tuple[str, ...]:
        """Every port the module may send on: the declared ones and the error port."""
        return with_error_port(self.outports)

    def to_document(self) -> Document:
        """The fbp-graph process; a library module's ports and source stay the library's."""
        metadata: Document = {**self.metadata, "runtime": self.runtime, "timeout": self.timeout}
        if not self.from_library:
            metadata.update(
                source=self.source, inports=list(self.inports), outports=list(self.outports)
            )
        if self.deps:
            metadata["deps"] = declared_document(self.deps)
        if self.packages is not None:
            metadata["lock"] = self.packages.lock.to_document()
        return {"component": self.component, "metadata": metadata}


def _edges_by_source(flow: Flow) -> Mapping[PortRef, tuple[Edge, ...]]:
    found: dict[PortRef, list[Edge]] = {}
    for edge in flow.edges:
        found.setdefault(edge.src, []).append(edge)
    return {port: tuple(edges) for port, edges in found.items()}


def _edges_by_target_module(flow: Flow) -> Mapping[str, tuple[Edge, ...]]:
    found: dict[str, list[Edge]] = {}
    for edge in flow.edges:
        found.setdefault(edge.tgt.module, []).append(edge)
    return {module: tuple(edges) for module, edges in found.items()}


@attrs.frozen
class Flow:
    """A checked flow document: its modules by id, edges, initial packets and exported ports.

    ``properties`` and ``extra`` (the document's other top-level keys, such as
    ``caseSensitive`` or ``groups``) are kept as they were and not used.
    """

    id: str
    revision: int = 0
    modules: Mapping[str, Module] = attrs.field(factory=dict)
    edges: tuple[Edge, ...] = ()
    initial_packets: tuple[InitialPacket, ...] = ()
    inports: Mapping[str, ExportedPort] = attrs.field(factory=dict)
    outports: Mapping[str, ExportedPort] = attrs.field(factory=dict)
    properties: Mapping[str, object] = attrs.field(factory=dict)
    extra: Mapping[str, object] = attrs.field(factory=dict)
    _from: Mapping[PortRef, tuple[Edge, ...]] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_edges_by_source, takes_self=True)
    )
    _into: Mapping[str, tuple[Edge, ...]] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(_edges_by_target_module, takes_self=True),
    )

    def edges_from(self, module: str, port: str) -> tuple[Edge, ...]:
        """The edges out of output ``port`` of ``module``, in document order."""
        return self._from.get(PortRef(module, port), ())

    def edges_into(self, module: str) -> tuple[Edge, ...]:
        """The edges into any input port of ``module``, in document order."""
        return self._into.get(module, ())

    def to_document(self) -> Document:
        """The flow as fbp-graph JSON, which :func:`~.validation.parse_flow` reads back."""
        connections = [edge.to_document() for edge in self.edges]
        connections += [packet.to_document() for packet in self.initial_packets]
        return {
            **self.extra,
            "id": self.id,
            "revision": self.revision,
            "properties": dict(self.properties),
            "inports": {name: port.to_document() for name, port in self.inports.items()},
            "outports": {name: port.to_document() for name, port in self.outports.items()},
            "processes": {key: module.to_document() for key, module in self.modules.items()},
            "connections": connections,
        }
