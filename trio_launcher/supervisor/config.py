"""``launcher.yaml``: the supervisor's configuration.

:func:`load_config` reads the file and builds a :class:`SupervisorConfig` in
one pass that reports every problem at once, each with file, line and key.
This module reads the top level (HiveOT's keys, the built-in defaults changed
by them, ``autostart``); each ``plugins:`` entry and ``defaults:`` is read by
:mod:`.plugin_reader` into the objects of :mod:`.plugin_settings`. A problem
in one ``plugins:`` entry refuses only that plugin (it is listed in
:attr:`SupervisorConfig.refused`); any other problem raises
:class:`ConfigError`. See ``docs/supervisor.md`` for every key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..config_error import ConfigError, ConfigIssue
from . import _yaml
from ._yaml import Fields, NodeReader
from .plugin_reader import PluginReader, path_under, plugin_name
from .plugin_settings import (
    LogSettings,
    PluginConfig,
    Readiness,
    RestartPolicy,
    valid_plugin_name,
)

__all__ = ["ConfigError", "ConfigIssue", "SupervisorConfig", "load_config", "parse_config"]

#: HiveOT launcher keys that have no meaning here; accepted and ignored.
_HIVEOT_IGNORED = ("id", "keyFile", "tokenFile", "provideDiscovery", "provideServerURL")
_LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "DEBUG", "INFO", "WARNING", "ERROR")


@attrs.frozen
class SupervisorConfig:
    """Everything the supervisor needs; relative paths are relative to ``path``'s folder."""

    path: Path | None = None
    plugins_dirs: tuple[Path, ...] = ()
    logs_dir: Path = Path("logs")
    credentials_dir: Path = Path("certs")
    create_credentials: bool = True
    control_socket: Path | None = None
    core: str | None = None
    autostart: tuple[str, ...] = ()
    plugins: Mapping[str, PluginConfig] = attrs.field(factory=dict, hash=False)
    defaults: PluginConfig = attrs.field(factory=lambda: PluginConfig(name="*"))
    refused: Mapping[str, tuple[ConfigIssue, ...]] = attrs.field(factory=dict, hash=False)
    monitor_interval: float = 5.0
    scan_interval: float = 5.0
    log_level: str | None = None
    log_to_file: bool = False

    @property
    def base_dir(self) -> Path:
        """Folder of the configuration file (the current folder without one)."""
        return Path.cwd() if self.path is None else self.path.parent

    def plugin_config(self, name: str) -> PluginConfig:
        """Settings of ``name``: its ``plugins:`` entry, else the defaults."""
        found = self.plugins.get(name)
        return found if found is not None else attrs.evolve(self.defaults, name=name)

    @property
    def issues(self) -> list[ConfigIssue]:
        """Problems of the refused plugins, in file order."""
        issues = [issue for found in self.refused.values() for issue in found]
        return sorted(issues, key=_line)


