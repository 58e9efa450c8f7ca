"""The plugins the supervisor knows: executables in the plugin folders plus configured ones.

:func:`take_inventory` is cheap (one ``scandir`` per folder) and is called
again every ``scan_interval`` so that plugins added to or removed from a
folder are noticed while the supervisor runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from .config import SupervisorConfig
from .plugin_settings import PluginConfig, valid_plugin_name

__all__ = ["PluginEntry", "find_executables", "take_inventory"]


@attrs.frozen
class PluginEntry:
    """One plugin of the inventory.

    ``program`` is the command to run before the configured ``args``, or None
    if the plugin cannot be started; ``problem`` then says why.
    """

    name: str
    config: PluginConfig
    program: tuple[str, ...] | None
    problem: str | None = None

    @property
    def command(self) -> tuple[str, ...] | None:
        """The full command line, or None if the plugin cannot be started."""
        return None if self.program is None else (*self.program, *self.config.args)


def find_executables(folders: Iterable[Path]) -> dict[str, Path]:
    """Executable files by name; a name in an earlier folder wins. Missing folders are skipped."""
    found: dict[str, Path] = {}
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda entry: entry.name):
            if entry.name not in found and _is_plugin(entry):
                found[entry.name] = Path(entry.path)
    return found


def _is_plugin(entry: os.DirEntry[str]) -> bool:
    try:
        return valid_plugin_name(entry.name) and entry.is_file() and os.access(entry.path, os.X_OK)
    except OSError:
        return False


def take_inventory(config: SupervisorConfig) -> dict[str, PluginEntry]:
    """Every plugin: found in a folder, configured, refused, or named in ``core``/``autostart``."""
    found = find_executables(config.plugins_dirs)
    names = set(found) | set(config.plugins) | set(config.refused) | set(config.autostart)
    if config.core is not None:
        names.add(config.core)
    return {name: _entry(name, config, found) for name in sorted(names)}


def _entry(name: str, config: SupervisorConfig, found: Mapping[str, Path]) -> PluginEntry:
    plugin = config.plugin_config(name)
    if name in config.refused:
        first = config.refused[name][0]
        return PluginEntry(name, plugin, None, f"refused, bad configuration: {first}")
    if plugin.command is not None:
        return PluginEntry(name, plugin, plugin.command)
    executable = plugin.executable or name
    path = found.get(executable)
    if path is None:
        folders = ", ".join(str(folder) for folder in config.plugins_dirs) or "no plugin folder"
        return PluginEntry(name, plugin, None, f"executable {executable!r} not found in {folders}")
    return PluginEntry(name, plugin, (str(path),))
