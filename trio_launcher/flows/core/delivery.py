"""Messages on their way: queues, invocations, bounds and backpressure, local-edge wiring."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

import orjson

from ..wire import encode_frame, items_of
from . import outputs as out
from .flow_record import FlowRecord, FlowState
from .records import (
    EdgeRecord,
    Invocation,
    ModuleRecord,
    Pending,
    Route,
    RuntimeRecord,
    split_head,
)
from .state import _INVOKING, _LOADED, ASYNC_WINDOW, CoreState
from .states import ModuleState, RuntimeState
from .taps import edge_data
from .wiring import desired_wiring

__all__ = ["Delivery"]

_M = ModuleState


class Delivery(CoreState):
    """Messages on their way: queues, invocations, bounds and backpressure, local-edge wiring."""

    def _deliver(
        self,
        target: ModuleRecord,
        port: str,
        body: bytes,
        edge: EdgeRecord | None,
        count: int = 1,
    ) -> None:
        """``count`` messages (more than one: a batch, packed) onto ``target``'s queue."""
        pending = Pending(self._next_id + 1, port, body, edge, count)
        self._next_id += count
        if edge is not None:
            edge.add(len(body), count)
        if self._flows[target.flow].tapped:
            for each in pending.bodies():
                self._outputs.append(edge_data(target, port, each, edge))
        target.queue.append(pending)
        if target.state in _INVOKING:
            self._pump(target)

    def _pump(self, module: ModuleRecord) -> None:
        """Invoke ``module`` for what it has queued, as far as its window and edges allow."""
        if module.state not in _INVOKING or not module.queue:
            return
        runtime = self._runtimes.get(module.runtime_id)
        if runtime is None or runtime.state is not RuntimeState.UP:
            return
        window = ASYNC_WINDOW if module.is_async else self._sync_window
        queue = module.queue
        while queue and module.in_flight < window:
            if runtime.isolating and runtime.in_flight:
                return
            if module.state is _M.PAUSED:
                if module.step_credit <= 0:
                    return
                module.step_credit -= 1
            elif module.breakpoints and _held(module, queue[0].port):
                if module.step_credit <= 0:
                    self._pause(module, queue[0].port)
                    return
                module.step_credit -= 1  # resumed: the message it held goes on
            if self._blocked(module):
                module.blocked = True
                self._flows[module.flow].blocked.add(module)
                return
            if queue[0].count > 1 and not self._batchable(runtime, module):
                split_head(queue)
            self._invoke(runtime, module, queue.popleft())

    def _batchable(self, runtime: RuntimeRecord, module: ModuleRecord) -> bool:
        """Whether a batch may go to ``module`` as one ``invoke``: else one per message."""
        return (
            module.state is _M.READY
            and not module.is_async
            and not module.breakpoints
            and self._step is None
            and not runtime.isolating
            and "batches" in runtime.capabilities
        )

    def _invoke(self, runtime: RuntimeRecord, module: ModuleRecord, pending: Pending) -> None:
        invocation_id = str(pending.message_id)
        header: dict[str, Any] = {"t": "invoke", "id": invocation_id}
        header["module"], header["port"] = module.runtime_module, pending.port
        if pending.count > 1:
            header["n"] = pending.count
        runtime.outgoing += encode_frame(header, pending.body)
        invocation = Invocation(pending, module, self._now, module.is_async)
        runtime.in_flight[invocation_id] = invocation
        if invocation.is_async:
            deadline = self._now + module.spec.timeout
            heapq.heappush(runtime.async_deadlines, (deadline, pending.message_id, invocation_id))
        else:
            runtime.sync_order.append(invocation_id)
        module.in_flight += pending.count
        if self._step is not None:
            self._step.invoked(module, invocation_id, pending)

    def _finish(self, pending: Pending) -> None:
        """A message left the runner for good: free its place on its edge."""
        edge = pending.edge
        if edge is not None and edge.release(len(pending.body), pending.count):
            self._edge_freed(edge)

    def _edge_freed(self, edge: EdgeRecord) -> None:
        """A full edge has room again: its producers (and senders) may go on."""
        record = self._flows.get(edge.flow)
        if record is None:
            return
        if edge.key[0] is None:
            self._outputs.append(out.InportRoom(edge.flow, edge.key[1]))
        blocked = list(record.blocked)
        record.blocked.clear()
        for module in blocked:
            module.blocked = False
            self._pump(module)

    def _blocked(self, module: ModuleRecord) -> bool:
        reach = self._reach.get(module)
        if reach is None:
            reach = self._reach[module] = self._reachable_edges(module)
        for edge in reach:  # noqa: SIM110 (a loop: no generator per call on the hot path)
            if edge.full:
                return True
        return False

    def _reachable_edges(self, module: ModuleRecord) -> list[EdgeRecord]:
        """The runner's edges an invocation of ``module`` may emit onto, through local edges."""
        record = self._flows[module.flow]
        edges: list[EdgeRecord] = []
        seen = {module}
        todo = [module]
        while todo:
            current = todo.pop()
            for port in current.spec.outports:
                for public in record.outports.get((current.id, port), ()):
                    edges.append(record.outport_edges[public])
            for port_edges in current.out_edges.values():
                for edge in port_edges:
                    if edge.route is not Route.LOCAL:  # on it, or will be: it bounds
                        edges.append(edge)
                    if edge.route is not Route.RUNNER:
                        target = record.modules[edge.key[2]]
                        if target not in seen:
                            seen.add(target)
                            todo.append(target)
        return edges

    def _flush_to_runtime(self, edge: EdgeRecord) -> None:
        """Send the runtime every message the runner holds for an edge it now carries itself."""
        record = self._flows[edge.flow]
        target = record.modules[edge.key[2]]
        runtime = self._runtimes[target.runtime_id]
        held = [p for p in target.queue if p.edge is edge]
        if not held:
            return
        target.queue = deque(p for p in target.queue if p.edge is not edge)
        batchable = self._batchable(runtime, target)
        for pending in held:
            for each in [pending] if batchable else pending.split():
                self._invoke(runtime, target, each)

    def _route(self, module: ModuleRecord, port: Any, body: bytes, count: int = 1) -> None:
        """What ``module`` sent on ``port``: ``count`` messages (packed, if more than one)."""
        if module.out_breakpoints and _held_out(module, port):
            bodies = items_of(body, count)
            module.held_out.extend((port, each) for each in bodies)
            if module.state is _M.READY:
                self._pause(module, port, output=True)
            return
        self._forward(module, port, body, count)

    def _release_held(self, module: ModuleRecord, count: int | None = None) -> None:
        """Send on what an output breakpoint holds (the oldest ``count``, or all), in order."""
        held = module.held_out
        for _ in range(len(held) if count is None else min(count, len(held))):
            port, body = held.popleft()
            if self._step is not None:
                self._step.released(module, port, body)
            self._forward(module, port, body)

    def _forward(self, module: ModuleRecord, port: Any, body: bytes, count: int = 1) -> None:
        for edge in module.out_edges.get(port, ()):
            if not edge.runtime_local:
                target = self._flows[module.flow].modules[edge.key[2]]
                self._deliver(target, edge.key[3], body, edge, count)
        record = self._flows[module.flow]
        publics = record.outports.get((module.id, port), ())
        if publics:
            bodies = items_of(body, count)
            for public in publics:
                edge = record.outport_edges[public]
                for each in bodies:
                    edge.add(len(each))
                    self._outputs.append(out.PortOutput(module.flow, public, each))

    def _heard(self, runtime: str, invocation_id: Any) -> None:
        record = self._runtimes[runtime]
        invocation = record.in_flight.get(invocation_id)
        if invocation is not None:
            invocation.heard = True
        elif isinstance(invocation_id, str) and invocation_id.isdigit():
            record.heard_upto = max(record.heard_upto, int(invocation_id))  # inside a batch

    def _pump_runtime(self, runtime: RuntimeRecord) -> None:
        """After a crash, one invocation at a time until what was in doubt has run."""
        if not any(m.queue for m in self._modules.values() if m.runtime_id == runtime.name):
            runtime.isolating = False
            for record in {self._flows[m.flow] for m in self._modules.values()}:
                self._rewire(record)  # its local edges, held back while it isolated
        for module in self._modules.values():
            if module.runtime_id == runtime.name:
                self._pump(module)

    def _pause(self, module: ModuleRecord, port: str, *, output: bool = False) -> None:
        record = self._flows[module.flow]
        paused = record.modules.values() if record.pause_all else (module,)
        for each in paused:
            if each.state is _M.READY:
                self._advance(each, "breakpoint")
        self._outputs.append(out.Paused(module.flow, module.id, port, output))
        self._rewire(record)

    def _rewire(self, record: FlowRecord) -> None:
        """Tell each runtime which of the flow's edges it carries itself, where that changed."""
        for module in record.modules.values():
            runtime = self._runtimes.get(module.runtime_id)
            if runtime is None or runtime.state is not RuntimeState.UP:
                continue
            if "local-edges" not in runtime.capabilities or module.state not in _LOADED:
                continue
            wiring, routes = desired_wiring(record, module, self._modules_ready(record))
            if wiring == module.wiring:
                continue
            changed = [e for e, route in routes.items() if _moving(e, route)]
            for edge in changed:
                edge.route = Route.TO_LOCAL if routes[edge] is Route.LOCAL else Route.TO_RUNNER
            module.wiring = wiring
            module.wires_out.append([(e, routes[e] is Route.LOCAL) for e in changed])
            # a fence whenever a port has local targets; the runtime holds only the
            # targets this wire adds (docs/flow-runtime-protocol.md, "Fences")
            fence = str(self._next_fence()) if any(t for t, _ in wiring.values()) else None
            ports = {
                port: {"local": [list(t) for t in local], "runner": runner}
                for port, (local, runner) in wiring.items()
            }
            self._send(
                runtime.name,
                {"t": "wire", "module": module.runtime_module},
                orjson.dumps({"ports": ports, "fence": fence}),
            )
        self._reach.clear()

    def _modules_ready(self, record: FlowRecord) -> frozenset[str]:
        if record.state is not FlowState.RUNNING or self._step is not None or record.tapped:
            return frozenset()
        return frozenset(
            m.id
            for m in record.modules.values()
            if m.state is _M.READY
            and not m.breakpoints
            and not m.out_breakpoints
            and not self._isolating(m.runtime_id)
        )

    def _isolating(self, name: str) -> bool:
        """Whether runtime ``name`` runs one invocation at a time: no local edges then."""
        runtime = self._runtimes.get(name)
        return runtime is not None and runtime.isolating

    def _next_fence(self) -> int:
        self._next_id += 1
        return self._next_id


def _held_out(module: ModuleRecord, port: str) -> bool:
    return "*" in module.out_breakpoints or port in module.out_breakpoints


def _held(module: ModuleRecord, port: str) -> bool:
    return "*" in module.breakpoints or port in module.breakpoints


def _moving(edge: EdgeRecord, route: Route) -> bool:
    if route is Route.LOCAL:
        return edge.route in (Route.RUNNER, Route.TO_RUNNER)
    return edge.route in (Route.LOCAL, Route.TO_LOCAL)
