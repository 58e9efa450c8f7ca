"""trio-launcher: on-demand task runners for n8n's task broker protocol, on Trio.

The public API is imported lazily, so that ``python -m trio_launcher.runner``
pays only for the runner:

- :func:`open_broker`, :func:`serve_broker`, :class:`BrokerConfig`: the embedded broker;
- :class:`TaskRunner`, :func:`run_runner`, :class:`RunnerConfig`: the Python task runner;
- :func:`run_launcher`, :class:`LauncherConfig`, :func:`load_launcher_config`,
  :class:`RunnerSpec`, :func:`default_runner`: the launcher;
- :mod:`trio_launcher.protocol`: the sans-IO protocol core.

Each name is listed three times below (``_EXPORTS`` for the lazy import,
``__all__``, and the imports for type checkers); ``tests/test_public_api.py``
checks that the three agree.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # keep `typing` out of what imports only a submodule (the runtimes)

__version__ = "0.1.0"

_EXPORTS = {
    "Broker": "broker",
    "BrokerConfig": "broker",
    "TaskError": "broker",
    "TaskFailed": "broker",
    "TaskRequestTimedOut": "broker",
    "TaskTimedOut": "broker",
    "RunnerDisconnected": "broker",
    "BrokerDraining": "broker",
    "TaskResult": "broker",
    "open_broker": "broker",
    "serve_broker": "broker",
    "RunnerConfig": "runner",
    "TaskRunner": "runner",
    "run_runner": "runner",
    "LauncherConfig": "launcher",
    "RunnerSpec": "launcher",
    "default_runner": "launcher",
    "load_launcher_config": "launcher",
    "run_launcher": "launcher",
    "ConfigError": "config_error",
}

__all__ = [
    "Broker",
    "BrokerConfig",
    "BrokerDraining",
    "ConfigError",
    "LauncherConfig",
    "RunnerConfig",
    "RunnerDisconnected",
    "RunnerSpec",
    "TaskError",
    "TaskFailed",
    "TaskRequestTimedOut",
    "TaskResult",
    "TaskRunner",
    "TaskTimedOut",
    "default_runner",
    "load_launcher_config",
    "open_broker",
    "run_launcher",
    "run_runner",
    "serve_broker",
]

if TYPE_CHECKING:
    from .broker import (
        Broker,
        BrokerConfig,
        BrokerDraining,
        RunnerDisconnected,
        TaskError,
        TaskFailed,
        TaskRequestTimedOut,
        TaskResult,
        TaskTimedOut,
        open_broker,
        serve_broker,
    )
    from .config_error import ConfigError
    from .launcher import (
        LauncherConfig,
        RunnerSpec,
        default_runner,
        load_launcher_config,
        run_launcher,
    )
    from .runner import RunnerConfig, TaskRunner, run_runner


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_launcher' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
