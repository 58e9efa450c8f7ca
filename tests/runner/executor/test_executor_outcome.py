"""How process-level results become n8n outcomes (pure functions)."""

from __future__ import annotations

import pytest

from trio_launcher.protocol.n8n_errors import format_seconds
from trio_launcher.runner.executor.outcome import TaskOutcome, exit_error, timeout_error


@pytest.mark.parametrize(
    ("seconds", "shown"), [(60, "60"), (60.0, "60"), (0.5, "0.5"), (1.25, "1.25"), (300, "300")]
)
def test_timeouts_are_shown_as_whole_seconds_when_they_are(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown
    assert timeout_error(seconds) == {
        "message": f"Task execution timed out after {shown} seconds",
        "description": "",
    }


@pytest.mark.parametrize(
    ("returncode", "message"),
    [
        (-9, "Process was forcefully killed (SIGKILL)"),
        (-15, "Task was cancelled"),
        (-11, "Task subprocess exited with code -11"),
        (3, "Task subprocess exited with code 3"),
        (0, "Process completed but returned no result"),
    ],
)
def test_exit_without_a_reply_uses_n8ns_wording(returncode: int, message: str) -> None:
    assert exit_error(returncode)["message"] == message


def test_outcomes_from_replies() -> None:
    ok = TaskOutcome.from_reply({"result": [1], "print_args": [["'x'"]]})
    assert ok.ok
    assert ok == TaskOutcome(result=[1], print_args=[["'x'"]])
    failed = TaskOutcome.from_reply({"error": {"message": "boom"}, "print_args": []})
    assert not failed.ok
    assert failed.error == {"message": "boom"}
    assert TaskOutcome(result=None).ok  # no return value is still a success


def test_failures_become_error_items_with_continue_on_fail() -> None:
    error = {"message": "boom", "description": ""}
    assert TaskOutcome.failure(error) == TaskOutcome(error=error)
    assert TaskOutcome.failure(error, continue_on_fail=True) == TaskOutcome(
        result=[{"json": {"error": "boom"}}]
    )
