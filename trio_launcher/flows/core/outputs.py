"""What :class:`~.core.FlowCore` asks its caller to do, and the events it reports.

Every call of the core returns a list of these, in the order they must be
carried out. Frames for one runtime come coalesced: one :class:`ToRuntime`
per runtime per call, its bytes ready to write to the runtime's FIFO.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from .taps import EdgeData

__all__ = [
    "CheckDone",
    "EdgeData",
    "FlowEvent",
    "FlowStarted",
    "FlowStopped",
    "FlowUpdated",
    "InportRoom",
    "InvocationFailed",
    "ModuleFailed",
    "ModuleLog",
    "Output",
    "Paused",
    "PortOutput",
    "RuntimeLost",
    "StartRuntime",
    "StepDone",
    "StepResult",
    "StopRuntime",
    "ToRuntime",
]


@attrs.frozen
class ToRuntime:
    """Write ``data`` (whole frames) to runtime ``runtime``."""

    runtime: str
    data: bytes


@attrs.frozen
class StartRuntime:
    """Start a process for runtime ``runtime`` and report its hello (or its failure)."""

    runtime: str


@attrs.frozen
class StopRuntime:
    """Stop runtime ``runtime``'s process: no module needs it, or it must be killed."""

    runtime: str
    reason: str
    kill: bool = False


@attrs.frozen
class PortOutput:
    """A message on exported output port ``port`` of flow ``flow`` (its JSON bytes)."""

    flow: str
    port: str
    body: bytes


@attrs.frozen
class InportRoom:
    """Exported input port ``port`` of ``flow`` has room again: a blocked sender may go on."""

    flow: str
    port: str


@attrs.frozen
class CheckDone:
    """The compile check ``token`` ended; ``problems`` maps module id to what its runtime said."""

    token: int
    problems: Mapping[str, tuple[str, int | None]]


@attrs.frozen
class FlowStarted:
    """Every module of ``flow`` is loaded and its initial packets are sent."""

    flow: str


@attrs.frozen
class FlowStopped:
    """``flow`` stopped; ``dropped`` messages were still waiting and are gone."""

    flow: str
    dropped: int


@attrs.frozen
class FlowUpdated:
    """A hot update of ``flow`` to ``revision`` is complete: every changed module is ready."""

    flow: str
    revision: int


@attrs.frozen
class ModuleFailed:
    """Module ``module`` of ``flow`` cannot run: its load failed or its runtime cannot start."""

    flow: str
    module: str
    message: str
    line: int | None = None


@attrs.frozen
class InvocationFailed:
    """An invocation of ``module`` failed (raised, timed out, or its runtime died)."""

    flow: str
    module: str
    message: str
    line: int | None = None
    message_id: int | None = None


@attrs.frozen
class ModuleLog:
    """A line module ``module`` logged."""

    flow: str
    module: str
    level: str
    message: str


@attrs.frozen
class Paused:
    """``module`` holds a message at a breakpoint on ``port`` (an output port if ``output``)."""

    flow: str
    module: str
    port: str
    output: bool = False


@attrs.frozen
class StepResult:
    """What one module did in a step, as the Runner API returns it."""

    input_states: Mapping[str, list[Any]]
    output_states: Mapping[str, list[Any]]
    errors: list[str]
    context: Mapping[str, Any]


@attrs.frozen
class StepDone:
    """The step ``token`` ended: per ``flow/module``, what it did."""

    token: int
    results: Mapping[str, StepResult]


@attrs.frozen
class RuntimeLost:
    """Runtime ``runtime``'s process ended or was killed; it is restarted if still needed."""

    runtime: str
    reason: str


FlowEvent: TypeAlias = (
    FlowStarted
    | FlowStopped
    | FlowUpdated
    | ModuleFailed
    | InvocationFailed
    | ModuleLog
    | Paused
    | RuntimeLost
    | EdgeData
)
Output: TypeAlias = (
    ToRuntime
    | StartRuntime
    | StopRuntime
    | PortOutput
    | InportRoom
    | CheckDone
    | StepDone
    | FlowEvent
)
