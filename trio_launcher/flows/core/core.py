"""The flow runner's core: flows, modules, edges and runtimes, sans-IO.

:class:`FlowCore` owns no process, pipe or clock. The caller feeds it what
happened (frames from a runtime, a runtime's start or exit, API calls) with
the current time, and carries out the outputs each call returns
(:mod:`.outputs`): bytes for a runtime's FIFO, runtimes to start or stop,
messages on exported ports, events. Timers fire only in
:meth:`FlowCore.advance_time`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ..wire import Frame, encode_frame
from . import outputs as out
from .flow_record import FlowRecord, FlowState, build_edges
from .records import (
    EdgeRecord,
    Invocation,
    ModuleRecord,
    Pending,
    Route,
    RuntimeRecord,
)
from .states import MODULE_TRANSITIONS, RUNTIME_TRANSITIONS, ModuleState, RuntimeState
from .stepping import StepRecord
from .taps import edge_data
from .wiring import desired_wiring

if TYPE_CHECKING:
    from ..graph import Flow, Module

__all__ = ["FlowCore", "FlowCoreError", "PortFull"]

_M = ModuleState
#: Invocations of a synchronous module sent ahead of their turn (the runtime's pipeline).
SYNC_WINDOW = 64
#: Invocations of an asynchronous module running at once.
ASYNC_WINDOW = 1024
_INVOKING = frozenset({_M.READY, _M.PAUSED})
_LOADED = frozenset({_M.READY, _M.PAUSED, _M.DRAINING, _M.SWAPPING, _M.STOPPING})


class FlowCoreError(Exception):
    """A call the core's state does not allow (unknown flow or port, a flow not running)."""


class PortFull(FlowCoreError):
    """An exported input port holds as much as its bound allows: wait for :class:`InportRoom`."""


