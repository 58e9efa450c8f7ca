"""Plugin supervisor: start, stop, restart and watch plugin processes from ``launcher.yaml``.

See ``docs/supervisor.md``. The usual entry point is :func:`run_supervisor`::

    config = load_config("launcher.yaml")
    async with trio.open_nursery() as nursery:
        supervisor = await nursery.start(run_supervisor, config)
        with supervisor.events() as events:
            async for event in events:
                print(event.to_json())
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ControlClient, ControlError
    from .config import ConfigError, ConfigIssue, SupervisorConfig, load_config, parse_config
    from .credentials import Credentials, ensure_credentials
    from .events import (
        BackingOff,
        Crashed,
        Event,
        EventBus,
        Failed,
        GaveUp,
        PluginAdded,
        PluginRemoved,
        Ready,
        Restarted,
        Started,
        Stopped,
        Subscription,
        ThresholdExceeded,
    )
    from .inventory import PluginEntry, take_inventory
    from .lifecycle import Lifecycle, PluginState
    from .logfile import RotatingLog
    from .plugin import Plugin, PluginError
    from .plugin_settings import (
        BackoffSettings,
        Limits,
        LogSettings,
        PluginConfig,
        Readiness,
        RestartPolicy,
    )
    from .status import PluginStatus
    from .supervisor import Supervisor, SupervisorClosed, run_supervisor

__all__ = [
    "BackingOff",
    "BackoffSettings",
    "ConfigError",
    "ConfigIssue",
    "ControlClient",
    "ControlError",
    "Crashed",
    "Credentials",
    "Event",
    "EventBus",
    "Failed",
    "GaveUp",
    "Lifecycle",
    "Limits",
    "LogSettings",
    "Plugin",
    "PluginAdded",
    "PluginConfig",
    "PluginEntry",
    "PluginError",
    "PluginRemoved",
    "PluginState",
    "PluginStatus",
    "Readiness",
    "Ready",
    "RestartPolicy",
    "Restarted",
    "RotatingLog",
    "Started",
    "Stopped",
    "Subscription",
    "Supervisor",
    "SupervisorClosed",
    "SupervisorConfig",
    "ThresholdExceeded",
    "ensure_credentials",
    "load_config",
    "parse_config",
    "run_supervisor",
    "take_inventory",
]

#: Public name -> the module defining it; imported on first use, so that the
#: control client (``trio-launcher plugins``) does not pay for Trio and YAML.
_EXPORTS = {
    "BackingOff": "events",
    "BackoffSettings": "plugin_settings",
    "ConfigError": "config",
    "ConfigIssue": "config",
    "ControlClient": "client",
    "ControlError": "client",
    "Crashed": "events",
    "Credentials": "credentials",
    "Event": "events",
    "EventBus": "events",
    "Failed": "events",
    "GaveUp": "events",
    "Lifecycle": "lifecycle",
    "Limits": "plugin_settings",
    "LogSettings": "plugin_settings",
    "Plugin": "plugin",
    "PluginAdded": "events",
    "PluginConfig": "plugin_settings",
    "PluginEntry": "inventory",
    "PluginError": "plugin",
    "PluginRemoved": "events",
    "PluginState": "lifecycle",
    "PluginStatus": "status",
    "Readiness": "plugin_settings",
    "Ready": "events",
    "RestartPolicy": "plugin_settings",
    "Restarted": "events",
    "RotatingLog": "logfile",
    "Started": "events",
    "Stopped": "events",
    "Subscription": "events",
    "Supervisor": "supervisor",
    "SupervisorClosed": "supervisor",
    "SupervisorConfig": "config",
    "ThresholdExceeded": "events",
    "ensure_credentials": "credentials",
    "load_config": "config",
    "parse_config": "config",
    "run_supervisor": "supervisor",
    "take_inventory": "inventory",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
