"""n8n's task error objects: the ``error`` of ``broker:taskerror`` and ``runner:taskerror``.

An error object is a JSON object with a ``message`` and, for the broker's own
errors, a ``name`` (n8n's error class, which requesters branch on) and a
``description`` saying what to do. The broker core builds its errors here, the
requester maps the names back to exceptions, and the runner reports a
cancelled task with :data:`CANCELLED_ERROR`. This module is sans-IO and cheap
to import (the runner loads it on its start-up path).
"""

from __future__ import annotations

import math
from typing import Final

from . import reasons

__all__ = [
    "CANCELLED_ERROR",
    "DISCONNECTED",
    "EXECUTION_TIMEOUT",
    "FAILED_HEARTBEAT",
    "SHUTDOWN",
    "TIMEOUT",
    "broker_shut_down",
    "error_object",
    "format_seconds",
    "heartbeat_failed",
    "runner_disconnected",
    "settings_not_received",
    "settings_timed_out",
    "shutdown_deadline_passed",
    "task_timed_out",
]

#: n8n's error class names, the ``name`` of the broker's error objects.
EXECUTION_TIMEOUT: Final = "TaskRunnerExecutionTimeoutError"
TIMEOUT: Final = "TaskRunnerTimeoutError"
DISCONNECTED: Final = "TaskRunnerDisconnectedError"
FAILED_HEARTBEAT: Final = "TaskRunnerFailedHeartbeatError"
SHUTDOWN: Final = "TaskRunnerShutdownError"

#: What a runner reports for a task the broker cancelled (copy it before changing it).
CANCELLED_ERROR: Final = {"message": "Task was cancelled"}


def format_seconds(value: float) -> str:
    """``300`` for 300.0, ``0.5`` for 0.5: seconds as n8n prints them, every digit kept."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def error_object(name: str, message: str, description: str) -> dict[str, str]:
    """A broker-made error object; ``name`` is n8n's error class."""
    return {"name": name, "message": message, "description": description}


def settings_timed_out(accept_timeout: float) -> dict[str, str]:
    """The requester did not send the task's settings within the accept window."""
    return error_object(
        TIMEOUT,
        reasons.REQUESTER_TOO_SLOW,
        f"The task's settings did not arrive within {format_seconds(accept_timeout)} "
        "seconds of the task being ready, so the broker cancelled it.",
    )


def task_timed_out(task_timeout: float) -> dict[str, str]:
    """The task ran past the broker's task timeout."""
    seconds = format_seconds(task_timeout)
    return error_object(
        EXECUTION_TIMEOUT,
        f"Task execution timed out after {seconds} seconds",
        f"The task ran longer than the broker's task timeout ({seconds} s, "
        "N8N_RUNNERS_TASK_TIMEOUT). Make the code do less per run, or raise the timeout.",
    )


def shutdown_deadline_passed() -> dict[str, str]:
    """The broker is draining and the task did not end within its grace period."""
    return error_object(
        SHUTDOWN,
        reasons.BROKER_SHUTTING_DOWN,
        "The broker is shutting down and the task did not finish within its grace period.",
    )


def heartbeat_failed() -> dict[str, str]:
    """The task's runner stopped answering the broker's pings."""
    return error_object(
        FAILED_HEARTBEAT,
        "Task execution aborted because runner became unresponsive",
        "The task runner stopped answering the broker's heartbeat, so the broker dropped it. "
        "Check that the runner is not overloaded or stuck, then execute the node again.",
    )


def broker_shut_down() -> dict[str, str]:
    """The broker closed the task's runner as it shut down."""
    return error_object(
        SHUTDOWN,
        reasons.BROKER_SHUTTING_DOWN,
        "The broker shut down before the task finished. Execute the node again later.",
    )


def runner_disconnected(detail: str) -> dict[str, str]:
    """The task's runner went away; ``detail`` says how (``its connection closed``)."""
    return error_object(
        DISCONNECTED,
        "Node execution failed",
        f"The task runner disconnected while running this task ({detail}). "
        "A runner can run out of memory or be restarted. Execute the node again; if this "
        "keeps happening, process fewer items at a time or give the runner more memory.",
    )


def settings_not_received(settings_timeout: float) -> dict[str, str]:
    """The runner's own error: it accepted a task whose settings never came."""
    return {
        "message": f"Task settings not received within {format_seconds(settings_timeout)} seconds",
        "description": "The runner accepted the task but its settings never arrived.",
    }
