"""The flow runner's core: flows, modules, edges and runtimes, sans-IO.

:class:`FlowCore` owns no process, pipe or clock. The caller feeds it what
happened (frames from a runtime, a runtime's start or exit, API calls) with
the current time, and carries out the outputs each call returns
(:mod:`.outputs`): bytes for a runtime's FIFO, runtimes to start or stop,
messages on exported ports, events. Timers fire only in
:meth:`FlowCore.advance_time`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..wire import Frame
from . import outputs as out
from .flow_record import FlowRecord, FlowState, build_edges, build_outport_edges
from .records import ModuleRecord, split_head
from .states import RUNTIME_TRANSITIONS, ModuleState, RuntimeState
from .stepping import StepRecord

if TYPE_CHECKING:
    from ..graph import Flow, Module

from .handlers import FrameHandlers
from .lifecycle import _changed
from .state import FlowCoreError, PortFull

__all__ = ["FlowCore", "FlowCoreError", "PortFull"]

_M = ModuleState


class FlowCore(FrameHandlers):
    """Every decision of the flow runner; see the module's docstring.

    Its parts, from the bottom: :mod:`.state` (records and plumbing), :mod:`.delivery`
    (queues, invocations, bounds, wiring), :mod:`.lifecycle` (modules and flows
    changing state), :mod:`.handlers` (frames from runtimes); this class is the calls.
    """

    def flows(self) -> Iterable[FlowRecord]:
        """Every flow the core holds."""
        return self._flows.values()

    def runtime_state(self, name: str) -> RuntimeState:
        """Where runtime ``name`` is (DOWN if never needed)."""
        record = self._runtimes.get(name)
        return RuntimeState.DOWN if record is None else record.state

    def inport_has_room(self, flow_id: str, port: str) -> bool:
        """Whether :meth:`offer` on that exported input would be taken now."""
        return not self._inport(flow_id, port).full

    def add_flow(self, flow: Flow) -> list[out.Output]:
        """Hold a new flow, stopped."""
        if flow.id in self._flows:
            raise FlowCoreError(f"flow {flow.id!r} exists; update it instead")
        edges, inports = build_edges(flow, {})
        modules = {
            m.id: ModuleRecord(flow.id, m, m.source, m.process) for m in flow.modules.values()
        }
        record = FlowRecord(flow, modules, edges, inports, _outport_map(flow))
        record.outport_edges = build_outport_edges(flow, {})
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
                module = ModuleRecord(flow.id, spec, source, spec.process)
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
        record.outport_edges = build_outport_edges(flow, record.outport_edges)
        _link_out_edges(record)
        self._reach.clear()
        if running:
            record.updating = flow.revision
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

    def output_taken(self, flow_id: str, port: str, size: int) -> list[out.Output]:
        """Every reader of exported output ``port`` took a message of ``size`` bytes.

        Until then it counts on the port's bound: a port whose readers fall
        behind stops its producers, as a full edge does.
        """
        edge = self.flow(flow_id).outport_edges.get(port)
        if edge is not None and edge.release(size):
            self._edge_freed(edge)
        return self._take()

    def set_breakpoint(
        self,
        flow_id: str,
        module_id: str,
        port: str = "*",
        *,
        output: bool = False,
        pause_all: bool = False,
    ) -> list[out.Output]:
        """Hold messages at input ``port`` of a module (``*``: every input).

        ``output``: hold what the module sends on output ``port`` instead.
        ``pause_all``: a message held there pauses the whole flow, not only the module.
        """
        record = self.flow(flow_id)
        module = self._module_of(record, module_id)
        ports = module.spec.output_ports if output else module.spec.inports
        if port != "*" and port not in ports:
            kind = "output" if output else "input"
            raise FlowCoreError(
                f"module {module_id!r} has no {kind} port {port!r} (it has: {', '.join(ports)})"
            )
        (module.out_breakpoints if output else module.breakpoints).add(port)
        record.pause_all = pause_all
        self._rewire(record)
        return self._take()

    def remove_breakpoint(self, flow_id: str, module_id: str) -> list[out.Output]:
        """Remove a module's breakpoints; what they paused goes on."""
        record = self.flow(flow_id)
        module = self._module_of(record, module_id)
        module.breakpoints.clear()
        module.out_breakpoints.clear()
        if record.pause_all and any(
            m.breakpoints or m.out_breakpoints for m in record.modules.values()
        ):
            return self._take()
        record.pause_all = False
        return self.resume(flow_id)

    def resume(self, flow_id: str) -> list[out.Output]:
        """Every paused module of the flow goes on; each holds again at its next breakpoint."""
        record = self.flow(flow_id)
        for module in record.modules.values():
            if module.state is _M.PAUSED:
                self._release_held(module)
                self._advance(module, "resume")
                module.step_credit = 1 if module.breakpoints else 0
        self._rewire(record)
        for module in record.modules.values():
            self._pump(module)
        return self._take()

    def drop_held(self, flow_id: str, module_id: str) -> list[out.Output]:
        """Drop the oldest message a paused module holds."""
        module = self._module_of(self.flow(flow_id), module_id)
        if module.state is not _M.PAUSED or not (module.queue or module.held_out):
            raise FlowCoreError(f"module {module_id!r} holds no message")
        if module.held_out:
            module.held_out.popleft()
        else:
            queue = module.queue
            split_head(queue)
            self._finish(queue.popleft())
        return self._take()

    def step(self, token: int, now: float) -> list[out.Output]:
        """Run one held invocation of every paused module (its oldest message).

        A module held at an output breakpoint lets its oldest held message go
        instead, if it holds one.

        :class:`~.outputs.StepDone` with ``token`` comes when every one of them ended.
        """
        self._now = now
        if self._step is not None:
            raise FlowCoreError("a step is already running")
        paused = [
            m for m in self._modules.values() if m.state is _M.PAUSED and (m.queue or m.held_out)
        ]
        self._step = StepRecord(token, {m.runtime_module: m for m in paused})
        for module in paused:
            if module.held_out:
                self._release_held(module, 1)  # an output breakpoint lets one message go
                continue
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

    def check_sources(self, token: int, modules: Iterable[Module], now: float) -> list[out.Output]:
        """Compile ``modules`` in their runtimes' processes, without running them.

        :class:`~.outputs.CheckDone` with ``token`` says what failed, with the line.
        """
        self._now = now
        waiting: set[str] = set()
        for spec in modules:
            name = f"check:{token}:{spec.id}"
            self._checks[name] = (token, spec)
            waiting.add(name)
            if self._runtime(spec.process).state is RuntimeState.UP:
                self._send_check(name, spec)
            else:
                self._need_runtime(spec.process)
        self._check_results[token] = {}
        self._check_waiting[token] = waiting
        self._maybe_checked(token)
        return self._take()

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
        if "batches" in runtime.capabilities:
            self._send(name, {"t": "batches"})
        for check, (_, spec) in list(self._checks.items()):
            if spec.process == name and check not in self._checks_sent:
                self._send_check(check, spec)
        for module in self._modules.values():
            if module.runtime_id == name and module.state in (_M.LOADING, _M.SWAPPING):
                self._load(module)
        return self._take()

    def runtime_failed(self, name: str, reason: str, now: float) -> list[out.Output]:
        """Runtime ``name`` could not start: what waits for it fails, with ``reason``."""
        self._now = now
        runtime = self._runtime(name)
        runtime.state = RUNTIME_TRANSITIONS.advance(runtime.state, "exited")
        for check, (token, spec) in list(self._checks.items()):
            if spec.process == name:
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
            if module.leaving == name:
                module.leaving = None  # the old version of a move is gone with it
            if module.runtime_id == name and module.state not in (_M.STOPPED, _M.FAILED):
                self._lose_runtime(module)
                touched.add(self._flows[module.flow])
        for check, (token, spec) in list(self._checks.items()):
            if spec.process == name and check in self._checks_sent:
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

    def next_deadline(self) -> float | None:
        """When :meth:`advance_time` must next be called, or None."""
        earliest: float | None = None
        for runtime in self._runtimes.values():
            deadline = self._earliest_deadline(runtime)
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

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
