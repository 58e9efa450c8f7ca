"""The ``deps`` extension: a module's packages, listed, installed, removed, locked, collected.

``deps:list`` answers at once. ``deps:install``, ``deps:remove``, ``deps:lock``
and ``deps:gc`` need the endpoint's secret (an endpoint without one refuses
them, and refuses graph changes that would need the installer): they run
beside the connection's other commands, send ``deps:progress`` to the client
that asked (a line per package), and answer when done, or ``ok: false`` with
the installer's error, or ``cancelled``. ``deps:cancel {request}`` cancels one
of the connection's changes; a client that leaves cancels its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from ..deps.dependencies import Progress
from ..deps.lock import InstalledLock
from ..errors import FlowRunnerError, InvalidFlow
from .connection import Connection
from .hub import Hub
from .messages import Refused, Request, requested_graph

__all__ = ["DEPS_HANDLERS"]

log = logging.getLogger(__name__)

Change = Callable[[Callable[[Progress], None]], Awaitable[dict[str, Any]]]


def _strings(request: Request, key: str) -> list[str]:
    value = request.payload.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Refused(f"{key} is a non-empty list of strings")
    return value


def _node(request: Request) -> tuple[str, str]:
    node = request.payload.get("node")
    if not isinstance(node, str) or not node:
        raise Refused("node names the module (a process of the graph)")
    return requested_graph(request), node


def _lock_payload(installed: InstalledLock | None) -> dict[str, Any] | None:
    return None if installed is None else installed.lock.to_document()


async def _list(hub: Hub, connection: Connection, request: Request) -> None:
    runtime = request.payload.get("runtime")
    module = "/".join(_node(request)) if "node" in request.payload else None
    listed = hub.runner.packages.list(
        runtime_id=runtime if isinstance(runtime, str) else None, flow_module_id=module
    )
    packages = [attrs.asdict(package) for package in listed]
    await connection.answer("deps", "list", {"ok": True, "packages": packages}, request.request_id)


async def _install_or_remove(hub: Hub, connection: Connection, request: Request) -> None:
    graph, node = _node(request)
    packages = _strings(request, "packages")
    packages_api = hub.runner.packages
    edit = packages_api.install if request.command == "install" else packages_api.remove

    async def change(progress: Callable[[Progress], None]) -> dict[str, Any]:
        installed = await edit(f"{graph}/{node}", packages, progress=progress)
        return {"graph": graph, "node": node, "lock": _lock_payload(installed)}

    _start(hub, connection, request, change)


async def _lock(hub: Hub, connection: Connection, request: Request) -> None:
    graph = requested_graph(request)
    nodes = _strings(request, "nodes") if "nodes" in request.payload else None

    async def change(progress: Callable[[Progress], None]) -> dict[str, Any]:
        locks = await hub.runner.packages.lock(graph, nodes, progress=progress)
        return {
            "graph": graph,
            "locks": {node: _lock_payload(lock) for node, lock in locks.items()},
        }

    _start(hub, connection, request, change)


async def _gc(hub: Hub, connection: Connection, request: Request) -> None:
    async def change(_: Callable[[Progress], None]) -> dict[str, Any]:
        return {"removed": await hub.runner.packages.collect_garbage()}

    _start(hub, connection, request, change)


async def _cancel(hub: Hub, connection: Connection, request: Request) -> None:
    target = request.payload.get("request")
    scope = connection.changes.get(target) if isinstance(target, str) else None
    if scope is not None:
        scope.cancel()
    answer = {"ok": True, "request": target, "cancelled": scope is not None}
    await connection.answer("deps", "cancel", answer, request.request_id)


def _start(hub: Hub, connection: Connection, request: Request, change: Change) -> None:
    if hub.refuse_installs is not None:
        raise Refused(hub.refuse_installs)
    if request.request_id is None or request.request_id in connection.changes:
        raise Refused("a package change needs a requestId of its own (deps:cancel names it)")
    scope = connection.changes[request.request_id] = trio.CancelScope()
    connection.start_soon(_run, connection, request, change, scope)


async def _run(
    connection: Connection, request: Request, change: Change, scope: trio.CancelScope
) -> None:
    request_id = request.request_id
    assert request_id is not None

    def progress(step: Progress) -> None:
        payload = {**attrs.asdict(step), "request": request_id}
        connection.event("deps", "progress", payload)

    answer: dict[str, Any] = {"ok": False, "reason": "cancelled"}
    try:
        with scope:
            answer = {"ok": True, **await change(progress)}
    except (FlowRunnerError, InvalidFlow) as exc:
        answer = {"ok": False, "reason": str(exc)}
        if isinstance(exc, InvalidFlow):
            answer["problems"] = [attrs.asdict(problem) for problem in exc.problems]
    except Exception as exc:  # a client's request never stops the endpoint
        log.exception("deps:%s failed", request.command)
        answer = {"ok": False, "reason": f"internal error ({type(exc).__name__}); logged"}
    finally:
        connection.changes.pop(request_id, None)
    await connection.answer("deps", request.command, answer, request_id)


DEPS_HANDLERS = {
    "list": _list,
    "install": _install_or_remove,
    "remove": _install_or_remove,
    "lock": _lock,
    "gc": _gc,
    "cancel": _cancel,
}
