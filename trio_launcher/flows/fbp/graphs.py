"""The graphs FBP clients edit: one fbp-graph JSON document per graph, changed by ``graph:*``.

Sans-IO. :meth:`GraphStore.edited` applies one ``graph:`` command to a copy
of a graph's document and returns the copy with the answers the protocol
gives (a removed node also removes its edges, initial packets and exported
ports, each answered); the caller keeps it with :meth:`GraphStore.put` (once
a running flow took it as a hot update). Port references are ``{node, port}``
on the wire and ``{process, port}`` in the document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..graph import canonical_json
from .messages import Refused

__all__ = ["GRAPH_COMMANDS", "Answer", "GraphStore", "new_graph"]

Document = dict[str, Any]
Payload = Mapping[str, Any]
#: An answer: its command (in the ``graph`` protocol) and its payload, without ``graph``.
Answer = tuple[str, dict[str, Any]]
_PROPERTIES = ("name", "library", "main", "icon")
#: The parts of a graph's document, and their empty values.
_PARTS: dict[str, Callable[[], Any]] = {
    "properties": dict,
    "processes": dict,
    "connections": list,
    "inports": dict,
    "outports": dict,
    "groups": list,
}


class GraphStore:
    """The documents of the graphs clients edit, by graph id."""

    def __init__(self) -> None:
        self._graphs: dict[str, Document] = {}

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._graphs

    def __iter__(self) -> Iterator[str]:
        return iter(self._graphs)

    def get(self, graph_id: str) -> Document:
        """A copy of the graph's document."""
        return copy.deepcopy(self._graphs[graph_id])

    def put(self, document: Document) -> None:
        """Keep ``document`` (a copy, with every part a graph has) as its graph's, by ``id``."""
        kept = copy.deepcopy(document)
        for key, empty in _PARTS.items():
            kept.setdefault(key, empty())
        for process in kept["processes"].values():
            process.setdefault("metadata", {})
        self._graphs[str(kept["id"])] = kept

    def remove(self, graph_id: str) -> None:
        """Forget a graph (nothing if it is not held)."""
        self._graphs.pop(graph_id, None)

    def edited(self, command: str, payload: Payload) -> tuple[Document, list[Answer]]:
        """The graph's document with ``graph:command`` applied, and the answers.

        Raises :class:`Refused` (the protocol's messages: ``No graph
        specified``, ``Requested graph not found``...) and changes nothing then.
        """
        graph_id = payload.get("graph")
        if not isinstance(graph_id, str) or not graph_id:
            raise Refused("No graph specified")
        if graph_id not in self._graphs:
            raise Refused("Requested graph not found")
        document = self.get(graph_id)
        answers = GRAPH_COMMANDS[command](document, payload)
        document["revision"] = int(document.get("revision") or 0) + 1
        return document, answers


def new_graph(payload: Payload) -> tuple[Document, dict[str, Any]]:
    """``graph:clear``: an empty document, and the answer (its id and the properties given)."""
    graph_id = payload.get("id")
    if not isinstance(graph_id, str) or not graph_id:
        raise Refused("graph:clear needs an id")
    properties = {key: payload[key] for key in _PROPERTIES if key in payload}
    document: Document = {key: empty() for key, empty in _PARTS.items()}
    document.update(id=graph_id, properties=dict(properties))
    return document, {"id": graph_id, **properties}


# ---------------------------------------------------------------- payload fields


