"""``launcher.yaml``: the supervisor's configuration.

:func:`load_config` reads the file and builds the attrs objects below in one
pass that reports every problem at once, each with file, line and key. A
problem in one ``plugins:`` entry refuses only that plugin (it is listed in
:attr:`SupervisorConfig.refused`); any other problem raises
:class:`ConfigError`. See ``docs/supervisor.md`` for every key.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path
from random import Random
from typing import Any

import attrs

from ..config_error import ConfigError, ConfigIssue
from ..process import Backoff
from . import _yaml
from ._yaml import Fields, NodeReader

__all__ = [
    "BackoffSettings",
    "ConfigError",
    "ConfigIssue",
    "Limits",
    "LogSettings",
    "PluginConfig",
    "Readiness",
    "RestartPolicy",
    "SupervisorConfig",
    "load_config",
    "parse_config",
    "valid_plugin_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: HiveOT launcher keys that have no meaning here; accepted and ignored.
_HIVEOT_IGNORED = ("id", "keyFile", "tokenFile", "provideDiscovery", "provideServerURL")
_LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "DEBUG", "INFO", "WARNING", "ERROR")


def valid_plugin_name(name: str) -> bool:
    """Plugin names are file names: letters, digits, ``.``, ``_``, ``-``; no leading dot."""
    return bool(_NAME.match(name))


class RestartPolicy(enum.StrEnum):
    """When a plugin that exited by itself is started again."""

    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


@attrs.frozen
class BackoffSettings:
    """Restart delays: ``initial * factor**n`` capped at ``maximum``, ± ``jitter``.

    A run that lasted ``reset_after`` seconds resets the delay to ``initial``.
    """

    initial: float = 1.0
    maximum: float = 3600.0
    factor: float = 2.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def make(self, random: Random | None = None) -> Backoff:
        """A fresh :class:`~trio_launcher.process.Backoff` with these settings."""
        return Backoff(
            initial=self.initial,
            maximum=self.maximum,
            factor=self.factor,
            jitter=self.jitter,
            random=random or Random(),
        )


@attrs.frozen
class Limits:
    """Restart a plugin whose tree stays over a threshold for ``duration`` seconds."""

    cpu_percent: float | None = None
    memory_bytes: int | None = None
    duration: float = 30.0

    @property
    def any(self) -> bool:
        """True if at least one threshold is set."""
        return self.cpu_percent is not None or self.memory_bytes is not None


@attrs.frozen
class LogSettings:
    """Per-plugin log file, rotated at ``max_bytes`` keeping ``backups`` old files."""

    to_file: bool = True
    max_bytes: int = 10 * 2**20
    backups: int = 5
    echo_stdout: bool = False
    echo_stderr: bool = False


@attrs.frozen
class Readiness:
    """When a started plugin counts as ready, so that the next one may start.

    With ``line`` (a regular expression searched in each output line) or
    ``command`` (run every ``interval`` until it exits with 0) the plugin is
    ready when either passes; otherwise once it has stayed up ``after``
    seconds. After ``timeout`` seconds the start sequence goes on anyway.
    """

    after: float = 0.5
    line: str | None = None
    command: tuple[str, ...] | None = None
    interval: float = 0.5
    timeout: float = 30.0


@attrs.frozen
class PluginConfig:
    """Settings of one plugin.

    The program is ``command`` if given, else the executable named
    ``executable`` (default: the plugin's name) in the plugin folders; ``args``
    are appended either way. ``env`` is added to the supervisor's environment.
    """

    name: str
    command: tuple[str, ...] | None = None
    executable: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    cwd: Path | None = None
    restart: RestartPolicy = RestartPolicy.ON_FAILURE
    backoff: BackoffSettings = BackoffSettings()
    limits: Limits = Limits()
    log: LogSettings = LogSettings()
    ready: Readiness = Readiness()
    depends_on: tuple[str, ...] = ()
    grace_period: float = 10.0
    credentials: bool = True
    #: Failed starts in a row (not spawned, or ended before ready) retried before ``failed``.
    start_retries: int = 3


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
    defaults: PluginConfig = PluginConfig(name="*")
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


def _path(base: Path) -> _yaml.Converter[Path]:
    def convert(node: Any) -> Path:
        return base / Path(_yaml.string(node)).expanduser()

    return convert


def _paths(base: Path) -> _yaml.Converter[tuple[Path, ...]]:
    def convert(node: Any) -> tuple[Path, ...]:
        return tuple(base / Path(item).expanduser() for item in _yaml.string_list(node))

    return convert


def _default_socket(base: Path) -> Path | None:
    return base / "launcher.sock"


def _optional_path(base: Path) -> _yaml.Converter[Path | None]:
    def convert(node: Any) -> Path | None:
        return None if _yaml.scalar_or_none(node) is None else _path(base)(node)

    return convert


def _plugin_name(node: Any) -> str:
    name = _yaml.key_name(node)  # as written: a plugin may be called "on" or "1"
    if name is None:
        raise ValueError(f"expected a plugin name, got {_yaml.describe(node)}")
    if not valid_plugin_name(name):
        raise ValueError(f"{name!r} is not a valid plugin name (letters, digits, '.', '_', '-')")
    return name


def _plugin_names(node: Any) -> tuple[str, ...]:
    return tuple(_plugin_name(item) for item in _yaml.items(node) or [node])


def _pattern(node: Any) -> str:
    value = _yaml.string(node)
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value


def _string_map(node: Any) -> dict[str, str]:
    entries = _yaml.pairs(node)
    if entries is None:
        raise ValueError(f"expected a mapping of names to values, got {_yaml.describe(node)}")
    result = {}
    for key_node, value_node in entries:
        name = _yaml.key_name(key_node)
        if name is None:
            raise ValueError(f"names must be strings, got {_yaml.describe(key_node)}")
        result[name] = _yaml.text(value_node)
    return result


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
            "logs_dir": fields.read(("logs_dir", "logsDir"), _path(base), base / "logs"),
            "credentials_dir": fields.read(
                ("credentials_dir", "certs_dir", "certsDir"), _path(base), base / "certs"
            ),
            "create_credentials": fields.read(
                ("create_credentials", "createPluginCred"), _yaml.boolean, True
            ),
            "control_socket": fields.read(
                "control_socket", _optional_path(base), _default_socket(base)
            ),
            "core": fields.read(("core", "runtime", "corebin"), _plugin_name, None),
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
        return _PluginReader(self.reader, self.base).read(node, key, builtin)

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
                exe = self.reader.convert(exe_node, key, _plugin_name, "")
                name = self.reader.convert(name_node, key, _plugin_name, "")
                if exe and name:
                    variants[name] = exe
            else:
                name = self.reader.convert(item, key, _plugin_name, "")
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
            plugin = _PluginReader(reader, self.base).read(
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


class _PluginReader:
    """Reads one plugin entry (or ``defaults:``) on top of a base configuration."""

    def __init__(self, reader: NodeReader, base_dir: Path) -> None:
        self.reader = reader
        self.base_dir = base_dir

    def read(self, node: Any, key: str, base: PluginConfig) -> PluginConfig:
        if _yaml.scalar_or_none(node) is None:
            return base
        fields = self.reader.fields(node, key)
        if fields is None:
            return base
        command = fields.read("command", self._command, base.command)
        executable = fields.read("executable", _plugin_name, base.executable)
        if command is not None and executable is not None:
            self.reader.error(node, key, "give either command or executable, not both")
        plugin = attrs.evolve(
            base,
            command=command,
            executable=executable,
            args=fields.read("args", _yaml.words, base.args),
            env={**base.env, **fields.read("env", _string_map, {})},
            cwd=fields.read(("cwd", "working_dir"), _path(self.base_dir), base.cwd),
            restart=RestartPolicy(
                fields.read("restart", _yaml.choice(*RestartPolicy), base.restart.value)
            ),
            backoff=self._backoff(fields, base.backoff),
            limits=self._limits(fields, base.limits),
            log=self._log(fields, base.log),
            ready=self._ready(fields, base.ready),
            depends_on=fields.read("depends_on", _plugin_names, base.depends_on),
            grace_period=fields.read(
                ("grace_period", "stop_timeout"), _yaml.duration(), base.grace_period
            ),
            credentials=fields.read("credentials", _yaml.boolean, base.credentials),
            start_retries=fields.read(
                ("start_retries", "startretries"), _yaml.integer(0), base.start_retries
            ),
        )
        fields.finish()
        return plugin

    def _command(self, node: Any) -> tuple[str, ...]:
        words = _yaml.words(node)
        if not words or not words[0]:
            raise ValueError("the command is empty")
        program = words[0]
        if "/" in program:  # a path, relative to the configuration file
            program = str(self.base_dir / Path(program).expanduser())
        return (program, *words[1:])

    def _section(self, fields: Fields, name: str) -> Fields | None:
        found = fields.take(name)
        if found is None or _yaml.scalar_or_none(found[1]) is None:
            return None
        key, node = found
        return self.reader.fields(node, key)

    def _backoff(self, fields: Fields, base: BackoffSettings) -> BackoffSettings:
        section = self._section(fields, "backoff")
        if section is None:
            return base
        initial = section.read("initial", _yaml.duration(), base.initial)
        found = section.take("max", "maximum")
        maximum = base.maximum
        if found is not None:
            maximum = self.reader.convert(found[1], found[0], _yaml.duration(), base.maximum)
            if maximum < initial:
                self.reader.error(found[1], found[0], f"must be at least initial ({initial:g})")
                maximum = max(initial, base.maximum)
        settings = BackoffSettings(
            initial=initial,
            maximum=max(maximum, initial),
            factor=section.read("factor", _yaml.number(1.0), base.factor),
            jitter=section.read("jitter", _yaml.number(0.0, 1.0), base.jitter),
            reset_after=section.read(
                ("reset_after", "stable_after"), _yaml.duration(), base.reset_after
            ),
        )
        section.finish()
        return settings

    def _limits(self, fields: Fields, base: Limits) -> Limits:
        section = self._section(fields, "limits")
        if section is None:
            return base
        limits = Limits(
            cpu_percent=section.read(("cpu_percent", "cpu"), _yaml.number(0.0), base.cpu_percent),
            memory_bytes=section.read(("memory", "rss"), _yaml.size, base.memory_bytes),
            duration=section.read(("for", "duration"), _yaml.duration(), base.duration),
        )
        section.finish()
        return limits

    def _log(self, fields: Fields, base: LogSettings) -> LogSettings:
        section = self._section(fields, "log")
        if section is None:
            return base
        log = LogSettings(
            to_file=section.read(("file", "enabled"), _yaml.boolean, base.to_file),
            max_bytes=section.read(("max_size", "max_bytes"), _yaml.size, base.max_bytes),
            backups=section.read(("backups", "count"), _yaml.integer(0), base.backups),
            echo_stdout=section.read("echo_stdout", _yaml.boolean, base.echo_stdout),
            echo_stderr=section.read("echo_stderr", _yaml.boolean, base.echo_stderr),
        )
        section.finish()
        return log

    def _ready(self, fields: Fields, base: Readiness) -> Readiness:
        section = self._section(fields, "ready")
        if section is None:
            return base
        ready = Readiness(
            after=section.read("after", _yaml.duration(), base.after),
            line=section.read("line", _pattern, base.line),
            command=section.read("command", self._command, base.command),
            interval=section.read("interval", _yaml.duration(0.001), base.interval),
            timeout=section.read("timeout", _yaml.duration(0.001), base.timeout),
        )
        section.finish()
        return ready
