"""Reading one ``plugins:`` entry (or ``defaults:``) of ``launcher.yaml``.

:class:`PluginReader` applies an entry's keys over a base
:class:`~.plugin_settings.PluginConfig` and reports each problem, with its
line and key, to a :class:`~._yaml.NodeReader`. The value converters that the
top level shares (:func:`path_under`, :func:`plugin_name`) are here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs

from . import _yaml
from ._yaml import Fields, NodeReader
from .plugin_settings import (
    BackoffSettings,
    Limits,
    LogSettings,
    PluginConfig,
    Readiness,
    RestartPolicy,
    valid_plugin_name,
)

__all__ = ["PluginReader", "path_under", "plugin_name"]


def path_under(base: Path) -> _yaml.Converter[Path]:
    """A converter of a path string, relative to ``base``, ``~`` expanded."""

    def convert(node: Any) -> Path:
        return base / Path(_yaml.string(node)).expanduser()

    return convert


def plugin_name(node: Any) -> str:
    """A plugin name as written (a plugin may be called ``on`` or ``1``); checked."""
    name = _yaml.key_name(node)
    if name is None:
        raise ValueError(f"expected a plugin name, got {_yaml.describe(node)}")
    if not valid_plugin_name(name):
        raise ValueError(f"{name!r} is not a valid plugin name (letters, digits, '.', '_', '-')")
    return name


def _plugin_names(node: Any) -> tuple[str, ...]:
    return tuple(plugin_name(item) for item in _yaml.items(node) or [node])


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


class PluginReader:
    """Reads one plugin entry (or ``defaults:``) on top of a base configuration."""

    def __init__(self, reader: NodeReader, base_dir: Path) -> None:
        self.reader = reader
        self.base_dir = base_dir

    def read(self, node: Any, key: str, base: PluginConfig) -> PluginConfig:
        """The entry ``node`` (at ``key``) applied over ``base``; problems go to the reader."""
        if _yaml.scalar_or_none(node) is None:
            return base
        fields = self.reader.fields(node, key)
        if fields is None:
            return base
        command = fields.read("command", self._command, base.command)
        executable = fields.read("executable", plugin_name, base.executable)
        if command is not None and executable is not None:
            self.reader.error(node, key, "give either command or executable, not both")
        plugin = attrs.evolve(
            base,
            command=command,
            executable=executable,
            args=fields.read("args", _yaml.words, base.args),
            env={**base.env, **fields.read("env", _string_map, {})},
            cwd=fields.read(("cwd", "working_dir"), path_under(self.base_dir), base.cwd),
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
