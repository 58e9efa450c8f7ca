"""What the runner's connection machine returns: a :class:`Step` of messages and events.

Events are what the application must act on; messages go to the broker.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ..messages import RunnerToBroker

__all__ = [
    "CancelTask",
    "DrainRequested",
    "Event",
    "NodeTypesAnswered",
    "Registered",
    "RpcAnswered",
    "StartTask",
    "Step",
    "TaskAccepted",
    "TaskDataAnswered",
    "TaskDropped",
]


@attrs.frozen
class Registered:
    """The broker registered the runner; offers are now due."""


@attrs.frozen
class TaskAccepted:
    """We accepted a task; its settings are on their way (reset an idle timer here)."""

    task_id: str


@attrs.frozen
class StartTask:
    """A task's settings arrived: run it now, then call ``task_done`` or ``task_failed``."""

    task_id: str
    settings: Any


@attrs.frozen
class CancelTask:
    """The broker cancelled a running task, or the connection closed under it.

    Stop it, then call ``task_done`` or ``task_failed``; nothing will be sent.
    """

    task_id: str
    reason: str


@attrs.frozen
class TaskDropped:
    """A task that never started is gone (cancelled, or its settings never came)."""

    task_id: str
    reason: str


@attrs.frozen
class RpcAnswered:
    """The broker answered a :class:`~..messages.RunnerRpc` call; ``data`` may be ``ABSENT``."""

    task_id: str
    call_id: str
    status: str
    data: Any


@attrs.frozen
class TaskDataAnswered:
    """The broker answered a task data request (JS runners)."""

    task_id: str
    request_id: str
    data: Any


@attrs.frozen
class NodeTypesAnswered:
    """The broker answered a node types request (JS runners)."""

    task_id: str
    request_id: str
    node_types: Any


@attrs.frozen
class DrainRequested:
    """The broker is shutting down: no more offers; finish the tasks held, then close."""


Event: TypeAlias = (
    Registered
    | TaskAccepted
    | StartTask
    | CancelTask
    | TaskDropped
    | RpcAnswered
    | TaskDataAnswered
    | NodeTypesAnswered
    | DrainRequested
)


@attrs.frozen
class Step:
    """What one input produced: messages to send, in order, then events to handle."""

    to_send: tuple[RunnerToBroker, ...] = ()
    events: tuple[Event, ...] = ()
