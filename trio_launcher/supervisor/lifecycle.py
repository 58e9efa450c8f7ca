"""A supervised plugin's life as one state machine, and the status ``plugins ls`` shows for it.

:class:`Lifecycle` is where a plugin is (supervisord's process states, with
ours added: the ready check, the restart for a threshold);
:data:`LIFECYCLE_TRANSITIONS` is every change between them. A plugin asks
the table for each change, so an illegal one raises
:class:`~trio_launcher.protocol.transitions.IllegalTransition`.

The ``status`` column (:class:`PluginState`) has four values; :func:`shown_as`
maps a lifecycle state to it. The passing states (spawning, an attempt just
over, a stop on its way without a process) keep showing what was shown before.
"""

from __future__ import annotations

import enum
from typing import Final

from ..protocol.transitions import Transition, TransitionTable

__all__ = [
    "BACK_OFF",
    "CONFIG_FIXED",
    "EXITED",
    "FAILED",
    "FINISHED",
    "LIFECYCLE_TRANSITIONS",
    "NOT_READY",
    "READY",
    "REFUSED",
    "RETRY",
    "RUN_ENDED",
    "SPAWNED",
    "SPAWN_FAILED",
    "START",
    "STOP",
    "THRESHOLD",
    "Lifecycle",
    "PluginState",
    "shown_as",
]


class PluginState(enum.StrEnum):
    """The ``status`` column of ``plugins ls``."""

    RUNNING = "running"
    STOPPED = "stopped"
    BACKOFF = "backoff"
    FAILED = "failed"


class Lifecycle(enum.Enum):
    """Where a plugin is in its life."""

    STOPPED = enum.auto()  #: not started, or stopped
    FAILED = enum.auto()  #: refused, gave up, or ended badly with no restart due
    SPAWNING = enum.auto()  #: an attempt: preparing and spawning its process
    STARTING = enum.auto()  #: the process runs; its ready check has not ended
    RUNNING = enum.auto()  #: the process runs and its ready check ended (ready or not)
    RESTARTING = enum.auto()  #: stopping the process to start it again (a threshold)
    EXITED = enum.auto()  #: the attempt is over: the process ended or could not spawn
    BACKOFF = enum.auto()  #: waiting before the next attempt
    STOPPING = enum.auto()  #: asked to stop: no restart; the process, if any, is stopped


# Triggers.
START: Final = "start"  #: ``start``, or the first start sequence
SPAWNED: Final = "spawned"
SPAWN_FAILED: Final = "spawn-failed"  #: no process: bad command, credentials, log file
READY: Final = "ready"
NOT_READY: Final = "not-ready"  #: not ready within ``ready.timeout``: it keeps running
THRESHOLD: Final = "threshold"  #: over a resource limit for too long
EXITED: Final = "exited"
BACK_OFF: Final = "back-off"  #: the restart policy wants another attempt
RETRY: Final = "retry"  #: the backoff delay ran out, or ``start`` cut it short
FINISHED: Final = "finished"  #: it exited cleanly and the policy wants no restart
FAILED: Final = "failed"  #: it ended badly and the policy wants no restart, or gave up
STOP: Final = "stop"  #: ``stop``, or every plugin is being stopped
RUN_ENDED: Final = "run-ended"  #: the stop ended a run that had no process
REFUSED: Final = "refused"  #: it cannot be started (its entry has a problem)
CONFIG_FIXED: Final = "config-fixed"  #: its entry's problem went away

_L = Lifecycle
_WITH_A_PROCESS = (_L.STARTING, _L.RUNNING)
_INACTIVE = (_L.STOPPED, _L.FAILED)

#: Every legal change of a :class:`Lifecycle`.
LIFECYCLE_TRANSITIONS: Final = TransitionTable[Lifecycle](
    "supervised plugin",
    [
        *(Transition(state, START, _L.SPAWNING) for state in _INACTIVE),
        *(Transition(state, REFUSED, _L.FAILED) for state in _INACTIVE),
        Transition(_L.FAILED, CONFIG_FIXED, _L.STOPPED),
        Transition(_L.SPAWNING, SPAWNED, _L.STARTING),
        Transition(_L.SPAWNING, SPAWN_FAILED, _L.EXITED),
        Transition(_L.STARTING, READY, _L.RUNNING),
        Transition(_L.STARTING, NOT_READY, _L.RUNNING),
        *(Transition(state, THRESHOLD, _L.RESTARTING) for state in _WITH_A_PROCESS),
        *(Transition(state, EXITED, _L.EXITED) for state in (*_WITH_A_PROCESS, _L.RESTARTING)),
        Transition(_L.EXITED, BACK_OFF, _L.BACKOFF),
        Transition(_L.EXITED, FINISHED, _L.STOPPED),
        Transition(_L.EXITED, FAILED, _L.FAILED),
        Transition(_L.BACKOFF, RETRY, _L.SPAWNING),
        *(
            Transition(state, STOP, _L.STOPPING)
            for state in (_L.SPAWNING, *_WITH_A_PROCESS, _L.RESTARTING, _L.BACKOFF, _L.STOPPING)
        ),
        # A stop lets the attempt under way end as it would, without a restart.
        *(
            Transition(_L.STOPPING, trigger, _L.STOPPING)
            for trigger in (RETRY, SPAWNED, SPAWN_FAILED)
        ),
        *(Transition(_L.STOPPING, trigger, _L.STOPPING) for trigger in (READY, NOT_READY)),
        *(Transition(_L.RESTARTING, trigger, _L.RESTARTING) for trigger in (READY, NOT_READY)),
        Transition(_L.STOPPING, EXITED, _L.STOPPED),
        Transition(_L.STOPPING, RUN_ENDED, _L.STOPPED),
    ],
)

#: The status each state shows; the passing states are not here.
_SHOWN: Final = {
    _L.STOPPED: PluginState.STOPPED,
    _L.FAILED: PluginState.FAILED,
    _L.STARTING: PluginState.RUNNING,
    _L.RUNNING: PluginState.RUNNING,
    _L.RESTARTING: PluginState.RUNNING,
    _L.BACKOFF: PluginState.BACKOFF,
}


def shown_as(state: Lifecycle, *, has_process: bool, before: PluginState) -> PluginState:
    """The status shown in ``state``; ``before`` is the one shown until now."""
    shown = _SHOWN.get(state)
    if shown is not None:
        return shown
    if state is _L.STOPPING and has_process:
        return PluginState.RUNNING
    return before
