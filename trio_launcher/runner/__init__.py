"""The Python task runner: n8n-compatible, each task in its own process."""

from .config import HealthCheckConfig, RunnerConfig
from .connection import TaskRunner, run_runner
from .errors import AuthenticationRefused, GrantTokenSpent, NoIdleTimeoutHandlerError

__all__ = [
    "AuthenticationRefused",
    "GrantTokenSpent",
    "HealthCheckConfig",
    "NoIdleTimeoutHandlerError",
    "RunnerConfig",
    "TaskRunner",
    "run_runner",
]
