"""The ``graph`` protocol's commands, and the extensions ``graph:list``, ``delete``, ``set``.

An edit of a graph whose flow runs is a hot update: the runner takes the
new document, or the edit is refused with the runner's reason and the graph
stays as it was. A graph the runner holds but no client has edited yet
(deployed, or added through the Python API) is edited from the runner's
document.
"""

from __future__ import annotations

from typing import Any

from .connection import Connection
from .graphs import GRAPH_COMMANDS, new_graph
from .hub import Hub
from .library import runner_document
from .messages import Refused, Request, requested_graph

__all__ = ["GRAPH_HANDLERS", "document_for_runner", "seed"]


def document_for_runner(hub: Hub, document: dict[str, Any]) -> dict[str, Any]:
    runtimes = [info.id for info in hub.runner.list_runtimes()]
    return runner_document(document, hub.runner.components, runtimes)


def seed(hub: Hub, graph: object) -> None:
    """Give the store the runner's document of ``graph`` if the store has none."""
    if isinstance(graph, str) and graph not in hub.graphs and graph in hub.runner.list_flows():
        hub.graphs.put(hub.runner.get_flow(graph).to_document())


async def _clear(hub: Hub, connection: Connection, request: Request) -> None:
    document, answer = new_graph(request.payload)
    if document["id"] in hub.runner.list_flows():
        await hub.runner.remove_flow(document["id"])
    hub.graphs.put(document)
    connection.watch(document["id"], data=True)
    await connection.answer("graph", "clear", answer, request.request_id)


async def _edit(hub: Hub, connection: Connection, request: Request) -> None:
    graph = request.payload.get("graph")
    seed(hub, graph)
    document, answers = hub.graphs.edited(request.command, request.payload)
    graph_id = document["id"]
    if graph_id in hub.runner.list_flows() and hub.runner.flow_state(graph_id) != "stopped":
        await hub.runner.add_or_update_flow(
            document_for_runner(hub, document), refuse_installs=hub.refuse_installs
        )
    hub.graphs.put(document)
    connection.watch(graph_id, data=True)
    for command, payload in answers:
        await connection.answer(
            "graph", command, {**payload, "graph": graph_id}, request.request_id
        )


async def _list(hub: Hub, connection: Connection, request: Request) -> None:
    graphs = []
    held = hub.runner.list_flows()
    for graph in held:
        flow = hub.runner.get_flow(graph)
        state = hub.runner.flow_state(graph)
        graphs.append({"id": graph, "revision": flow.revision, "state": state, "deployed": True})
    for graph in hub.graphs:
        if graph not in held:
            revision = hub.graphs.get(graph).get("revision", 0)
            graphs.append(
                {"id": graph, "revision": revision, "state": "stopped", "deployed": False}
            )
    await connection.answer("graph", "list", {"ok": True, "graphs": graphs}, request.request_id)


async def _delete(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    if not hub.knows(graph):
        raise Refused(f"no graph {graph!r}")
    if graph in hub.runner.list_flows():
        await hub.runner.remove_flow(graph)
    hub.graphs.remove(graph)
    await connection.answer("graph", "delete", {"ok": True, "graph": graph}, request.request_id)


async def _set(hub: Hub, connection: Connection, request: Request) -> None:
    document = request.payload.get("graph")
    if not isinstance(document, dict):
        raise Refused("graph:set needs graph: a flow document (fbp-graph JSON)")
    filled = document_for_runner(hub, document)
    flow = await hub.runner.add_or_update_flow(filled, refuse_installs=hub.refuse_installs)
    hub.graphs.put({**filled, "id": flow.id, "revision": flow.revision})
    connection.watch(flow.id)
    answer = {"ok": True, "graph": flow.id, "revision": flow.revision}
    await connection.answer("graph", "set", answer, request.request_id)


GRAPH_HANDLERS = {
    "clear": _clear,
    **{command: _edit for command in GRAPH_COMMANDS},
    "list": _list,
    "delete": _delete,
    "set": _set,
}
