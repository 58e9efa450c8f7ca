"""Reading a flow document (fbp-graph JSON) into a :class:`~.graph.Flow`, every problem at once.

:func:`parse_flow` checks the whole document and raises one
:class:`~.errors.InvalidFlow` that lists every problem, each naming its field
and module; whatever the input, it raises nothing else. The field checks live
in :mod:`.document_fields`. Whether a module's source compiles is for its
runtime to say, not for this module.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

import attrs

from trio_launcher.flows.components import Component
from trio_launcher.flows.deps.declared import Declared, node_dependencies, python_requirements
from trio_launcher.flows.deps.lock import Language
from trio_launcher.flows.document_fields import (
    FieldPath,
    Problems,
    flow_id,
    is_json,
    json_array,
    json_object,
    limit,
    listing,
    name,
    port_names,
    revision,
    seconds,
    show,
    text,
)
from trio_launcher.flows.errors import InvalidFlow
from trio_launcher.flows.graph import (
    DEFAULT_INPORTS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_MESSAGES,
    DEFAULT_OUTPORTS,
    DEFAULT_TIMEOUT,
    Edge,
    ExportedPort,
    Flow,
    InitialPacket,
    Module,
    PortRef,
    with_error_port,
)
from trio_launcher.transport import jsonlimit

__all__ = ["parse_flow"]

#: The top-level keys the model reads; the others are kept in ``Flow.extra``.
_TOP_KEYS = frozenset({"id", "revision", "properties", "inports", "outports"})
_TOP_KEYS |= {"processes", "connections"}
#: Metadata keys the model reads from every process, and from one with its own source.
#: (``lock`` is the runner's, written by ``Flow.to_document``: a document's own is not read.)
_MODULE_KEYS = frozenset({"runtime", "timeout", "deps", "lock"})
_SOURCE_KEYS = _MODULE_KEYS | {"source", "inports", "outports"}
_LIMIT_KEYS = frozenset({"maxMessages", "maxBytes"})


def parse_flow(
    document: object,
    *,
    runtimes: Collection[str],
    components: Mapping[str, Component],
    languages: Mapping[str, Language] | None = None,
) -> Flow:
    """The flow that ``document`` (a mapping, or JSON text or bytes) describes.

    ``runtimes`` are the runtime names a module may ask for in ``metadata.runtime``;
    ``components`` the library that ``component`` names (see
    :func:`~.components.builtin_components`); ``languages`` the language of the
    packages of each runtime whose modules may declare ``metadata.deps``. Raises
    :class:`~.errors.InvalidFlow` with every problem found.
    """
    problems = Problems()
    root = _load(problems, document)
    reader = _Reader(problems, runtimes, components, languages or {})
    flow = None if root is None else reader.flow(root)
    if flow is None or problems.found:
        raise InvalidFlow(problems.found)
    return flow


def _load(problems: Problems, document: object) -> dict[str, object] | None:
    if isinstance(document, str | bytes | bytearray):
        raw = bytes(document) if isinstance(document, bytearray) else document
        try:
            document = jsonlimit.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add((), f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
            return None
        except (ValueError, RecursionError) as exc:
            problems.add((), f"not JSON: {exc}")
            return None
    return json_object(problems, (), document, required=True)


#: A module's ports, where they could be read: its input ports, then its output ports.
_Ports = tuple[tuple[str, ...], tuple[str, ...]]


@attrs.frozen
class _Code:
    """What a module runs: its source, and its ports."""

    source: str
    inports: tuple[str, ...]
    outports: tuple[str, ...]


@attrs.define
class _Reader:
    """Reads one document; references are checked against the processes it declares.

    Without processes, references are not checked: each would only repeat that.
    """

    problems: Problems
    runtimes: Collection[str]
    components: Mapping[str, Component]
    languages: Mapping[str, Language]
    declared: set[str] = attrs.field(factory=set)
    ports: dict[str, _Ports] = attrs.field(factory=dict)

    def flow(self, root: dict[str, object]) -> Flow | None:
        properties = json_object(self.problems, ("properties",), root.get("properties"))
        the_id = flow_id(self.problems, root, properties or {})
        the_revision = revision(self.problems, ("revision",), root.get("revision"))
        modules = self.modules(root.get("processes"))
        edges, packets = self.connections(root.get("connections"))
        inports = self.exports("inports", root.get("inports"), output=False)
        outports = self.exports("outports", root.get("outports"), output=True)
        if the_id is None or the_revision is None or properties is None:
            return None
        return Flow(
            id=the_id,
            revision=the_revision,
            modules=modules,
            edges=edges,
            initial_packets=packets,
            inports=inports,
            outports=outports,
            properties=properties,
            extra={key: value for key, value in root.items() if key not in _TOP_KEYS},
        )

    def modules(self, value: object) -> dict[str, Module]:
        path: FieldPath = ("processes",)
        if value is None:
            self.problems.add(path, "a flow needs processes: module id -> {component, metadata}")
            return {}
        processes = json_object(self.problems, path, value)
        if processes is None:
            return {}
        if not processes:
            self.problems.add(path, "a flow needs at least one process")
        self.declared.update(processes)
        modules = {}
        for module_id, spec in processes.items():
            module = self.module((*path, module_id), module_id, spec)
            if module is not None:
                modules[module_id] = module
        return modules

    def module(self, path: FieldPath, module_id: str, value: object) -> Module | None:
        if not module_id:
            self.problems.add(path, "a process id is a non-empty string")
        spec = json_object(self.problems, path, value, module_id, required=True)
        if spec is None:
            return None
        meta_path = (*path, "metadata")
        metadata = json_object(self.problems, meta_path, spec.get("metadata"), module_id)
        component = name(self.problems, (*path, "component"), spec.get("component"), module_id)
        if metadata is None:
            return None
        runtime = self.runtime((*meta_path, "runtime"), metadata.get("runtime"), module_id)
        timeout = seconds(
            self.problems,
            (*meta_path, "timeout"),
            metadata.get("timeout"),
            module_id,
            DEFAULT_TIMEOUT,
        )
        inline = metadata.get("source") is not None
        if inline:
            code = self.own_code(meta_path, metadata, module_id)
        else:
            code = self.library_code(path, component, runtime, module_id)
        deps = self.deps((*meta_path, "deps"), metadata.get("deps"), runtime, module_id)
        if not module_id or component is None or runtime is None or timeout is None or not code:
            return None
        if deps is None:
            return None
        own_keys = _SOURCE_KEYS if inline else _MODULE_KEYS
        return Module(
            id=module_id,
            component=component,
            runtime=runtime,
            source=code.source,
            inports=code.inports,
            outports=code.outports,
            timeout=timeout,
            deps=deps,
            metadata={key: value for key, value in metadata.items() if key not in own_keys},
            from_library=not inline,
        )

    def runtime(self, path: FieldPath, value: object, module_id: str) -> str | None:
        known = listing(sorted(self.runtimes))
        if value is None:
            self.problems.add(path, f"no runtime: give one of: {known}", module_id)
            return None
        if not isinstance(value, str) or value not in self.runtimes:
            self.problems.add(path, f"unknown runtime {show(value)} (known: {known})", module_id)
            return None
        return value

    def deps(
        self, path: FieldPath, value: object, runtime: str | None, module_id: str
    ) -> Declared | None:
        """What the module declares it depends on, read as its runtime's language."""
        if value is None or runtime is None:
            return ()
        language = self.languages.get(runtime)
        if language == "python":
            return python_requirements(self.problems, path, value, module_id)
        if language == "node":
            return node_dependencies(self.problems, path, value, module_id)
        takers = listing(sorted(self.languages)) if self.languages else "none"
        why = f"runtime {show(runtime)} takes no dependencies (those that do: {takers})"
        self.problems.add(path, why, module_id)
        return None

    def own_code(
        self, path: FieldPath, metadata: Mapping[str, object], module_id: str
    ) -> _Code | None:
        """The source and ports a process gives in its metadata."""
        source = text(self.problems, (*path, "source"), metadata["source"], module_id)
        inports, outports = (
            port_names(self.problems, (*path, key), metadata.get(key), module_id, default)
            for key, default in (("inports", DEFAULT_INPORTS), ("outports", DEFAULT_OUTPORTS))
        )
        if inports is None or outports is None:
            return None
        self.ports[module_id] = (inports, with_error_port(outports))
        return None if source is None else _Code(source, inports, outports)

    def library_code(
        self, path: FieldPath, component: str | None, runtime: str | None, module_id: str
    ) -> _Code | None:
        """The source and ports of the library component a process names."""
        if component is None:
            return None
        found = self.components.get(component)
        if found is None:
            library = listing(sorted(self.components))
            message = f"unknown component {show(component)} and no metadata.source"
            self.problems.add((*path, "component"), f"{message} (library: {library})", module_id)
            return None
        self.ports[module_id] = (found.inports, with_error_port(found.outports))
        if runtime is None:
            return None
        source = found.sources.get(runtime)
        if source is None:
            has = listing(sorted(found.sources))
            message = f"component {component} has no source for runtime {runtime} (it has: {has})"
            self.problems.add((*path, "metadata", "runtime"), message, module_id)
            return None
        return _Code(source, found.inports, found.outports)

    def connections(self, value: object) -> tuple[tuple[Edge, ...], tuple[InitialPacket, ...]]:
        edges: dict[tuple[PortRef, PortRef], tuple[int, Edge]] = {}
        packets = []
        for index, item in enumerate(json_array(self.problems, ("connections",), value)):
            path: FieldPath = ("connections", index)
            connection = json_object(self.problems, path, item, required=True)
            if connection is None:
                continue
            if "data" in connection:
                packet = self.initial_packet(path, connection)
                if packet is not None:
                    packets.append(packet)
                continue
            edge = self.edge(path, connection)
            if edge is None:
                continue
            if edge.key in edges:
                first = edges[edge.key][0]
                self.problems.add(path, f"duplicates connections[{first}] ({edge})")
                continue
            edges[edge.key] = (index, edge)
        return tuple(edge for _, edge in edges.values()), tuple(packets)

    def initial_packet(
        self, path: FieldPath, connection: Mapping[str, object]
    ) -> InitialPacket | None:
        if "src" in connection:
            self.problems.add(path, "a connection has src or data (an initial packet), not both")
        data = connection["data"]
        if not is_json(data):
            self.problems.add((*path, "data"), "an initial packet's data must be a JSON value")
        tgt = self.port_ref((*path, "tgt"), connection.get("tgt"), output=False)
        metadata = json_object(self.problems, (*path, "metadata"), connection.get("metadata"))
        if tgt is None or metadata is None or not is_json(data):
            return None
        return InitialPacket(tgt, data, metadata)

    def edge(self, path: FieldPath, connection: Mapping[str, object]) -> Edge | None:
        if "src" not in connection:
            self.problems.add(path, "a connection needs src (or data, for an initial packet)")
            src = None
        else:
            src = self.port_ref((*path, "src"), connection["src"], output=True)
        tgt = self.port_ref((*path, "tgt"), connection.get("tgt"), output=False)
        meta_path = (*path, "metadata")
        metadata = json_object(self.problems, meta_path, connection.get("metadata")) or {}
        messages, size = (
            limit(self.problems, (*meta_path, key), metadata.get(key), default)
            for key, default in (
                ("maxMessages", DEFAULT_MAX_MESSAGES),
                ("maxBytes", DEFAULT_MAX_BYTES),
            )
        )
        if src is None or tgt is None or messages is None or size is None:
            return None
        other = {key: value for key, value in metadata.items() if key not in _LIMIT_KEYS}
        return Edge(src, tgt, messages, size, other)

    def exports(self, key: str, value: object, *, output: bool) -> dict[str, ExportedPort]:
        exported = {}
        for public, item in (json_object(self.problems, (key,), value) or {}).items():
            path = (key, public)
            if not public:
                self.problems.add(path, "an exported port's name is a non-empty string")
            target = self.port_ref(path, item, output=output)
            if target is None or not isinstance(item, Mapping):
                continue
            metadata = json_object(self.problems, (*path, "metadata"), item.get("metadata"))
            if public and metadata is not None:
                exported[public] = ExportedPort(target, metadata)
        return exported

    def port_ref(self, path: FieldPath, value: object, *, output: bool) -> PortRef | None:
        """A ``{process, port}`` reference, checked against the declared processes."""
        ref = json_object(self.problems, path, value, required=True)
        if ref is None:
            return None
        process = name(self.problems, (*path, "process"), ref.get("process"))
        port = name(self.problems, (*path, "port"), ref.get("port"), process)
        if process is None or port is None:
            return None
        if self.declared and process not in self.declared:
            known = listing(sorted(self.declared))
            message = f"unknown process {show(process)} (processes: {known})"
            self.problems.add((*path, "process"), message)
            return None
        if process in self.ports and not self.port_fits((*path, "port"), process, port, output):
            return None
        return PortRef(process, port, ref.get("index"))

    def port_fits(self, path: FieldPath, process: str, port: str, output: bool) -> bool:
        """Whether ``port`` is an output (or input) port of ``process``; a problem if not."""
        inputs, outputs = self.ports[process]
        wanted, other = (outputs, inputs) if output else (inputs, outputs)
        if port in wanted:
            return True
        kind, other_kind = ("output", "input") if output else ("input", "output")
        listed = f"{kind}s: {listing(wanted)}"
        if port in other:
            found = f"{show(port)} is an {other_kind} port of {process}"
            message = f"{found}: an {kind} port is needed here ({listed})"
        else:
            others = f"{other_kind}s: {listing(other)}"
            message = f"module {process} has no port {show(port)} ({listed}; {others})"
        self.problems.add(path, message, process)
        return False