class FlowCore:
    """Every decision of the flow runner; see the module's docstring."""

    def __init__(self, *, sync_window: int = SYNC_WINDOW) -> None:
        self._sync_window = sync_window
        self._flows: dict[str, FlowRecord] = {}
        self._modules: dict[str, ModuleRecord] = {}
        self._runtimes: dict[str, RuntimeRecord] = {}
        self._next_id = 0
        self._outputs: list[out.Output] = []
        self._checks: dict[str, tuple[int, str, str]] = {}
        self._checks_sent: set[str] = set()
        self._check_results: dict[int, dict[str, tuple[str, int | None]]] = {}
        self._check_waiting: dict[int, set[str]] = {}
        self._step: StepRecord | None = None
        self._reach: dict[ModuleRecord, list[EdgeRecord]] = {}
        self._now = 0.0

    # ----------------------------------------------------------------- queries

    def flow(self, flow_id: str) -> FlowRecord:
        """The record of flow ``flow_id``; :class:`FlowCoreError` if there is none."""
        try:
            return self._flows[flow_id]
        except KeyError:
            raise FlowCoreError(f"no flow {flow_id!r}") from None

    def flows(self) -> Iterable[FlowRecord]:
        """Every flow the core holds."""
        return self._flows.values()

    def runtime_state(self, name: str) -> RuntimeState:
        """Where runtime ``name`` is (DOWN if never needed)."""
        record = self._runtimes.get(name)
        return RuntimeState.DOWN if record is None else record.state

    def needs_runtime(self, name: str) -> bool:
        """Whether a module or a check needs runtime ``name`` to run."""
        return any(self._uses(m, name) for m in self._modules.values()) or any(
            runtime == name for _, runtime, _ in self._checks.values()
        )

    def inport_has_room(self, flow_id: str, port: str) -> bool:
        """Whether :meth:`offer` on that exported input would be taken now."""
        return not self._inport(flow_id, port).full

    # ------------------------------------------------------------ flows (API)

    def add_flow(self, flow: Flow) -> list[out.Output]:
        """Hold a new flow, stopped."""
        if flow.id in self._flows:
            raise FlowCoreError(f"flow {flow.id!r} exists; update it instead")
        edges, inports = build_edges(flow, {})
        modules = {
            m.id: ModuleRecord(flow.id, m, m.source, m.runtime) for m in flow.modules.values()
        }
        record = FlowRecord(flow, modules, edges, inports, _outport_map(flow))
        self._flows[flow.id] = record
        for module in modules.values():
            self._modules[module.runtime_module] = module
        _link_out_edges(record)
        return self._take()

    def start_flow(self, flow_id: str, now: float) -> list[out.Output]:
        """Load every module of a stopped flow; :class:`~.outputs.FlowStarted` when all are."""
        self._now = now
        record = self.flow(flow_id)
        if record.state is not FlowState.STOPPED:
            raise FlowCoreError(f"flow {flow_id!r} is not stopped")
        record.state = FlowState.STARTING
        for module in record.modules.values():
            self._advance(module, "start")
            self._load(module)
        self._maybe_started(record)
        return self._take()

    def stop_flow(self, flow_id: str, now: float) -> list[out.Output]:
        """Hold every input, let what runs end, unload; :class:`~.outputs.FlowStopped` then."""
        self._now = now
        record = self.flow(flow_id)
        if record.state in (FlowState.STOPPED, FlowState.STOPPING):
            return self._take()
        record.state = FlowState.STOPPING
        for module in record.modules.values():
            self._stop_module(module)
        self._rewire(record)
        self._maybe_stopped(record)
        return self._take()

    def remove_flow(self, flow_id: str) -> list[out.Output]:
        """Forget a stopped flow."""
        record = self.flow(flow_id)
        if record.state is not FlowState.STOPPED:
            raise FlowCoreError(f"flow {flow_id!r} is running; stop it first")
        for module in record.modules.values():
            del self._modules[module.runtime_module]
        del self._flows[flow_id]
        self._stop_unneeded_runtimes()
        return self._take()

    def update_flow(self, flow: Flow, now: float) -> list[out.Output]:
        """Bring a held flow to ``flow``'s revision; a running one without stopping it.

        Unchanged modules go on; each changed one has its input held at the
        runner, drains, and loads its new version with its context. Edge
        changes take effect at once, between two messages.
        :class:`~.outputs.FlowUpdated` comes when every changed module is ready.
        """
        self._now = now
        record = self.flow(flow.id)
        running = record.state is not FlowState.STOPPED
        old_modules = record.modules
        modules: dict[str, ModuleRecord] = {}
        for spec in flow.modules.values():
            source = spec.source
            module = old_modules.get(spec.id)
            if module is None:
                module = ModuleRecord(flow.id, spec, source, spec.runtime)
                self._modules[module.runtime_module] = module
                if running:
                    self._advance(module, "start")
                    self._load(module)
            elif _changed(module, spec, source):
                self._change_module(module, spec, source, running)
            modules[spec.id] = module
        for module_id, module in old_modules.items():
            if module_id not in modules:
                self._remove_module(module)
        old_edges = {**record.edges, **{e.key: e for e in record.inports.values()}}
        edges, inports = build_edges(flow, old_edges)
        kept = set(edges) | {e.key for e in inports.values()}
        for key, edge in old_edges.items():
            edge.removed = key not in kept
        record.flow, record.modules, record.edges, record.inports = flow, modules, edges, inports
        record.outports = _outport_map(flow)
        _link_out_edges(record)
        self._reach.clear()
        if running:
            record.updating = flow.revision
            self._send_new_initial_packets(record, old_edges)
            self._rewire(record)
            for module in modules.values():
                self._pump(module)
            self._maybe_updated(record)
        return self._take()

    def offer(self, flow_id: str, port: str, body: bytes, now: float) -> list[out.Output]:
        """A message (JSON bytes) into exported input ``port``; :class:`PortFull` if full."""
        self._now = now
        edge = self._inport(flow_id, port)
        if edge.full:
            raise PortFull(f"exported input {port!r} of flow {flow_id!r} is full")
        record = self._flows[flow_id]
        if record.state is FlowState.STOPPED:
            raise FlowCoreError(f"flow {flow_id!r} is not running")
        _, _, module_id, module_port = edge.key
        self._deliver(record.modules[module_id], module_port, body, edge)
        return self._take()

    # ------------------------------------------------------------ breakpoints

    def set_breakpoint(
        self, flow_id: str, module_id: str, port: str = "*", *, pause_all: bool = False
    ) -> list[out.Output]:
        """Hold messages at input ``port`` of a module (``*``: every input).

        ``pause_all``: a message held there pauses the whole flow, not only the module.
        """
        record = self.flow(flow_id)
        module = self._module_of(record, module_id)
        module.breakpoints.add(port)
        record.pause_all = pause_all
        self._rewire(record)
        return self._take()

    def remove_breakpoint(self, flow_id: str, module_id: str) -> list[out.Output]:
        """Remove a module's breakpoints; what they paused goes on."""
        record = self.flow(flow_id)
        module = self._module_of(record, module_id)
        module.breakpoints.clear()
        if record.pause_all and any(m.breakpoints for m in record.modules.values()):
            return self._take()
        record.pause_all = False
        return self.resume(flow_id)

    def resume(self, flow_id: str) -> list[out.Output]:
        """Every paused module of the flow goes on; each holds again at its next breakpoint."""
        record = self.flow(flow_id)
        for module in record.modules.values():
            if module.state is _M.PAUSED:
                self._advance(module, "resume")
                module.step_credit = 1 if module.breakpoints else 0
        self._rewire(record)
        for module in record.modules.values():
            self._pump(module)
        return self._take()

    def drop_held(self, flow_id: str, module_id: str) -> list[out.Output]:
        """Drop the oldest message a paused module holds."""
        module = self._module_of(self.flow(flow_id), module_id)
        if module.state is not _M.PAUSED or not module.queue:
            raise FlowCoreError(f"module {module_id!r} holds no message")
        self._finish(module.queue.popleft())
        return self._take()

    def step(self, token: int, now: float) -> list[out.Output]:
        """Run one held invocation of every paused module (its oldest message).

        :class:`~.outputs.StepDone` with ``token`` comes when every one of them ended.
        """
        self._now = now
        if self._step is not None:
            raise FlowCoreError("a step is already running")
        paused = [m for m in self._modules.values() if m.state is _M.PAUSED and m.queue]
        self._step = StepRecord(token, {m.runtime_module: m for m in paused})
        for module in paused:
            module.step_credit = 1
            self._pump(module)
        self._maybe_stepped()
        return self._take()

    def set_tap(self, flow_id: str, tapped: bool) -> list[out.Output]:
        """Report every message delivered in the flow as :class:`~.taps.EdgeData` (or stop)."""
        record = self.flow(flow_id)
        record.tapped = tapped
        self._rewire(record)
        return self._take()

    # --------------------------------------------------------- compile checks

    def check_sources(
        self, token: int, modules: Iterable[tuple[str, str, str]], now: float
    ) -> list[out.Output]:
        """Compile ``(module id, runtime, source)`` in their runtimes, without running them.

        :class:`~.outputs.CheckDone` with ``token`` says what failed, with the line.
        """
        self._now = now
        waiting: set[str] = set()
        for module_id, runtime, source in modules:
            name = f"check:{token}:{module_id}"
            self._checks[name] = (token, runtime, source)
            waiting.add(name)
            if self._runtime(runtime).state is RuntimeState.UP:
                self._send_check(runtime, name, source)
            else:
                self._need_runtime(runtime)
        self._check_results[token] = {}
        self._check_waiting[token] = waiting
        self._maybe_checked(token)
        return self._take()

    # --------------------------------------------------------------- runtimes

    def runtime_started(
        self, name: str, capabilities: Iterable[str], now: float
    ) -> list[out.Output]:
        """Runtime ``name`` said hello: load what waits for it."""
        self._now = now
        runtime = self._runtime(name)
        runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "hello")
        if runtime.state is RuntimeState.STOPPING:
            return self._take()  # no longer needed: its keeper is stopping it
        runtime.capabilities = frozenset(capabilities)
        runtime.last_done_at = now
        for check, (_, check_runtime, source) in self._checks.items():
            if check_runtime == name and check not in self._checks_sent:
                self._send_check(name, check, source)
        for module in self._modules.values():
            if module.runtime_id == name and module.state in (_M.LOADING, _M.SWAPPING):
                self._load(module)
        return self._take()

    def runtime_failed(self, name: str, reason: str, now: float) -> list[out.Output]:
        """Runtime ``name`` could not start: what waits for it fails, with ``reason``."""
        self._now = now
        runtime = self._runtime(name)
        runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "exited")
        for check, (token, check_runtime, _) in list(self._checks.items()):
            if check_runtime == name:
                self._check_answer(check, token, f"runtime {name!r} cannot start: {reason}", None)
        for module in self._modules.values():
            if module.runtime_id == name and module.state is _M.LOADING:
                self._advance(module, "runtime failed")
                self._outputs.append(
                    out.ModuleFailed(module.flow, module.id, f"runtime {name!r}: {reason}")
                )
                self._maybe_started(self._flows[module.flow])
        return self._take()

    def runtime_exited(self, name: str, reason: str, now: float) -> list[out.Output]:
        """Runtime ``name``'s process ended: report what was running, requeue the rest, restart."""
        self._now = now
        runtime = self._runtime(name)
        reason = runtime.stop_reason or reason
        runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "exited")
        runtime.stop_reason = None
        runtime.outgoing.clear()
        self._account_lost_invocations(runtime, reason)
        self._outputs.append(out.RuntimeLost(name, reason))
        touched: set[FlowRecord] = set()
        for module in self._modules.values():
            if module.runtime_id == name and module.state not in (_M.STOPPED, _M.FAILED):
                self._lose_runtime(module)
                touched.add(self._flows[module.flow])
        for check, (token, check_runtime, _) in list(self._checks.items()):
            if check_runtime == name and check in self._checks_sent:
                self._check_answer(check, token, f"runtime {name!r} exited: {reason}", None)
        self._reach.clear()
        for record in touched:
            self._maybe_stopped(record)
        if self.needs_runtime(name):
            self._need_runtime(name)
        return self._take()

    def receive(self, name: str, frames: Iterable[Frame], now: float) -> list[out.Output]:
        """Frames from runtime ``name``, in the order it sent them."""
        self._now = now
        handlers = self._handlers
        for frame in frames:
            handler = handlers.get(frame.header["t"])
            if handler is not None:
                handler(self, name, frame)
        return self._take()

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When :meth:`advance_time` must next be called, or None."""
        deadlines = [d for r in self._runtimes.values() for d in self._deadlines(r)]
        return min(deadlines, default=None)

    def advance_time(self, now: float) -> list[out.Output]:
        """Kill the runtime of every invocation that ran past its module's timeout."""
        self._now = now
        for runtime in self._runtimes.values():
            if runtime.state is not RuntimeState.UP:
                continue
            for invocation in self._overdue(runtime, now):
                invocation.timed_out = True
                module = invocation.module
                runtime.stop_reason = (
                    f"module {module.id!r} of flow {module.flow!r} ran past its "
                    f"timeout of {module.spec.timeout:g} s"
                )
            if runtime.stop_reason is not None:
                runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "timeout")
                self._outputs.append(out.StopRuntime(runtime.name, runtime.stop_reason, kill=True))
        return self._take()

    def _deadlines(self, runtime: RuntimeRecord) -> Iterable[float]:
        if runtime.state is not RuntimeState.UP:
            return ()
        return (self._deadline(runtime, i) for i in self._running(runtime))

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

    # ------------------------------------------------------------- frame handlers

    def _on_emit(self, name: str, frame: Frame) -> None:
        header = frame.header
        module = self._modules.get(header.get("module", ""))
        if module is None or module.runtime_id != name:
            return
        port = header.get("port")
        self._heard(name, header.get("id"))
        if self._step is not None:
            self._step.emitted(module, header.get("id"), port, frame.body)
        self._route(module, port, frame.body)

    def _heard(self, runtime: str, invocation_id: Any) -> None:
        invocation = self._runtimes[runtime].in_flight.get(invocation_id)
        if invocation is not None:
            invocation.heard = True

    def _route(self, module: ModuleRecord, port: Any, body: bytes) -> None:
        for edge in module.out_edges.get(port, ()):
            if edge.route in (Route.RUNNER, Route.TO_LOCAL):
                target = self._flows[module.flow].modules[edge.key[2]]
                self._deliver(target, edge.key[3], body, edge)
        for public in self._flows[module.flow].outports.get((module.id, port), ()):
            self._outputs.append(out.PortOutput(module.flow, public, body))

    def _on_done(self, name: str, frame: Frame) -> None:
        runtime = self._runtimes[name]
        invocation = runtime.in_flight.pop(frame.header.get("id", ""), None)
        if invocation is None:
            return
        runtime.last_done_at = self._now
        module = invocation.module
        module.in_flight -= 1
        self._finish(invocation.pending)
        if self._step is not None and self._step.done(frame.header["id"]):
            self._maybe_stepped()
        if runtime.isolating:
            self._pump_runtime(runtime)
        elif module.state in _INVOKING:
            self._pump(module)

    def _pump_runtime(self, runtime: RuntimeRecord) -> None:
        """After a crash, one invocation at a time until what was in doubt has run."""
        if not any(m.queue for m in self._modules.values() if m.runtime_id == runtime.name):
            runtime.isolating = False
        for module in self._modules.values():
            if module.runtime_id == runtime.name:
                self._pump(module)

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
        if module.state is _M.SWAPPING and module.next_spec is not None:
            module.spec, module.source = module.next_spec
            module.next_spec = None
        if module.state not in (_M.LOADING, _M.SWAPPING):
            return
        self._advance(module, "loaded")
        record = self._flows[module.flow]
        self._reach.clear()
        self._maybe_started(record)
        if record.state is FlowState.RUNNING:
            self._rewire(record)
            self._pump(module)
            self._maybe_updated(record)

    def _on_drained(self, name: str, frame: Frame) -> None:
        module = self._modules.get(frame.header.get("module", ""))
        if module is None or module.runtime_id != name:
            return
        if module.state is _M.DRAINING and module.in_flight == 0:
            self._advance(module, "drained")
            self._swap(module)
        elif module.state is _M.STOPPING and module.in_flight == 0:
            self._advance(module, "drained")
            self._send(name, {"t": "unload", "module": module.runtime_module})
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
        later = {id(e): e for wire in module.wires_out for e in wire}
        for edge in changed:
            if id(edge) in later:
                continue
            if edge.route is Route.TO_LOCAL:
                edge.route = Route.LOCAL
                self._flush_to_runtime(edge)
            elif edge.route is Route.TO_RUNNER:
                edge.route = Route.RUNNER
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

    # --------------------------------------------------------------- delivery

    def _deliver(
        self, target: ModuleRecord, port: str, body: bytes, edge: EdgeRecord | None
    ) -> None:
        self._next_id += 1
        if edge is not None:
            edge.add(len(body))
        if self._flows[target.flow].tapped:
            self._outputs.append(edge_data(target, port, body, edge))
        target.queue.append(Pending(self._next_id, port, body, edge))
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
            self._invoke(runtime, module, queue.popleft())

    def _invoke(self, runtime: RuntimeRecord, module: ModuleRecord, pending: Pending) -> None:
        invocation_id = str(pending.message_id)
        header = {"t": "invoke", "id": invocation_id, "module": module.runtime_module}
        header["port"] = pending.port
        runtime.outgoing += encode_frame(header, pending.body)
        runtime.in_flight[invocation_id] = Invocation(pending, module, self._now, module.is_async)
        module.in_flight += 1
        if self._step is not None:
            self._step.invoked(module, invocation_id, pending)

    def _finish(self, pending: Pending) -> None:
        """A message left the runner for good: free its place on its edge."""
        edge = pending.edge
        if edge is None or not edge.release(len(pending.body)):
            return
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
        return any(edge.full for edge in reach)

    def _reachable_edges(self, module: ModuleRecord) -> list[EdgeRecord]:
        """The runner's edges an invocation of ``module`` may emit onto, through local edges."""
        record = self._flows[module.flow]
        edges: list[EdgeRecord] = []
        seen = {module}
        todo = [module]
        while todo:
            current = todo.pop()
            for port_edges in current.out_edges.values():
                for edge in port_edges:
                    if edge.route in (Route.RUNNER, Route.TO_LOCAL):
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
        for pending in held:
            self._invoke(runtime, target, pending)

    def _pause(self, module: ModuleRecord, port: str) -> None:
        record = self._flows[module.flow]
        paused = record.modules.values() if record.pause_all else (module,)
        for each in paused:
            if each.state is _M.READY:
                self._advance(each, "breakpoint")
        self._outputs.append(out.Paused(module.flow, module.id, port))
        self._rewire(record)

    # ------------------------------------------------------- module lifecycle

    def _advance(self, module: ModuleRecord, trigger: str) -> None:
        module.state = MODULE_TRANSITIONS.advance(module.state, trigger)

    def _load(self, module: ModuleRecord) -> None:
        runtime = self._runtime(module.runtime_id)
        if runtime.state is RuntimeState.UP:
            self._send_load(runtime.name, module.runtime_module, module.source, module.context)
        else:
            self._need_runtime(runtime.name)

    def _send_load(self, runtime: str, rid: str, source: str, context: dict[str, Any]) -> None:
        body = orjson.dumps({"source": source, "context": context})
        self._send(runtime, {"t": "load", "module": rid}, body)

    def _load_failed(self, module: ModuleRecord, message: str, line: int | None) -> None:
        if module.state not in (_M.LOADING, _M.SWAPPING):
            return
        module.next_spec = None
        self._advance(module, "load failed")
        self._outputs.append(out.ModuleFailed(module.flow, module.id, message, line))
        record = self._flows[module.flow]
        self._maybe_started(record)
        self._maybe_updated(record)
        self._pump(module)

    def _change_module(
        self, module: ModuleRecord, spec: Module, source: str, running: bool
    ) -> None:
        if not running or module.state is _M.STOPPED:
            module.spec, module.source, module.runtime_id = spec, source, spec.runtime
            return
        module.next_spec = (spec, source)
        if module.state is _M.FAILED:
            module.spec, module.source, module.runtime_id = spec, source, spec.runtime
            module.next_spec = None
            self._advance(module, "update")
            self._load(module)
        elif module.state in (_M.READY, _M.PAUSED):
            self._advance(module, "update")
            self._unwire_then_drain(module)
        # LOADING / DRAINING / SWAPPING: next_spec is taken up when it gets there

    def _unwire_then_drain(self, module: ModuleRecord) -> None:
        self._rewire(self._flows[module.flow])
        if self._runtime(module.runtime_id).state is RuntimeState.UP:
            self._send(module.runtime_id, {"t": "drain", "module": module.runtime_module})

    def _swap(self, module: ModuleRecord) -> None:
        if module.next_spec is None:
            self._advance(module, "loaded")
            self._maybe_updated(self._flows[module.flow])
            return
        spec, source = module.next_spec
        if spec.runtime != module.runtime_id:
            self._send(module.runtime_id, {"t": "unload", "module": module.runtime_module})
            module.runtime_id = spec.runtime
            self._stop_unneeded_runtimes()
        self._load_version(module, source)

    def _load_version(self, module: ModuleRecord, source: str) -> None:
        runtime = self._runtime(module.runtime_id)
        if runtime.state is RuntimeState.UP:
            self._send_load(runtime.name, module.runtime_module, source, module.context)
        else:
            self._need_runtime(runtime.name)

    def _stop_module(self, module: ModuleRecord) -> None:
        state = module.state
        if state is _M.STOPPED:
            return
        if state in (_M.LOADING, _M.FAILED):
            self._advance(module, "stop")
            if self._runtime(module.runtime_id).state is RuntimeState.UP:
                self._send(module.runtime_id, {"t": "unload", "module": module.runtime_module})
            return
        self._advance(module, "stop")
        if state in (_M.READY, _M.PAUSED, _M.SWAPPING):
            self._send(module.runtime_id, {"t": "drain", "module": module.runtime_module})

    def _remove_module(self, module: ModuleRecord) -> None:
        """A module gone from the flow in an update: stop it and forget it once drained."""
        self._stop_module(module)
        for pending in module.queue:
            self._finish(pending)
        module.queue.clear()
        self._modules.pop(module.runtime_module, None)

    def _lose_runtime(self, module: ModuleRecord) -> None:
        if module.next_spec is not None:
            spec, source = module.next_spec
            module.spec, module.source, module.runtime_id = spec, source, spec.runtime
            module.next_spec = None
        module.wires_out.clear()
        module.wiring.clear()
        module.in_flight = 0
        for edges in module.out_edges.values():
            for edge in edges:
                edge.route = Route.RUNNER
        self._advance(module, "runtime lost")

    def _account_lost_invocations(self, runtime: RuntimeRecord, reason: str) -> None:
        """Sort what was in flight when the runtime died or was killed: report, or run again.

        An invocation the runner heard from (an ``emit`` or ``error``) had
        run, at least in part: it is reported, never run twice. One it heard
        nothing from may not have started, or may have ended with its frames
        still in the runtime's output buffer: unless it was the only one in
        flight, it runs again, and the runtime runs one invocation at a time
        (``isolating``) until those have run, so the message that kills its
        runtime (or runs past its timeout) again is the one reported.
        """
        invocations = list(runtime.in_flight.values())
        runtime.in_flight.clear()
        known = runtime.isolating or len(invocations) == 1
        again: list[Invocation] = []
        for invocation in invocations:
            if invocation.heard or known:
                self._report_lost(invocation, _lost_message(invocation, reason))
            else:
                again.append(invocation)
        runtime.isolating = bool(again)
        for invocation in reversed(again):
            invocation.module.queue.appendleft(invocation.pending)

    def _report_lost(self, invocation: Invocation, message: str) -> None:
        module = invocation.module
        if self._step is not None:
            self._step.failed(module, str(invocation.pending.message_id), message)
            if self._step.done(str(invocation.pending.message_id)):
                self._maybe_stepped()
        self._outputs.append(
            out.InvocationFailed(
                module.flow, module.id, message, None, invocation.pending.message_id
            )
        )
        self._finish(invocation.pending)

    # ----------------------------------------------------------------- wiring

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
            module.wires_out.append(changed)
            fence = (
                str(self._next_fence()) if any(routes[e] is Route.LOCAL for e in changed) else None
            )
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
            m.id for m in record.modules.values() if m.state is _M.READY and not m.breakpoints
        )

    def _next_fence(self) -> int:
        self._next_id += 1
        return self._next_id

    # ------------------------------------------------------------- completion

    def _maybe_started(self, record: FlowRecord) -> None:
        if record.state is not FlowState.STARTING:
            return
        if any(m.state is _M.LOADING for m in record.modules.values()):
            return
        record.state = FlowState.RUNNING
        self._outputs.append(out.FlowStarted(record.id))
        for packet in record.flow.initial_packets:
            target = record.modules[packet.tgt.module]
            self._deliver(target, packet.tgt.port, orjson.dumps(packet.data), None)
        self._rewire(record)

    def _maybe_stopped(self, record: FlowRecord) -> None:
        if record.state is not FlowState.STOPPING:
            return
        if any(
            m.state is not _M.STOPPED and m.state is not _M.FAILED for m in record.modules.values()
        ):
            return
        dropped = 0
        for module in record.modules.values():
            if module.state is _M.FAILED:
                self._advance(module, "stop")
            dropped += len(module.queue)
            for pending in module.queue:
                self._finish(pending)
            module.queue.clear()
            module.wiring.clear()
            module.wires_out.clear()
        for edge in record.edges.values():
            edge.route = Route.RUNNER
        record.state = FlowState.STOPPED
        record.updating = None
        self._outputs.append(out.FlowStopped(record.id, dropped))
        self._stop_unneeded_runtimes()

    def _maybe_updated(self, record: FlowRecord) -> None:
        if record.updating is None:
            return
        busy = (_M.DRAINING, _M.SWAPPING, _M.LOADING)
        if any(m.state in busy for m in record.modules.values()):
            return
        revision, record.updating = record.updating, None
        self._outputs.append(out.FlowUpdated(record.id, revision))

    def _maybe_stepped(self) -> None:
        step = self._step
        if step is None or not step.finished():
            return
        self._step = None
        self._outputs.append(out.StepDone(step.token, step.results()))
        for record in self._flows.values():
            self._rewire(record)

    def _maybe_checked(self, token: int) -> None:
        if self._check_waiting.get(token):
            return
        self._check_waiting.pop(token, None)
        self._outputs.append(out.CheckDone(token, self._check_results.pop(token, {})))

    def _send_check(self, runtime: str, check: str, source: str) -> None:
        self._checks_sent.add(check)
        self._send_load(runtime, check, source, {})

    def _check_answer(self, check: str, token: int, error: str | None, line: int | None) -> None:
        self._checks.pop(check, None)
        self._checks_sent.discard(check)
        module_id = check.split(":", 2)[2]
        if error is not None:
            self._check_results.setdefault(token, {})[module_id] = (error, line)
        self._check_waiting.get(token, set()).discard(check)
        self._maybe_checked(token)

    def _send_new_initial_packets(self, record: FlowRecord, old_edges: Mapping[Any, Any]) -> None:
        del old_edges  # initial packets are sent when a flow starts, not on updates

    # ------------------------------------------------------------------ plumbing

    def _runtime(self, name: str) -> RuntimeRecord:
        runtime = self._runtimes.get(name)
        if runtime is None:
            runtime = self._runtimes[name] = RuntimeRecord(name)
        return runtime

    def _need_runtime(self, name: str) -> None:
        runtime = self._runtime(name)
        if runtime.state is RuntimeState.DOWN:
            runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "needed")
            self._outputs.append(out.StartRuntime(name))

    def _stop_unneeded_runtimes(self) -> None:
        for runtime in self._runtimes.values():
            running = runtime.state in (RuntimeState.UP, RuntimeState.STARTING)
            if running and not self.needs_runtime(runtime.name):
                runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "unneeded")
                runtime.stop_reason = "no module needs it"
                self._outputs.append(out.StopRuntime(runtime.name, "no module needs it"))

    @staticmethod
    def _uses(module: ModuleRecord, name: str) -> bool:
        if module.state in (_M.STOPPED, _M.FAILED):
            return False
        if module.runtime_id == name:
            return True
        return module.next_spec is not None and module.next_spec[0].runtime == name

    def _send(self, runtime: str, header: dict[str, Any], body: bytes = b"") -> None:
        self._runtimes[runtime].outgoing += encode_frame(header, body)

    def _inport(self, flow_id: str, port: str) -> EdgeRecord:
        record = self.flow(flow_id)
        try:
            return record.inports[port]
        except KeyError:
            known = ", ".join(sorted(record.inports)) or "none"
            raise FlowCoreError(
                f"flow {flow_id!r} has no exported input {port!r} (it has: {known})"
            ) from None

    @staticmethod
    def _module_of(record: FlowRecord, module_id: str) -> ModuleRecord:
        try:
            return record.modules[module_id]
        except KeyError:
            raise FlowCoreError(f"flow {record.id!r} has no module {module_id!r}") from None

    def _take(self) -> list[out.Output]:
        outputs = self._outputs
        self._outputs = []
        frames = [
            out.ToRuntime(r.name, bytes(r.outgoing)) for r in self._runtimes.values() if r.outgoing
        ]
        for runtime in self._runtimes.values():
            runtime.outgoing.clear()
        return frames + outputs


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _lost_message(invocation: Invocation, reason: str) -> str:
    if invocation.timed_out:
        return f"ran past its timeout of {invocation.module.spec.timeout:g} s"
    return f"its runtime died while running it ({reason})"


def _held(module: ModuleRecord, port: str) -> bool:
    return "*" in module.breakpoints or port in module.breakpoints


def _moving(edge: EdgeRecord, route: Route) -> bool:
    if route is Route.LOCAL:
        return edge.route in (Route.RUNNER, Route.TO_RUNNER)
    return edge.route in (Route.LOCAL, Route.TO_LOCAL)


def _changed(module: ModuleRecord, spec: Module, source: str) -> bool:
    current = module.next_spec or (module.spec, module.source)
    return current[1] != source or current[0] != spec


def _outport_map(flow: Flow) -> dict[tuple[str, str], list[str]]:
    outports: dict[tuple[str, str], list[str]] = {}
    for public, exported in flow.outports.items():
        ref = exported.target
        outports.setdefault((ref.module, ref.port), []).append(public)
    return outports


def _link_out_edges(record: FlowRecord) -> None:
    for module in record.modules.values():
        module.out_edges = {}
    for edge in record.edges.values():
        source = record.modules.get(edge.key[0] or "")
        if source is not None:
            source.out_edges.setdefault(edge.key[1], []).append(edge)
