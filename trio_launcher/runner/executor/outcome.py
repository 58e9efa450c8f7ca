"""The outcome of one task, and the n8n errors for process-level failures."""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from trio_launcher.protocol.n8n_errors import CANCELLED_ERROR, format_seconds
from trio_launcher.runner.code_node.run import continue_on_fail_result

WORKER_LOST_ERROR = {
    "message": "Task process was lost: the task worker died while the task was running",
    "description": "",
}
BAD_RESULT_ERROR = {"message": "Failed to read result from child process", "description": ""}


@attrs.frozen
class TaskOutcome:
    """What a task produced: a result (``ok``) or an n8n error payload."""

    result: Any | None = None
    error: dict[str, Any] | None = None
    print_args: list[list[str]] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """True when the task succeeded (``result`` may still be None)."""
        return self.error is None

    @classmethod
    def failure(
        cls,
        error: dict[str, Any],
        *,
        continue_on_fail: bool = False,
        print_args: Sequence[list[str]] = (),
    ) -> TaskOutcome:
        """A failed execution; with ``continueOnFail`` it becomes an error item."""
        if continue_on_fail:
            return cls(
                result=continue_on_fail_result(str(error.get("message"))),
                print_args=list(print_args),
            )
        return cls(error=error, print_args=list(print_args))

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> TaskOutcome:
        """From a task process's reply (``{"result"|"error", "print_args"}``)."""
        print_args = reply.get("print_args")
        args = print_args if isinstance(print_args, list) else []
        error = reply.get("error")
        if error is not None:
            return cls(
                error=error if isinstance(error, dict) else {"message": str(error)}, print_args=args
            )
        return cls(result=reply.get("result"), print_args=args)


def timeout_error(timeout: float) -> dict[str, Any]:
    """The error for a task that ran past its timeout."""
    return {
        "message": f"Task execution timed out after {format_seconds(timeout)} seconds",
        "description": "",
    }


def exit_error(returncode: int | None) -> dict[str, Any]:
    """The error for a task process that ended without a reply (n8n's wording)."""
    if returncode == -signal.SIGKILL:
        return {"message": "Process was forcefully killed (SIGKILL)"}
    if returncode == -signal.SIGTERM:
        return dict(CANCELLED_ERROR)
    if returncode:
        return {"message": f"Task subprocess exited with code {returncode}"}
    return {"message": "Process completed but returned no result", "description": ""}
