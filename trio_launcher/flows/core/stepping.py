"""A single step in progress: what each stepped module received, emitted, failed and set."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from . import outputs as out
from .records import ModuleRecord, Pending

__all__ = ["StepRecord"]


@attrs.define(eq=False)
class _ModuleStep:
    module: ModuleRecord
    emitted: dict[str, list[Any]] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)
    context: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(eq=False)
class StepRecord:
    """One ``step``: the invocations it started, until each is done."""

    token: int
    modules: dict[str, ModuleRecord]
    _running: set[str] = attrs.field(factory=set)
    _steps: dict[str, _ModuleStep] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self._steps = {rid: _ModuleStep(m) for rid, m in self.modules.items()}

    def invoked(self, module: ModuleRecord, invocation: str, pending: Pending) -> None:
        """``module`` was invoked; it counts if it is one of the step's."""
        del pending
        if module.runtime_module in self._steps:
            self._running.add(invocation)

    def emitted(self, module: ModuleRecord, invocation: Any, port: Any, body: bytes) -> None:
        if invocation in self._running and module.runtime_module in self._steps:
            self._steps[module.runtime_module].emitted.setdefault(str(port), []).append(
                orjson.loads(body) if body else None
            )

    def released(self, module: ModuleRecord, port: str, body: bytes) -> None:
        """An output breakpoint of ``module`` let one message go in this step."""
        step = self._steps.get(module.runtime_module)
        if step is not None:
            step.emitted.setdefault(port, []).append(orjson.loads(body) if body else None)

    def failed(self, module: ModuleRecord, invocation: Any, message: str) -> None:
        step = self._steps.get(module.runtime_module)
        if step is not None:
            step.errors.append(message)

    def context_set(self, module: ModuleRecord, key: str, value: Any) -> None:
        step = self._steps.get(module.runtime_module)
        if step is not None and self._running:
            step.context[key] = value

    def done(self, invocation: str) -> bool:
        """An invocation ended; whether it was one of the step's."""
        if invocation in self._running:
            self._running.discard(invocation)
            return True
        return False

    def finished(self) -> bool:
        """Whether every invocation the step started has ended."""
        return not self._running

    def results(self) -> dict[str, out.StepResult]:
        """Per ``flow/module``: what is still queued, what it emitted, its errors and context."""
        results: dict[str, out.StepResult] = {}
        for rid, step in self._steps.items():
            queued: dict[str, list[Any]] = {}
            for pending in step.module.queue:
                queued.setdefault(pending.port, []).extend(
                    orjson.loads(body) if body else None for body in pending.bodies()
                )
            results[rid] = out.StepResult(queued, step.emitted, step.errors, step.context)
        return results
