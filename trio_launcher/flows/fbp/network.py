"""The runner's events as FBP ``network:`` messages.

:func:`event_message` says, for one event of the runner, which message it
is and who gets it: every connection (``started``, ``stopped``, ``error``,
``processerror``, ``output``), the connections that use the extensions
(``paused``, ``updated``), or those that follow the graph's data
(``data``). A runtime lost is not a message: what it was running comes as
``processerror``.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

import attrs
import orjson

from .. import core as flow_core
from ..core import EdgeData
from .connection import EdgeKey

__all__ = ["Audience", "Message", "edge_id", "event_message", "now_iso"]


class Audience(enum.Enum):
    """Who gets a message."""

    ALL = enum.auto()
    EXTENDED = enum.auto()  #: connections that used an extension
    DATA = enum.auto()  #: connections following the graph's data (and that edge)


@attrs.frozen
class Message:
    """A ``network:`` message for ``audience``; ``edge`` for data from an edge."""

    audience: Audience
    graph: str
    command: str
    payload: dict[str, Any]
    edge: EdgeKey | None = None


def now_iso() -> str:
    """The time now as the protocol's ``time`` fields have it (ISO 8601, UTC)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def edge_id(event: EdgeData) -> str:
    """The edge as FBP clients name it: ``A() OUT -> IN B()``, or ``DATA -> IN B()``."""
    target = f"{event.tgt[1].upper()} {event.tgt[0]}()"
    if event.src is None:
        return f"DATA -> {target}"
    return f"{event.src[0]}() {event.src[1].upper()} -> {target}"


def _data(event: EdgeData) -> Message:
    payload: dict[str, Any] = {"id": edge_id(event), "graph": event.flow}
    edge: EdgeKey | None = None
    if event.src is not None:
        payload["src"] = {"node": event.src[0], "port": event.src[1]}
        edge = (*event.src, *event.tgt)
    payload["tgt"] = {"node": event.tgt[0], "port": event.tgt[1]}
    payload["data"] = orjson.loads(event.body) if event.body else None
    return Message(Audience.DATA, event.flow, "data", payload, edge)


def event_message(
    event: flow_core.FlowEvent, *, running: bool, uptime: float | None
) -> Message | None:
    """The message ``event`` is, or None. ``running``: whether the flow is busy now."""
    if isinstance(event, EdgeData):
        return _data(event)
    if isinstance(event, flow_core.FlowStarted):
        payload = {"graph": event.flow, "time": now_iso(), "started": True, "running": running}
        return Message(Audience.ALL, event.flow, "started", payload)
    if isinstance(event, flow_core.FlowStopped):
        payload = {"graph": event.flow, "time": now_iso(), "started": False, "running": False}
        if uptime is not None:
            payload["uptime"] = uptime
        return Message(Audience.ALL, event.flow, "stopped", payload)
    return _module_message(event)


def _module_message(event: flow_core.FlowEvent) -> Message | None:
    if isinstance(event, flow_core.ModuleFailed):
        line = f" (line {event.line})" if event.line is not None else ""
        message = f"module {event.module} cannot run: {event.message}{line}"
        return Message(Audience.ALL, event.flow, "error", {"message": message, "graph": event.flow})
    if isinstance(event, flow_core.InvocationFailed):
        payload = {"id": event.module, "error": event.message, "graph": event.flow}
        return Message(Audience.ALL, event.flow, "processerror", payload)
    if isinstance(event, flow_core.ModuleLog):
        payload = {"message": f"[{event.flow}/{event.module}] {event.message}", "type": "message"}
        return Message(Audience.ALL, event.flow, "output", payload)
    if isinstance(event, flow_core.Paused):
        payload = {"graph": event.flow, "node": event.module, "port": event.port}
        return Message(Audience.EXTENDED, event.flow, "paused", payload)
    if isinstance(event, flow_core.FlowUpdated):
        updated = {"graph": event.flow, "revision": event.revision}
        return Message(Audience.EXTENDED, event.flow, "updated", updated)
    return None
