"""The core's state, and the plumbing every part of it uses: runtimes, frames out, outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..wire import encode_frame
from . import outputs as out
from .flow_record import FlowRecord
from .records import (
    EdgeRecord,
    ModuleRecord,
    RuntimeRecord,
)
from .states import MODULE_TRANSITIONS, RUNTIME_TRANSITIONS, ModuleState, RuntimeState
from .stepping import StepRecord

if TYPE_CHECKING:
    from ..graph import Module

__all__ = ["CoreState", "FlowCoreError", "PortFull"]

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


class CoreState:
    """The core's state, and the plumbing every part of it uses: runtimes, frames out, outputs."""

    def __init__(self, *, sync_window: int = SYNC_WINDOW) -> None:
        self._sync_window = sync_window
        self._flows: dict[str, FlowRecord] = {}
        self._modules: dict[str, ModuleRecord] = {}
        self._runtimes: dict[str, RuntimeRecord] = {}
        self._next_id = 0
        self._outputs: list[out.Output] = []
        self._checks: dict[str, tuple[int, Module]] = {}
        self._checks_sent: set[str] = set()
        self._check_results: dict[int, dict[str, tuple[str, int | None]]] = {}
        self._check_waiting: dict[int, set[str]] = {}
        self._step: StepRecord | None = None
        self._reach: dict[ModuleRecord, list[EdgeRecord]] = {}
        self._now = 0.0

    def flow(self, flow_id: str) -> FlowRecord:
        """The record of flow ``flow_id``; :class:`FlowCoreError` if there is none."""
        try:
            return self._flows[flow_id]
        except KeyError:
            raise FlowCoreError(f"no flow {flow_id!r}") from None

    def needs_runtime(self, name: str) -> bool:
        """Whether a module or a check needs runtime ``name`` to run."""
        return any(self._uses(m, name) for m in self._modules.values()) or any(
            spec.process == name for _, spec in self._checks.values()
        )

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
        if module.runtime_id == name or module.leaving == name:
            return True
        return module.next_spec is not None and module.next_spec[0].process == name

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
        frames: list[out.Output] = []
        for runtime in self._runtimes.values():
            if runtime.outgoing:
                frames.append(out.ToRuntime(runtime.name, bytes(runtime.outgoing)))
                runtime.outgoing.clear()
        frames += outputs
        return frames

    def _advance(self, module: ModuleRecord, trigger: str) -> None:
        module.state = MODULE_TRANSITIONS.advance(module.state, trigger)


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
