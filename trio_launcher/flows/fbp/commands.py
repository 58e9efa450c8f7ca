"""Every command the FBP endpoint takes, and how a refusal is answered.

:class:`Commands` runs one request for a connection. A refusal (:class:`Refused`,
or the Runner API's :class:`~..errors.FlowRunnerError` and
:class:`~..errors.InvalidFlow`) is answered ``PROTOCOL:error`` with its
message, or, for an extension command, with the command's own answer with
``ok: false``, the ``reason`` (and the flow's ``problems``). When the endpoint
has a secret, only ``runtime:getruntime`` is answered without it (with no
capabilities).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ... import __version__
from ..errors import FlowRunnerError, InvalidFlow
from .connection import Connection
from .deps_commands import DEPS_HANDLERS
from .graph_commands import GRAPH_HANDLERS, document_for_runner
from .hub import Hub
from .library import component_from_source, component_payload, source_payload
from .messages import (
    EXTENSION_CAPABILITIES,
    PROTOCOL_VERSION,
    RUNTIME_TYPE,
    STANDARD_CAPABILITIES,
    Refused,
    Request,
)
from .network_commands import NETWORK_HANDLERS
from .trace_commands import TRACE_HANDLERS

__all__ = ["EXTENSION_COMMANDS", "Commands"]

Handler = Callable[[Hub, Connection, Request], Awaitable[None]]
#: The commands of the extensions: answered with ``ok``, and their users get their events.
EXTENSION_COMMANDS = frozenset(
    {
        ("graph", "list"),
        ("graph", "delete"),
        ("graph", "set"),
        ("runtime", "runtimes"),
        ("network", "setbreakpoint"),
        ("network", "removebreakpoint"),
        ("network", "resume"),
        ("network", "drop"),
        ("network", "step"),
        *(("deps", command) for command in DEPS_HANDLERS),
    }
)
_DENIED = "access denied: this runtime needs the right secret"

log = logging.getLogger(__name__)


class Commands:
    """Runs the requests of every connection of one endpoint."""

    def __init__(self, hub: Hub, secret: str | None) -> None:
        self._hub = hub
        self._secret = secret.encode() if secret else None
        handlers: dict[tuple[str, str], Handler] = {
            ("runtime", "getruntime"): self._getruntime,
            ("runtime", "packet"): _packet,
            ("runtime", "runtimes"): _runtimes,
            ("component", "list"): _list,
            ("component", "getsource"): _getsource,
            ("component", "source"): _source,
        }
        handlers.update({("graph", c): h for c, h in GRAPH_HANDLERS.items()})
        handlers.update({("network", c): h for c, h in NETWORK_HANDLERS.items()})
        handlers.update({("trace", c): h for c, h in TRACE_HANDLERS.items()})
        handlers.update({("deps", c): h for c, h in DEPS_HANDLERS.items()})
        self._handlers = handlers

    def authorized(self, request: Request) -> bool:
        """Whether the request carries the endpoint's secret (compared in constant time)."""
        if self._secret is None:
            return True
        given = (request.secret or "").encode()
        return hmac.compare_digest(given, self._secret)

    async def run(self, connection: Connection, request: Request) -> None:
        """Carry out ``request`` and answer it; a refusal is answered, never raised."""
        key = (request.protocol, request.command)
        extension = key in EXTENSION_COMMANDS
        try:
            handler = self._handlers.get(key)
            if handler is None:
                raise Refused(f"unknown command {request.protocol}:{request.command}")
            if not self.authorized(request) and key != ("runtime", "getruntime"):
                raise Refused(_DENIED)
            connection.extended = connection.extended or extension
            await handler(self._hub, connection, request)
        except (Refused, FlowRunnerError, InvalidFlow) as exc:
            await _refuse(connection, request, _refusal(exc), extension=extension)
        except Exception as exc:  # a client's message never stops the endpoint
            log.exception("FBP command %s:%s failed", request.protocol, request.command)
            refusal = Refused(f"internal error ({type(exc).__name__}); the runtime logged it")
            await _refuse(connection, request, refusal, extension=extension)
        finally:
            self._hub.sync()

    async def _getruntime(self, hub: Hub, connection: Connection, request: Request) -> None:
        everything = [*STANDARD_CAPABILITIES, *EXTENSION_CAPABILITIES]
        payload = {
            "id": hub.runtime_id,
            "type": RUNTIME_TYPE,
            "version": PROTOCOL_VERSION,
            "label": f"trio-launcher {__version__} flow runner",
            "capabilities": everything if self.authorized(request) else [],
            "allCapabilities": everything,
        }
        await connection.answer("runtime", "runtime", payload, request.request_id)


