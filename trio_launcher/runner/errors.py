"""Errors of the Python task runner, and the exit codes the command uses for them."""

from __future__ import annotations

from ..config_error import ConfigError, ConfigIssue

__all__ = [
    "EXIT_AUTH_REFUSED",
    "EXIT_CONFIG",
    "EXIT_NEEDS_NEW_GRANT",
    "EXIT_OK",
    "EXIT_TASKS_KILLED",
    "AuthenticationRefused",
    "GrantTokenSpent",
    "NoIdleTimeoutHandlerError",
]

#: Clean stop: idle timeout, SIGTERM with every task finished, or the broker drained us.
EXIT_OK = 0
#: SIGTERM, and running tasks had to be killed after the graceful-shutdown timeout.
EXIT_TASKS_KILLED = 1
#: Bad configuration (every problem is printed).
EXIT_CONFIG = 2
#: The broker refused the grant or auth token (HTTP 401/403): retrying cannot help.
EXIT_AUTH_REFUSED = 3
#: The connection was lost and the grant token is spent; start a fresh runner.
EXIT_NEEDS_NEW_GRANT = 4


class NoIdleTimeoutHandlerError(ConfigError):
    """Auto-shutdown is on but nobody handles the idle timeout."""

    def __init__(self) -> None:
        message = "set, but the TaskRunner has no on_idle_timeout handler"
        super().__init__([ConfigIssue(key="N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", message=message)])


class AuthenticationRefused(Exception):
    """The broker refused a token; ``token_name`` says which one."""

    def __init__(self, token_name: str, status: int) -> None:
        super().__init__(
            f"the broker refused {token_name} (HTTP {status}); "
            f"give the runner a fresh, valid {token_name}"
        )
        self.token_name = token_name
        self.status = status


class GrantTokenSpent(Exception):
    """The connection was lost; the single-use grant token cannot reconnect."""
