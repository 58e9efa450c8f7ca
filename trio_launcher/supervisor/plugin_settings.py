"""One plugin's settings in ``launcher.yaml``: the attrs objects an entry is read into.

:class:`PluginConfig` holds them, with a :class:`RestartPolicy`,
:class:`BackoffSettings`, :class:`Limits`, :class:`LogSettings` and a
:class:`Readiness`. They are read by :mod:`.plugin_reader`; see
``docs/supervisor.md`` for every key.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path
from random import Random

import attrs

from ..process import Backoff

__all__ = [
    "BackoffSettings",
    "Limits",
    "LogSettings",
    "PluginConfig",
    "Readiness",
    "RestartPolicy",
    "valid_plugin_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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
