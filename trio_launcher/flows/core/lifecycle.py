"""Modules loading, updating, stopping and losing their runtime; flows, steps and checks ending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from . import outputs as out
from .flow_record import FlowRecord, FlowState
from .records import (
    Invocation,
    ModuleRecord,
    Route,
    RuntimeRecord,
)
from .states import ModuleState, RuntimeState

if TYPE_CHECKING:
    from ..graph import Module

from .delivery import Delivery

__all__ = ["Lifecycle"]

_M = ModuleState
_NO_PACKAGES = "runtime {!r} takes no packages (its hello has no 'packages' capability)"


class Lifecycle(Delivery):
    """Modules loading, updating, stopping, losing their runtime; flows, steps, checks ending."""

    def _load(self, module: ModuleRecord) -> None:
        runtime = self._runtime(module.runtime_id)
        source = module.source if module.loading is None else module.loading[1]
        spec = module.spec if module.loading is None else module.loading[0]
        if runtime.state is not RuntimeState.UP:
            self._need_runtime(runtime.name)
        elif _refuses_packages(runtime, spec):
            self._load_failed(module, _NO_PACKAGES.format(runtime.name), None)
        else:
            self._send_load(runtime.name, module.runtime_module, source, module.context, spec.paths)

    def _send_load(
        self, runtime: str, rid: str, source: str, context: dict[str, Any], paths: tuple[str, ...]
    ) -> None:
        load: dict[str, Any] = {"source": source, "context": context}
        if paths:
            load["paths"] = paths
        self._send(runtime, {"t": "load", "module": rid}, orjson.dumps(load))

    def _load_failed(self, module: ModuleRecord, message: str, line: int | None) -> None:
        if module.state not in (_M.LOADING, _M.SWAPPING):
            return
        module.loading = None
        if module.state is _M.SWAPPING:
            self._left(module, loaded=False)
        self._advance(module, "load failed")
        self._outputs.append(out.ModuleFailed(module.flow, module.id, message, line))
        record = self._flows[module.flow]
        self._maybe_started(record)
        if self._start_pending_update(module):
            return
        self._maybe_updated(record)
        self._pump(module)

    def _start_pending_update(self, module: ModuleRecord) -> bool:
        """Begin the update that came while the module loaded, if one did."""
        if module.next_spec is None or module.state not in (_M.READY, _M.FAILED):
            return False
        spec, source = module.next_spec
        module.next_spec = None
        self._change_module(module, spec, source, True)
        return True

    def _change_module(
        self, module: ModuleRecord, spec: Module, source: str, running: bool
    ) -> None:
        if not running or module.state is _M.STOPPED:
            module.spec, module.source, module.runtime_id = spec, source, spec.process
            return
        module.next_spec = (spec, source)
        if module.state is _M.FAILED:
            module.spec, module.source, module.runtime_id = spec, source, spec.process
            module.next_spec = None
            self._advance(module, "update")
            self._load(module)
        elif module.state in (_M.READY, _M.PAUSED):
            self._advance(module, "update")
            self._unwire_then_drain(module)

    def _unwire_then_drain(self, module: ModuleRecord) -> None:
        self._rewire(self._flows[module.flow])
        if self._runtime(module.runtime_id).state is RuntimeState.UP:
            self._send(module.runtime_id, {"t": "drain", "module": module.runtime_module})

    def _swap(self, module: ModuleRecord) -> None:
        if module.next_spec is None:
            self._advance(module, "loaded")
            self._maybe_updated(self._flows[module.flow])
            return
        module.loading, module.next_spec = module.next_spec, None
        spec = module.loading[0]
        if spec.process != module.runtime_id:
            # blue/green: the old version stays loaded until the new one is
            module.leaving, module.runtime_id = module.runtime_id, spec.process
        self._load(module)

    def _left(self, module: ModuleRecord, loaded: bool) -> None:
        """A move ended: the new version loaded (unload the old) or not (back to the old)."""
        leaving, module.leaving = module.leaving, None
        if leaving is None:
            return
        if not loaded:
            module.runtime_id = leaving
            self._stop_unneeded_runtimes()
            return
        if self._runtime(leaving).state is RuntimeState.UP:
            self._send(leaving, {"t": "unload", "module": module.runtime_module})
        self._stop_unneeded_runtimes()

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
        wanted = module.next_spec or module.loading
        if wanted is not None:
            spec, source = wanted
            module.spec, module.source, module.runtime_id = spec, source, spec.process
            module.next_spec = module.loading = None
        module.wires_out.clear()
        module.wiring.clear()
        module.in_flight = 0
        module.drain_answered = False
        for edges in module.out_edges.values():
            for edge in edges:
                edge.route = Route.RUNNER
                edge.runtime_local = False
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
        invocations = [
            single
            for invocation in runtime.in_flight.values()
            for single in _singles(runtime, invocation)
        ]
        runtime.in_flight.clear()
        runtime.sync_order.clear()
        runtime.async_deadlines.clear()
        runtime.aliases.clear()
        runtime.heard_upto = -1
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
            dropped += sum(pending.count for pending in module.queue)
            for pending in module.queue:
                self._finish(pending)
            module.queue.clear()
            module.wiring.clear()
            module.wires_out.clear()
        for edge in record.edges.values():
            edge.route = Route.RUNNER
            edge.runtime_local = False
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

    def _send_check(self, check: str, spec: Module) -> None:
        runtime = self._runtime(spec.process)
        if _refuses_packages(runtime, spec):
            self._check_answer(
                check, self._checks[check][0], _NO_PACKAGES.format(spec.process), None
            )
            return
        self._checks_sent.add(check)
        self._send_load(spec.process, check, spec.source, {}, spec.paths)

    def _check_answer(self, check: str, token: int, error: str | None, line: int | None) -> None:
        self._checks.pop(check, None)
        self._checks_sent.discard(check)
        module_id = check.split(":", 2)[2]
        if error is not None:
            self._check_results.setdefault(token, {})[module_id] = (error, line)
        self._check_waiting.get(token, set()).discard(check)
        self._maybe_checked(token)


def _refuses_packages(runtime: RuntimeRecord, spec: Module) -> bool:
    """Whether ``spec`` has packages that ``runtime``'s hello says it cannot load."""
    return bool(spec.paths) and "packages" not in runtime.capabilities


def _singles(runtime: RuntimeRecord, invocation: Invocation) -> list[Invocation]:
    """A batch still in flight as one invocation per message not done (itself if not a batch)."""
    if invocation.pending.count == 1:
        return [invocation]
    singles = invocation.pending.split(skip=invocation.done)
    return [
        Invocation(
            pending,
            invocation.module,
            invocation.sent_at,
            invocation.is_async,
            timed_out=invocation.timed_out and n == 0,
            heard=(invocation.heard and n == 0) or pending.message_id <= runtime.heard_upto,
        )
        for n, pending in enumerate(singles)
    ]


def _lost_message(invocation: Invocation, reason: str) -> str:
    if invocation.timed_out:
        return f"ran past its timeout of {invocation.module.spec.timeout:g} s"
    return f"its runtime died while running it ({reason})"


def _changed(module: ModuleRecord, spec: Module, source: str) -> bool:
    current = module.next_spec or module.loading or (module.spec, module.source)
    return current[1] != source or current[0] != spec
