"""What each frame from a runtime does, and the invocations' deadlines."""

from __future__ import annotations

import heapq
from typing import Any

import orjson

from ..wire import Frame, items_of
from . import outputs as out
from .flow_record import FlowState
from .lifecycle import Lifecycle
from .records import (
    Invocation,
    ModuleRecord,
    Route,
    RuntimeRecord,
)
from .state import _json
from .states import ModuleState, RuntimeState

__all__ = ["FrameHandlers"]

_M = ModuleState


class FrameHandlers(Lifecycle):
    """What each frame from a runtime does, and the invocations' deadlines."""

    def _on_emit(self, name: str, frame: Frame) -> None:
        header = frame.header
        module = self._modules.get(header.get("module", ""))
        if module is None or module.runtime_id != name:
            return
        port = header.get("port")
        count = header.get("n", 1)
        if type(count) is not int or count < 1:
            return
        self._heard(name, header.get("id"))
        if count > 1:
            self._heard(name, header.get("to"))
        if self._step is not None:
            for body in items_of(frame.body, count):
                self._step.emitted(module, header.get("id"), port, body)
        self._route(module, port, frame.body, count)

    def _on_done(self, name: str, frame: Frame) -> None:
        """Invocation ``id`` ended (``n`` of them: ``id``, ``id`` + 1, ...)."""
        runtime = self._runtimes[name]
        invocation_id, left = frame.header.get("id", ""), frame.header.get("n", 1)
        if type(left) is not int or left < 1:
            return
        runtime.last_done_at = self._now
        single = runtime.in_flight.get(invocation_id)
        if left == 1 and single is not None and single.pending.count == 1 and not runtime.isolating:
            single.done = 1  # the common case, without the batch bookkeeping below
            single.module.in_flight -= 1
            self._invocation_over(runtime, invocation_id, single)
            self._pump(single.module)
            return
        ended: list[ModuleRecord] = []
        while left:
            key = runtime.aliases.pop(invocation_id, invocation_id)
            invocation = runtime.in_flight.get(key)
            if invocation is None:
                break
            taken = min(left, invocation.pending.count - invocation.done)
            invocation.done += taken
            left -= taken
            invocation.module.in_flight -= taken
            ended.append(invocation.module)
            invocation_id = str(invocation.pending.message_id + invocation.done)
            if invocation.done < invocation.pending.count:
                runtime.aliases[invocation_id] = key
                break
            self._invocation_over(runtime, key, invocation)
        if runtime.isolating:
            self._pump_runtime(runtime)
            return
        for module in dict.fromkeys(ended):
            self._pump(module)

    def _invocation_over(self, runtime: RuntimeRecord, key: str, invocation: Invocation) -> None:
        """Every message of ``invocation`` is done: it leaves the runtime's books."""
        del runtime.in_flight[key]
        self._finish(invocation.pending)
        if invocation.module.drain_answered:
            self._maybe_drained(invocation.module)
        if self._step is not None and self._step.done(key):
            self._maybe_stepped()

    def _on_error(self, name: str, frame: Frame) -> None:
        header = frame.header
        rid = header.get("module", "")
        if rid in self._checks:
            body = _json(frame.body)
            self._check_answer(
                rid, self._checks[rid][0], str(body.get("message")), body.get("line")
            )
            return
        module = self._modules.get(rid)
        if module is None or module.runtime_id != name:
            return
        body = _json(frame.body)
        message, line = str(body.get("message", "")), body.get("line")
        if "id" not in header:
            self._load_failed(module, message, line)
            return
        message_id = int(header["id"]) if str(header["id"]).isdigit() else None
        self._heard(name, header["id"])
        if self._step is not None:
            self._step.failed(module, header["id"], message)
        if module.out_edges.get("error"):
            error = {"message": message, "line": line, "module": module.id}
            self._route(module, "error", orjson.dumps(error))
        else:
            self._outputs.append(
                out.InvocationFailed(module.flow, module.id, message, line, message_id)
            )

    def _on_loaded(self, name: str, frame: Frame) -> None:
        rid = frame.header.get("module", "")
        if rid in self._checks:
            self._send(name, {"t": "unload", "module": rid})
            self._check_answer(rid, self._checks[rid][0], None, None)
            return
        module = self._modules.get(rid)
        if module is None or module.runtime_id != name:
            return
        module.is_async = bool(_json(frame.body).get("async", False))
        if module.state is _M.SWAPPING and module.loading is not None:
            module.spec, module.source = module.loading
            module.loading = None
            self._left(module, loaded=True)
        if module.state not in (_M.LOADING, _M.SWAPPING):
            return
        self._advance(module, "loaded")
        record = self._flows[module.flow]
        self._reach.clear()
        self._maybe_started(record)
        if self._start_pending_update(module):
            return
        if record.state is FlowState.RUNNING:
            self._rewire(record)
            self._pump(module)
            self._maybe_updated(record)

    def _on_drained(self, name: str, frame: Frame) -> None:
        module = self._modules.get(frame.header.get("module", ""))
        if module is None or module.runtime_id != name:
            return
        if module.state in (_M.DRAINING, _M.STOPPING):
            module.drain_answered = True
            self._maybe_drained(module)

    def _maybe_drained(self, module: ModuleRecord) -> None:
        """A drained module goes on once its invocations' cascades ended too."""
        if module.in_flight:
            return  # a cascade rooted at it is not done: its done comes later
        module.drain_answered = False
        if module.state is _M.DRAINING:
            self._advance(module, "drained")
            self._swap(module)
        elif module.state is _M.STOPPING:
            self._advance(module, "drained")
            self._send(module.runtime_id, {"t": "unload", "module": module.runtime_module})
            self._maybe_stopped(self._flows[module.flow])

    def _on_ctx_set(self, name: str, frame: Frame) -> None:
        module = self._modules.get(frame.header.get("module", ""))
        if module is None or module.runtime_id != name:
            return
        body = _json(frame.body)
        key = body.get("key")
        if isinstance(key, str):
            module.context[key] = body.get("value")
            if self._step is not None:
                self._step.context_set(module, key, body.get("value"))

    def _on_log(self, name: str, frame: Frame) -> None:
        rid = frame.header.get("module", "")
        module = self._modules.get(rid)
        body = _json(frame.body)
        flow, module_id = (module.flow, module.id) if module else ("", rid)
        self._outputs.append(
            out.ModuleLog(flow, module_id, str(body.get("level")), str(body.get("message")))
        )

    def _on_wired(self, name: str, frame: Frame) -> None:
        module = self._modules.get(frame.header.get("module", ""))
        if module is None or module.runtime_id != name or not module.wires_out:
            return
        changed = module.wires_out.popleft()
        later = {id(e): e for wire in module.wires_out for e, _ in wire}
        for edge, local in changed:
            edge.runtime_local = local
            if local:  # what the runner holds for it is older than what the fence holds
                self._flush_to_runtime(edge)
            if id(edge) in later:
                continue
            if edge.route is Route.TO_LOCAL:
                edge.route = Route.LOCAL
            elif edge.route is Route.TO_RUNNER:
                edge.route = Route.RUNNER
        self._reach.clear()
        fence = _json(frame.body).get("fence")
        if fence is not None:
            self._send(name, {"t": "release"}, orjson.dumps({"fence": fence}))

    _handlers: dict[str, Any] = {
        "emit": _on_emit,
        "done": _on_done,
        "error": _on_error,
        "loaded": _on_loaded,
        "drained": _on_drained,
        "ctx.set": _on_ctx_set,
        "log": _on_log,
        "wired": _on_wired,
    }

    @staticmethod
    def _earliest_deadline(runtime: RuntimeRecord) -> float | None:
        """The first deadline among the runtime's invocations in flight, or None."""
        if runtime.state is not RuntimeState.UP:
            return None
        in_flight = runtime.in_flight
        order, heap = runtime.sync_order, runtime.async_deadlines
        while order and order[0] not in in_flight:
            order.popleft()
        while heap and heap[0][2] not in in_flight:
            heapq.heappop(heap)
        earliest = heap[0][0] if heap else None
        if order:
            head = in_flight[order[0]]
            started = max(head.sent_at, runtime.last_done_at)
            deadline = started + head.module.spec.timeout
            if earliest is None or deadline < earliest:
                earliest = deadline
        return earliest

    def _overdue(self, runtime: RuntimeRecord, now: float) -> list[Invocation]:
        return [i for i in self._running(runtime) if self._deadline(runtime, i) <= now]

    @staticmethod
    def _running(runtime: RuntimeRecord) -> list[Invocation]:
        """The invocations that may be running: async ones, up to the oldest sync one."""
        running: list[Invocation] = []
        for invocation in runtime.in_flight.values():
            running.append(invocation)
            if not invocation.is_async:
                break
        return running

    @staticmethod
    def _deadline(runtime: RuntimeRecord, invocation: Invocation) -> float:
        started = invocation.sent_at
        if not invocation.is_async:
            started = max(started, runtime.last_done_at)
        return started + invocation.module.spec.timeout
