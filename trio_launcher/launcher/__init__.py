"""On-demand runners: pose as a runner until a task waits, then start the real one."""

from .config import LauncherConfig, RunnerSpec, default_runner, load_launcher_config
from .errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    HandshakeFailed,
    LauncherError,
    RunnerStartFailed,
)
from .launcher import Launcher, LauncherStatistics, run_launcher
from .loop import RunnerTypeStatus
from .phases import Phase
from .runner_child import HealthProbe

__all__ = [
    "AuthenticationFailed",
    "BrokerUnavailable",
    "HandshakeFailed",
    "HealthProbe",
    "Launcher",
    "LauncherConfig",
    "LauncherError",
    "LauncherStatistics",
    "Phase",
    "RunnerSpec",
    "RunnerStartFailed",
    "RunnerTypeStatus",
    "default_runner",
    "load_launcher_config",
    "run_launcher",
]
