"""The ``network`` protocol's commands, and the extensions for breakpoints and single step.

``network:start`` hands the runner the graph's document (if a client edited
it) and starts the flow; every connection hears ``network:started`` from the
runner's event, before the data of the initial packets. ``running`` in a
status says whether the flow has messages queued or being handled;
``started`` whether it runs.
"""

from __future__ import annotations

from typing import Any

from .connection import Connection, EdgeKey
from .graph_commands import document_for_runner
from .hub import Hub
from .messages import Refused, Request, requested_graph
from .network import now_iso

__all__ = ["NETWORK_HANDLERS"]


def _text(request: Request, key: str) -> str:
    value = request.payload.get(key)
    if not isinstance(value, str) or not value:
        raise Refused(f"{request.protocol}:{request.command} needs {key}")
    return value


def _status(hub: Hub, graph: str) -> dict[str, Any]:
    if graph not in hub.runner.list_flows():
        if graph not in hub.graphs:
            raise Refused("Requested graph not found")
        return {"graph": graph, "started": False, "running": False}
    started = hub.runner.flow_state(graph) != "stopped"
    return {"graph": graph, "started": started, "running": started and hub.runner.flow_busy(graph)}


async def _start(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    if not hub.knows(graph):
        raise Refused("Requested graph not found")
    if graph in hub.runner.list_flows() and hub.runner.flow_state(graph) != "stopped":
        raise Refused(f"graph {graph} is running already")
    if graph in hub.graphs:
        await hub.runner.add_or_update_flow(
            document_for_runner(hub, hub.graphs.get(graph)), refuse_installs=hub.refuse_installs
        )
    connection.watch(graph, data=True)
    hub.sync()
    await hub.runner.start_flow(graph)
    if request.request_id is not None:
        payload = {**_status(hub, graph), "time": now_iso()}
        await connection.answer("network", "started", payload, request.request_id)


async def _stop(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    connection.watch(graph)
    held = graph in hub.runner.list_flows()
    running = held and hub.runner.flow_state(graph) != "stopped"
    if running:
        await hub.runner.stop_flow(graph)
    if request.request_id is not None or not running:
        payload = {**_status(hub, graph), "time": now_iso()}
        await connection.answer("network", "stopped", payload, request.request_id)


async def _getstatus(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    payload = _status(hub, graph)
    connection.watch(graph)
    await connection.answer("network", "status", payload, request.request_id)


async def _debug(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    enable = request.payload.get("enable")
    if not isinstance(enable, bool):
        raise Refused("network:debug needs enable: true or false")
    payload = _status(hub, graph)
    connection.watch(graph)
    connection.watches[graph].data = enable
    await connection.answer("network", "status", {**payload, "debug": enable}, request.request_id)


def _edge_key(edge: object) -> EdgeKey:
    if not isinstance(edge, dict):
        raise Refused("an edge is {src: {node, port}, tgt: {node, port}}")
    ends = [edge.get("src"), edge.get("tgt")]
    names = [
        end.get(key) if isinstance(end, dict) else None for end in ends for key in ("node", "port")
    ]
    if not all(isinstance(name, str) for name in names):
        raise Refused("an edge is {src: {node, port}, tgt: {node, port}}")
    return (str(names[0]), str(names[1]), str(names[2]), str(names[3]))


async def _edges(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    edges = request.payload.get("edges")
    if not isinstance(edges, list):
        raise Refused("network:edges needs edges: a list of {src, tgt}")
    keys = frozenset(_edge_key(edge) for edge in edges)
    _status(hub, graph)
    connection.watch(graph, data=True)
    connection.watches[graph].edges = keys
    answer = {"graph": graph, "edges": edges}
    await connection.answer("network", "edges", answer, request.request_id)


# ---------------------------------------------------------------- extensions


async def _setbreakpoint(hub: Hub, connection: Connection, request: Request) -> None:
    graph, node = requested_graph(request), _text(request, "node")
    port = request.payload.get("port") or "*"
    pause = request.payload.get("pause") or "module"
    if not isinstance(port, str) or not isinstance(pause, str):
        raise Refused("port and pause are strings")
    hub.runner.set_breakpoint(f"{graph}/{node}", port, pause=pause)
    connection.watch(graph)
    answer = {"ok": True, "graph": graph, "node": node, "port": port, "pause": pause}
    await connection.answer("network", "setbreakpoint", answer, request.request_id)


async def _on_a_module(hub: Hub, connection: Connection, request: Request) -> None:
    """``removebreakpoint``, ``drop`` (a module's), ``resume`` (a flow's)."""
    graph = requested_graph(request)
    answer: dict[str, Any] = {"ok": True, "graph": graph}
    if request.command == "resume":
        hub.runner.resume(graph)
    else:
        answer["node"] = node = _text(request, "node")
        act = {"removebreakpoint": hub.runner.remove_breakpoint, "drop": hub.runner.drop_held}
        act[request.command](f"{graph}/{node}")
    await connection.answer("network", request.command, answer, request.request_id)


async def _step(hub: Hub, connection: Connection, request: Request) -> None:
    steps = await hub.runner.single_step()
    await connection.answer("network", "step", {"ok": True, "steps": steps}, request.request_id)


NETWORK_HANDLERS = {
    "start": _start,
    "stop": _stop,
    "getstatus": _getstatus,
    "debug": _debug,
    "edges": _edges,
    "setbreakpoint": _setbreakpoint,
    "removebreakpoint": _on_a_module,
    "resume": _on_a_module,
    "drop": _on_a_module,
    "step": _step,
}
