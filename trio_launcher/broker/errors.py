"""What can go wrong with a task submitted to the broker, as typed exceptions."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokerDraining",
    "RunnerDisconnected",
    "TaskError",
    "TaskFailed",
    "TaskRequestTimedOut",
    "TaskTimedOut",
]


class TaskError(Exception):
    """Base class: the task did not produce a result. ``kind`` is a stable short name."""

    kind = "error"

    def __init__(self, message: str, *, error: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


class TaskRequestTimedOut(TaskError):
    """No runner took the task within the request timeout."""

    kind = "request_timeout"


class BrokerDraining(TaskError):
    """The broker is shutting down and takes no new tasks."""

    kind = "draining"


class TaskTimedOut(TaskError):
    """The task ran longer than the task timeout and was cancelled on its runner."""

    kind = "task_timeout"


class RunnerDisconnected(TaskError):
    """The runner running the task went away (closed, crashed or missed a heartbeat)."""

    kind = "runner_disconnected"


class TaskFailed(TaskError):
    """The runner reported an error; ``error`` is the runner's error object."""

    kind = "task_failed"
