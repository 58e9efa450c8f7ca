"""The lives of a module and of a runtime in the runner, as transition tables.

Every state change of a module (:data:`MODULE_TRANSITIONS`) and of a runtime
process (:data:`RUNTIME_TRANSITIONS`) goes through its table, so an illegal
change raises :class:`~trio_launcher.protocol.transitions.IllegalTransition`
and ``docs/flows.md`` renders both (``python -m trio_launcher.diagrams``).
"""

from __future__ import annotations

import enum

from ...protocol.transitions import Transition, TransitionTable

__all__ = ["MODULE_TRANSITIONS", "RUNTIME_TRANSITIONS", "ModuleState", "RuntimeState"]


class ModuleState(enum.Enum):
    """Where one module of a flow is."""

    # Members are singletons compared by identity; Enum's own hash hashes the name,
    # in Python, on every state test of the message path.
    __hash__ = object.__hash__

    STOPPED = enum.auto()  #: its flow is not running: nothing loaded
    LOADING = enum.auto()  #: ``load`` sent (or waiting for its runtime), no answer yet
    READY = enum.auto()  #: loaded; the runner invokes it as messages come
    PAUSED = enum.auto()  #: held at a breakpoint: invoked only by a step
    DRAINING = enum.auto()  #: an update is due: input held, waiting for ``drained``
    SWAPPING = enum.auto()  #: drained; the new version's ``load`` sent
    STOPPING = enum.auto()  #: its flow stops: input held, waiting for ``drained``
    FAILED = enum.auto()  #: it cannot load (its source, or its runtime cannot start)


_M = ModuleState
MODULE_TRANSITIONS: TransitionTable[ModuleState] = TransitionTable(
    "flow module",
    [
        Transition(_M.STOPPED, "start", _M.LOADING),
        Transition(_M.LOADING, "loaded", _M.READY),
        Transition(_M.LOADING, "load failed", _M.FAILED),
        Transition(_M.LOADING, "runtime lost", _M.LOADING),
        Transition(_M.LOADING, "stop", _M.STOPPED),
        Transition(_M.READY, "breakpoint", _M.PAUSED),
        Transition(_M.READY, "update", _M.DRAINING),
        Transition(_M.READY, "runtime lost", _M.LOADING),
        Transition(_M.READY, "stop", _M.STOPPING),
        Transition(_M.PAUSED, "resume", _M.READY),
        Transition(_M.PAUSED, "update", _M.DRAINING),
        Transition(_M.PAUSED, "runtime lost", _M.LOADING),
        Transition(_M.PAUSED, "stop", _M.STOPPING),
        Transition(_M.DRAINING, "drained", _M.SWAPPING),
        Transition(_M.DRAINING, "runtime lost", _M.LOADING),
        Transition(_M.DRAINING, "stop", _M.STOPPING),
        Transition(_M.SWAPPING, "loaded", _M.READY),
        Transition(_M.SWAPPING, "load failed", _M.READY),
        Transition(_M.SWAPPING, "runtime lost", _M.LOADING),
        Transition(_M.SWAPPING, "stop", _M.STOPPING),
        Transition(_M.STOPPING, "drained", _M.STOPPED),
        Transition(_M.STOPPING, "runtime lost", _M.STOPPED),
        Transition(_M.FAILED, "update", _M.LOADING),
        Transition(_M.FAILED, "stop", _M.STOPPED),
        Transition(_M.LOADING, "runtime failed", _M.FAILED),
    ],
)


class RuntimeState(enum.Enum):
    """Where one runtime process is, as the runner sees it."""

    __hash__ = object.__hash__  # as ModuleState's

    DOWN = enum.auto()  #: no process (none needed yet, or between restarts)
    STARTING = enum.auto()  #: asked for; no ``hello`` yet
    UP = enum.auto()  #: said hello; frames flow
    STOPPING = enum.auto()  #: asked to stop or be killed; its exit is awaited


_R = RuntimeState
RUNTIME_TRANSITIONS: TransitionTable[RuntimeState] = TransitionTable(
    "flow runtime",
    [
        Transition(_R.DOWN, "needed", _R.STARTING),
        Transition(_R.STARTING, "hello", _R.UP),
        Transition(_R.STARTING, "exited", _R.DOWN),
        Transition(_R.STARTING, "unneeded", _R.STOPPING),
        Transition(_R.UP, "exited", _R.DOWN),
        Transition(_R.UP, "timeout", _R.STOPPING),
        Transition(_R.UP, "bad frame", _R.STOPPING),
        Transition(_R.UP, "unneeded", _R.STOPPING),
        Transition(_R.STOPPING, "hello", _R.STOPPING),
        Transition(_R.STOPPING, "exited", _R.DOWN),
    ],
)