def _refusal(exc: Exception) -> Refused:
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, InvalidFlow):
        return Refused(str(exc), exc.problems)
    return Refused(str(exc))


async def _refuse(
    connection: Connection, request: Request, refusal: Refused, *, extension: bool
) -> None:
    payload = refusal.payload()
    if extension:
        reason = payload.pop("message")
        answer = {"ok": False, "reason": reason, **payload}
        await connection.answer(request.protocol, request.command, answer, request.request_id)
    else:
        await connection.answer(request.protocol, "error", payload, request.request_id)


# ------------------------------------------------------------------ runtime


async def _packet(hub: Hub, connection: Connection, request: Request) -> None:
    payload = request.payload
    graph, port, event = payload.get("graph"), payload.get("port"), payload.get("event")
    if not all(isinstance(v, str) and v for v in (graph, port, event)):
        raise Refused("runtime:packet needs graph, port and event")
    assert isinstance(graph, str) and isinstance(port, str)
    connection.watch(graph)
    if event == "data":
        await hub.runner.send(graph, port, payload.get("payload"))
    answer = {
        key: payload[key] for key in ("port", "event", "graph", "type", "payload") if key in payload
    }
    await connection.answer("runtime", "packetsent", answer, request.request_id)


async def _runtimes(hub: Hub, connection: Connection, request: Request) -> None:
    runtimes = [attrs.asdict(info) for info in hub.runner.list_runtimes()]
    answer = {"ok": True, "runtimes": runtimes}
    await connection.answer("runtime", "runtimes", answer, request.request_id)


# ---------------------------------------------------------------- component


async def _list(hub: Hub, connection: Connection, request: Request) -> None:
    library = hub.runner.components
    for component in library.values():
        payload = component_payload(component)
        await connection.answer("component", "component", payload, request.request_id)
    await connection.answer("component", "componentsready", len(library), request.request_id)


async def _getsource(hub: Hub, connection: Connection, request: Request) -> None:
    name = request.payload.get("name")
    component = hub.runner.components.get(name) if isinstance(name, str) else None
    if component is None:
        raise Refused(f"no component {name!r}")
    runtimes = [info.id for info in hub.runner.list_runtimes()]
    payload = source_payload(component, runtimes)
    await connection.answer("component", "source", payload, request.request_id)


async def _source(hub: Hub, connection: Connection, request: Request) -> None:
    runner = hub.runner
    runtimes = [info.id for info in runner.list_runtimes()]
    component = component_from_source(request.payload, runner.components, runtimes)
    before = runner.components.get(component.name)
    runner.register_component(component)
    try:
        await _update_users(hub, component.name)
    except (FlowRunnerError, InvalidFlow):
        if before is not None:
            runner.register_component(before)
        raise
    payload = component_payload(component)
    await connection.answer("component", "component", payload, request.request_id)


async def _update_users(hub: Hub, name: str) -> None:
    """Hot-update every running flow with a module of component ``name``."""
    for graph in hub.runner.list_flows():
        flow = hub.runner.get_flow(graph)
        uses = any(m.from_library and m.component == name for m in flow.modules.values())
        if uses and hub.runner.flow_state(graph) != "stopped":
            document: dict[str, Any] = flow.to_document()
            document["revision"] = flow.revision + 1
            await hub.runner.add_or_update_flow(
                document_for_runner(hub, document), refuse_installs=hub.refuse_installs
            )
