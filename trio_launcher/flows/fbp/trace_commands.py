"""The ``trace`` protocol's commands: start, stop, clear and dump a graph's flowtrace.

``trace:start`` records the graph's ``network:`` messages from then on (its
edges report each message while it records); ``trace:stop`` stops recording
and keeps what was recorded; ``trace:clear`` forgets it; ``trace:dump``
(``type: flowtrace.json``) answers with it as a flowtrace (:mod:`.traces`).
"""

from __future__ import annotations

from typing import Any

from .connection import Connection
from .hub import Hub
from .messages import Refused, Request, requested_graph
from .traces import DEFAULT_BUFFER_SIZE, MAX_BUFFER_SIZE, Trace

__all__ = ["TRACE_HANDLERS"]


def _graph(hub: Hub, request: Request) -> str:
    graph = requested_graph(request)
    if not hub.knows(graph):
        raise Refused("Requested graph not found")
    return graph


def _trace(hub: Hub, graph: str) -> Trace:
    trace = hub.traces.get(graph)
    if trace is None:
        raise Refused(f"graph {graph} has no trace: trace:start it first")
    return trace


def _buffersize(request: Request) -> int:
    size = request.payload.get("buffersize", DEFAULT_BUFFER_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_BUFFER_SIZE:
        raise Refused(f"buffersize is a number of bytes from 1 to {MAX_BUFFER_SIZE}")
    return size


async def _start(hub: Hub, connection: Connection, request: Request) -> None:
    graph, size = _graph(hub, request), _buffersize(request)
    trace = hub.traces.get(graph)
    if trace is None:
        hub.traces[graph] = Trace(graph, size)
    else:
        trace.resize(size)
        trace.recording = True
    connection.watch(graph)
    await connection.answer("trace", "start", {"graph": graph}, request.request_id)


async def _stop(hub: Hub, connection: Connection, request: Request) -> None:
    graph = _graph(hub, request)
    _trace(hub, graph).recording = False
    await connection.answer("trace", "stop", {"graph": graph}, request.request_id)


async def _clear(hub: Hub, connection: Connection, request: Request) -> None:
    graph = _graph(hub, request)
    _trace(hub, graph).clear()
    await connection.answer("trace", "clear", {"graph": graph}, request.request_id)


async def _dump(hub: Hub, connection: Connection, request: Request) -> None:
    graph = _graph(hub, request)
    kind = request.payload.get("type", "flowtrace.json")
    if kind != "flowtrace.json":
        raise Refused(f"unknown trace type {kind!r} (known: flowtrace.json)")
    document: dict[str, Any] | None = None
    if graph in hub.runner.list_flows():
        document = hub.runner.get_flow(graph).to_document()
    elif graph in hub.graphs:
        document = hub.graphs.get(graph)
    flowtrace = _trace(hub, graph).dump(document, hub.runtime_id)
    answer = {"graph": graph, "type": kind, "flowtrace": flowtrace}
    await connection.answer("trace", "dump", answer, request.request_id)


TRACE_HANDLERS = {"start": _start, "stop": _stop, "clear": _clear, "dump": _dump}