def _text(payload: Payload, key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise Refused(f"{key} must be a non-empty string")
    return value


def _metadata(payload: Payload) -> dict[str, Any]:
    value = payload.get("metadata", {})
    if not isinstance(value, dict):
        raise Refused("metadata must be an object")
    return dict(value)


def _wire_port(payload: Payload, key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise Refused(f"{key} must be {{node, port}}")
    port = {"node": _text(value, "node"), "port": _text(value, "port")}
    if value.get("index") is not None:
        port["index"] = value["index"]
    return port


def _to_document(port: Mapping[str, Any]) -> dict[str, Any]:
    ref = {"process": port["node"], "port": port["port"]}
    if "index" in port:
        ref["index"] = port["index"]
    return ref


def _to_wire(ref: Mapping[str, Any]) -> dict[str, Any]:
    port = {"node": ref.get("process"), "port": ref.get("port")}
    if ref.get("index") is not None:
        port["index"] = ref["index"]
    return port


def _same(ref: Mapping[str, Any], port: Mapping[str, Any]) -> bool:
    return bool(ref.get("process") == port["node"] and ref.get("port") == port["port"])


def _merged(metadata: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` with ``changes`` merged in; a key changed to null is removed."""
    merged = {**metadata, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def _node(document: Document, node_id: str) -> dict[str, Any]:
    node: dict[str, Any] | None = document["processes"].get(node_id)
    if node is None:
        raise Refused(f"Requested node not found: {node_id}")
    return node


def _edges(document: Document) -> list[dict[str, Any]]:
    return [c for c in document["connections"] if "data" not in c]


def _edge_answer(edge: Mapping[str, Any], with_metadata: bool) -> dict[str, Any]:
    answer = {"src": _to_wire(edge["src"]), "tgt": _to_wire(edge["tgt"])}
    if with_metadata:
        answer["metadata"] = dict(edge.get("metadata") or {})
    return answer


def _initial_answer(packet: Mapping[str, Any]) -> dict[str, Any]:
    return {"src": {"data": packet["data"]}, "tgt": _to_wire(packet["tgt"])}


# -------------------------------------------------------------------- nodes


def _addnode(document: Document, payload: Payload) -> list[Answer]:
    node_id, component = _text(payload, "id"), _text(payload, "component")
    if node_id in document["processes"]:
        raise Refused(f"node {node_id} exists")
    metadata = _metadata(payload)
    document["processes"][node_id] = {"component": component, "metadata": metadata}
    return [("addnode", {"id": node_id, "component": component, "metadata": metadata})]


def _removenode(document: Document, payload: Payload) -> list[Answer]:
    node_id = _text(payload, "id")
    _node(document, node_id)
    answers: list[Answer] = []
    kept = []
    for connection in document["connections"]:
        touches = connection["tgt"].get("process") == node_id or (
            "src" in connection and connection["src"].get("process") == node_id
        )
        if not touches:
            kept.append(connection)
        elif "data" in connection:
            answers.append(("removeinitial", _initial_answer(connection)))
        else:
            answers.append(("removeedge", _edge_answer(connection, with_metadata=False)))
    document["connections"] = kept
    for kind in ("inports", "outports"):
        for public, ref in list(document[kind].items()):
            if ref.get("process") == node_id:
                del document[kind][public]
                answers.append((f"remove{kind[:-1]}", {"public": public}))
    for group in document["groups"]:
        group["nodes"] = [node for node in group["nodes"] if node != node_id]
    del document["processes"][node_id]
    return [*answers, ("removenode", {"id": node_id})]


def _renamenode(document: Document, payload: Payload) -> list[Answer]:
    old, new = _text(payload, "from"), _text(payload, "to")
    node = _node(document, old)
    if new in document["processes"]:
        raise Refused(f"node {new} exists")
    document["processes"] = {
        (new if key == old else key): value for key, value in document["processes"].items()
    }
    document["processes"][new] = node
    refs = [c[end] for c in document["connections"] for end in ("src", "tgt") if end in c]
    refs += [*document["inports"].values(), *document["outports"].values()]
    for ref in refs:
        if ref.get("process") == old:
            ref["process"] = new
    for group in document["groups"]:
        group["nodes"] = [new if node == old else node for node in group["nodes"]]
    return [("renamenode", {"from": old, "to": new})]


def _changenode(document: Document, payload: Payload) -> list[Answer]:
    node_id = _text(payload, "id")
    node = _node(document, node_id)
    node["metadata"] = _merged(node.get("metadata") or {}, _metadata(payload))
    return [("changenode", {"id": node_id, "metadata": dict(node["metadata"])})]


# -------------------------------------------------------------------- edges


def _find_edge(document: Document, payload: Payload) -> dict[str, Any]:
    src, tgt = _wire_port(payload, "src"), _wire_port(payload, "tgt")
    for edge in _edges(document):
        if _same(edge["src"], src) and _same(edge["tgt"], tgt):
            return edge
    raise Refused(
        f"Requested edge not found: {src['node']}.{src['port']} -> {tgt['node']}.{tgt['port']}"
    )


def _addedge(document: Document, payload: Payload) -> list[Answer]:
    src, tgt = _wire_port(payload, "src"), _wire_port(payload, "tgt")
    _node(document, src["node"])
    _node(document, tgt["node"])
    if any(_same(e["src"], src) and _same(e["tgt"], tgt) for e in _edges(document)):
        raise Refused(f"edge exists: {src['node']}.{src['port']} -> {tgt['node']}.{tgt['port']}")
    edge = {"src": _to_document(src), "tgt": _to_document(tgt), "metadata": _metadata(payload)}
    document["connections"].append(edge)
    return [("addedge", _edge_answer(edge, with_metadata=True))]


def _removeedge(document: Document, payload: Payload) -> list[Answer]:
    edge = _find_edge(document, payload)
    document["connections"] = [c for c in document["connections"] if c is not edge]
    return [("removeedge", _edge_answer(edge, with_metadata=False))]


def _changeedge(document: Document, payload: Payload) -> list[Answer]:
    edge = _find_edge(document, payload)
    edge["metadata"] = _merged(edge.get("metadata") or {}, _metadata(payload))
    return [("changeedge", _edge_answer(edge, with_metadata=True))]


def _addinitial(document: Document, payload: Payload) -> list[Answer]:
    src = payload.get("src")
    if not isinstance(src, dict) or "data" not in src:
        raise Refused("src must be {data}")
    tgt = _wire_port(payload, "tgt")
    _node(document, tgt["node"])
    packet = {"data": src["data"], "tgt": _to_document(tgt), "metadata": _metadata(payload)}
    document["connections"].append(packet)
    return [("addinitial", {**_initial_answer(packet), "metadata": dict(packet["metadata"])})]


def _removeinitial(document: Document, payload: Payload) -> list[Answer]:
    tgt = _wire_port(payload, "tgt")
    src = payload.get("src")
    wanted = canonical_json(src["data"]) if isinstance(src, dict) and "data" in src else None

    def matches(connection: Mapping[str, Any]) -> bool:
        if "data" not in connection or not _same(connection["tgt"], tgt):
            return False
        return wanted is None or canonical_json(connection["data"]) == wanted

    removed = [c for c in document["connections"] if matches(c)]
    if not removed:
        raise Refused(f"Requested initial packet not found: {tgt['node']}.{tgt['port']}")
    document["connections"] = [c for c in document["connections"] if not matches(c)]
    return [("removeinitial", _initial_answer(packet)) for packet in removed]


# ------------------------------------------------------------ exported ports


def _export(kind: str) -> Callable[[Document, Payload], list[Answer]]:
    def add(document: Document, payload: Payload) -> list[Answer]:
        public, node, port = (
            _text(payload, "public"),
            _text(payload, "node"),
            _text(payload, "port"),
        )
        _node(document, node)
        ref: dict[str, Any] = {"process": node, "port": port}
        answer: dict[str, Any] = {"public": public, "node": node, "port": port}
        if "metadata" in payload:
            ref["metadata"] = answer["metadata"] = _metadata(payload)
        document[kind][public] = ref
        return [(f"add{kind[:-1]}", answer)]

    return add


def _exported(document: Document, kind: str, public: str) -> dict[str, Any]:
    ref: dict[str, Any] | None = document[kind].get(public)
    if ref is None:
        raise Refused(f"Requested port not found: {public}")
    return ref


def _unexport(kind: str) -> Callable[[Document, Payload], list[Answer]]:
    def remove(document: Document, payload: Payload) -> list[Answer]:
        public = _text(payload, "public")
        _exported(document, kind, public)
        del document[kind][public]
        return [(f"remove{kind[:-1]}", {"public": public})]

    return remove


def _rename_export(kind: str) -> Callable[[Document, Payload], list[Answer]]:
    def rename(document: Document, payload: Payload) -> list[Answer]:
        old, new = _text(payload, "from"), _text(payload, "to")
        ref = _exported(document, kind, old)
        if new in document[kind]:
            raise Refused(f"port {new} exists")
        document[kind] = {(new if k == old else k): v for k, v in document[kind].items()}
        document[kind][new] = ref
        return [(f"rename{kind[:-1]}", {"from": old, "to": new})]

    return rename


# -------------------------------------------------------------------- groups


def _group(document: Document, name: str) -> dict[str, Any]:
    for group in document["groups"]:
        if group["name"] == name:
            found: dict[str, Any] = group
            return found
    raise Refused(f"Requested group not found: {name}")


def _addgroup(document: Document, payload: Payload) -> list[Answer]:
    name, nodes = _text(payload, "name"), payload.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise Refused("nodes must be a list of node ids")
    if any(group["name"] == name for group in document["groups"]):
        raise Refused(f"group {name} exists")
    group = {"name": name, "nodes": list(nodes), "metadata": _metadata(payload)}
    document["groups"].append(group)
    return [("addgroup", copy.deepcopy(group))]


def _removegroup(document: Document, payload: Payload) -> list[Answer]:
    group = _group(document, _text(payload, "name"))
    document["groups"] = [g for g in document["groups"] if g is not group]
    return [("removegroup", {"name": group["name"]})]


def _renamegroup(document: Document, payload: Payload) -> list[Answer]:
    old, new = _text(payload, "from"), _text(payload, "to")
    _group(document, old)["name"] = new
    return [("renamegroup", {"from": old, "to": new})]


def _changegroup(document: Document, payload: Payload) -> list[Answer]:
    group = _group(document, _text(payload, "name"))
    group["metadata"] = _merged(group.get("metadata") or {}, _metadata(payload))
    return [("changegroup", {"name": group["name"], "metadata": dict(group["metadata"])})]


#: ``graph:`` command -> what it does to a document (``clear`` is :func:`new_graph`).
GRAPH_COMMANDS: dict[str, Callable[[Document, Payload], list[Answer]]] = {
    "addnode": _addnode,
    "removenode": _removenode,
    "renamenode": _renamenode,
    "changenode": _changenode,
    "addedge": _addedge,
    "removeedge": _removeedge,
    "changeedge": _changeedge,
    "addinitial": _addinitial,
    "removeinitial": _removeinitial,
    "addinport": _export("inports"),
    "removeinport": _unexport("inports"),
    "renameinport": _rename_export("inports"),
    "addoutport": _export("outports"),
    "removeoutport": _unexport("outports"),
    "renameoutport": _rename_export("outports"),
    "addgroup": _addgroup,
    "removegroup": _removegroup,
    "renamegroup": _renamegroup,
    "changegroup": _changegroup,
}
