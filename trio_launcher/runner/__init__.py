"""The Python task runner: n8n-compatible, each task in its own process."""

from .config import HealthCheckConfig, RunnerConfig
from .errors import AuthenticationRefused, GrantTokenSpent, NoIdleTimeoutHandlerError
from .task_runner import TaskRunner, run_runner

__all__ = [
    "AuthenticationRefused",
    "GrantTokenSpent",
    "HealthCheckConfig",
    "NoIdleTimeoutHandlerError",
    "RunnerConfig",
    "TaskRunner",
    "run_runner",
]