def load_config(path: str | os.PathLike[str]) -> SupervisorConfig:
    """Read and check ``launcher.yaml``.

    Raises:
        ConfigError: the file cannot be read or has problems outside ``plugins:``
            entries. Its ``issues`` list every problem, plugin ones included.
    """
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _yaml.file_error(str(path), f"cannot read: {exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: str | os.PathLike[str] = "launcher.yaml") -> SupervisorConfig:
    """Like :func:`load_config` for YAML ``text`` said to come from ``path``."""
    path = Path(path).absolute()
    reader = NodeReader(str(path))
    root = _yaml.compose(text, str(path))
    if root is None:
        return _Builder(reader, path).build(None)
    return _Builder(reader, path).build(root)


def _paths(base: Path) -> _yaml.Converter[tuple[Path, ...]]:
    def convert(node: Any) -> tuple[Path, ...]:
        return tuple(base / Path(item).expanduser() for item in _yaml.string_list(node))

    return convert


def _default_socket(base: Path) -> Path | None:
    return base / "launcher.sock"


def _optional_path(base: Path) -> _yaml.Converter[Path | None]:
    def convert(node: Any) -> Path | None:
        return None if _yaml.scalar_or_none(node) is None else path_under(base)(node)

    return convert


class _Builder:
    """Builds a :class:`SupervisorConfig` from the root node."""

    def __init__(self, reader: NodeReader, path: Path) -> None:
        self.reader = reader
        self.path = path
        self.base = path.parent
        self.refused: dict[str, list[ConfigIssue]] = {}
        self.lines: dict[str, int | None] = {}

    def build(self, root: Any) -> SupervisorConfig:
        fields = None if root is None else self.reader.fields(root, "")
        if fields is None:
            if self.reader.issues:
                raise ConfigError(self.reader.issues, source=None)
            return self._finish_empty()
        base = self.base
        default_dirs: tuple[Path, ...] = (base / "plugins",)
        values: dict[str, Any] = {
            "path": self.path,
            "plugins_dirs": fields.read(
                ("plugins_dir", "plugins_dirs", "pluginsDir"), _paths(base), default_dirs
            ),
            "logs_dir": fields.read(("logs_dir", "logsDir"), path_under(base), base / "logs"),
            "credentials_dir": fields.read(
                ("credentials_dir", "certs_dir", "certsDir"), path_under(base), base / "certs"
            ),
            "create_credentials": fields.read(
                ("create_credentials", "createPluginCred"), _yaml.boolean, True
            ),
            "control_socket": fields.read(
                "control_socket", _optional_path(base), _default_socket(base)
            ),
            "core": fields.read(("core", "runtime", "corebin"), plugin_name, None),
            "monitor_interval": fields.read("monitor_interval", _yaml.duration(), 5.0),
            "scan_interval": fields.read("scan_interval", _yaml.duration(), 5.0),
            "log_level": fields.read(("log_level", "logLevel"), _yaml.choice(*_LOG_LEVELS), None),
            "log_to_file": fields.read(("log_to_file", "logtofile"), _yaml.boolean, False),
        }
        for name in _HIVEOT_IGNORED:
            fields.take(name)
        defaults = self._defaults(fields)
        core_wait = fields.read("runtimeWait", _yaml.duration(scale=0.001), None)
        autostart, variants = self._autostart(fields)
        plugins = self._plugins(fields, defaults)
        fields.finish()
        plugins = self._apply_variants(plugins, variants, defaults)
        if core_wait is not None and values["core"] is not None:
            core = plugins.get(values["core"]) or attrs.evolve(defaults, name=values["core"])
            plugins[core.name] = attrs.evolve(core, ready=attrs.evolve(core.ready, after=core_wait))
        self._refuse_cycles(plugins)
        if self.reader.issues:
            issues = sorted(self.reader.issues + self._plugin_issues(), key=_line)
            raise ConfigError(issues, source=None)
        return SupervisorConfig(
            **values,
            autostart=autostart,
            plugins={name: p for name, p in plugins.items() if name not in self.refused},
            defaults=defaults,
            refused={name: tuple(issues) for name, issues in self.refused.items()},
        )

    def _finish_empty(self) -> SupervisorConfig:
        return SupervisorConfig(
            path=self.path,
            plugins_dirs=(self.base / "plugins",),
            logs_dir=self.base / "logs",
            credentials_dir=self.base / "certs",
            control_socket=self.base / "launcher.sock",
        )

    def _plugin_issues(self) -> list[ConfigIssue]:
        return [issue for issues in self.refused.values() for issue in issues]

    def _defaults(self, fields: Fields) -> PluginConfig:
        """Built-in defaults, changed by HiveOT's global keys, then by ``defaults:``."""
        log = LogSettings(
            to_file=fields.read(("log_plugins", "logplugins", "logPlugins"), _yaml.boolean, True),
            echo_stderr=fields.read(("attachstderr", "attachStderr"), _yaml.boolean, False),
            echo_stdout=fields.read(("attachstdout", "attachStdout"), _yaml.boolean, False),
        )
        autorestart = fields.read(("autorestart", "autoRestart"), _yaml.boolean, None)
        restart = {None: RestartPolicy.ON_FAILURE, True: RestartPolicy.ON_FAILURE}.get(
            autorestart, RestartPolicy.NEVER
        )
        after = fields.read("startWait", _yaml.duration(scale=0.001), Readiness().after)
        builtin = PluginConfig(name="*", restart=restart, log=log, ready=Readiness(after=after))
        found = fields.take("defaults")
        if found is None:
            return builtin
        key, node = found
        return PluginReader(self.reader, self.base).read(node, key, builtin)

    def _autostart(self, fields: Fields) -> tuple[tuple[str, ...], dict[str, str]]:
        """Names to start in order, and HiveOT's ``- binary: instance`` variants."""
        found = fields.take("autostart")
        if found is None:
            return (), {}
        key, node = found
        if _yaml.scalar_or_none(node) is None:
            return (), {}
        entries = _yaml.items(node)
        if entries is None:
            self.reader.error(node, key, f"expected a list of names, got {_yaml.describe(node)}")
            return (), {}
        names: list[str] = []
        variants: dict[str, str] = {}
        for item in entries:
            variant = _yaml.pairs(item)
            if variant is not None and len(variant) == 1:
                ((exe_node, name_node),) = variant
                exe = self.reader.convert(exe_node, key, plugin_name, "")
                name = self.reader.convert(name_node, key, plugin_name, "")
                if exe and name:
                    variants[name] = exe
            else:
                name = self.reader.convert(item, key, plugin_name, "")
            if name and name in names:
                self.reader.error(item, key, f"{name!r} is listed twice")
            elif name:
                names.append(name)
        return tuple(names), variants

    def _plugins(self, fields: Fields, defaults: PluginConfig) -> dict[str, PluginConfig]:
        found = fields.take("plugins")
        if found is None or _yaml.scalar_or_none(found[1]) is None:
            return {}
        key, node = found
        entries = self.reader.fields(node, key)
        if entries is None:
            return {}
        plugins = {}
        for name, key_node, value_node in entries.items():
            path = entries.path(name)
            self.lines[name] = _yaml.line_of(key_node)
            reader = NodeReader(self.reader.file)
            if not valid_plugin_name(name):
                reader.error(
                    key_node, path, "not a valid plugin name (letters, digits, '.', '_', '-')"
                )
            plugin = PluginReader(reader, self.base).read(
                value_node, path, attrs.evolve(defaults, name=name)
            )
            if reader.issues:
                self.refused[name] = reader.issues
            else:
                plugins[name] = plugin
        return plugins

    def _apply_variants(
        self, plugins: dict[str, PluginConfig], variants: dict[str, str], defaults: PluginConfig
    ) -> dict[str, PluginConfig]:
        for name, executable in variants.items():
            if name in self.refused:
                continue
            plugin = plugins.get(name) or attrs.evolve(defaults, name=name)
            if plugin.command is None and plugin.executable is None:
                plugins[name] = attrs.evolve(plugin, executable=executable)
        return plugins

    def _refuse_cycles(self, plugins: dict[str, PluginConfig]) -> None:
        """Refuse every configured plugin that depends on itself, directly or not."""
        for name in plugins:
            seen: set[str] = set()
            pending = list(plugins[name].depends_on)
            while pending:
                dependency = pending.pop()
                if dependency == name:
                    issue = ConfigIssue(
                        file=self.reader.file,
                        line=self.lines.get(name),
                        key=f"plugins.{name}.depends_on",
                        message="dependency cycle",
                    )
                    self.refused.setdefault(name, []).append(issue)
                    break
                if dependency not in seen and dependency in plugins:
                    seen.add(dependency)
                    pending.extend(plugins[dependency].depends_on)


def _line(issue: ConfigIssue) -> tuple[int, int]:
    return issue.line or 0, issue.column or 0
