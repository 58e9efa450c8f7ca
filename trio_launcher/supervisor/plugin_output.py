"""Where one plugin's output lines go: its log file, the supervisor's log, the readiness watch.

Each line of the child is written to the plugin's
:class:`~.logfile.RotatingLog` (when it logs to a file), echoed to the
``trio_launcher.plugin_output`` logger when ``echo_stdout``/``echo_stderr``
say so, and shown to the current attempt's :class:`~.readiness.LineWatch`.
A log file that cannot be written is closed and logging to it stops; the
plugin goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .logfile import RotatingLog
from .plugin_settings import LogSettings
from .readiness import LineWatch

__all__ = ["PluginOutput"]

logger = logging.getLogger("trio_launcher.supervisor")
#: Plugin output echoed by ``attachstdout``/``attachstderr``, one record per line.
output_logger = logging.getLogger("trio_launcher.plugin_output")


class PluginOutput:
    """The output of plugin ``name``, from one attempt to the next."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._log: RotatingLog | None = None
        self._lines = LineWatch(None)

    def open(self, path: Path | None, settings: LogSettings) -> None:
        """Open the log file ``path`` (None: no file) unless it is open; raises OSError."""
        if path is not None and self._log is None:
            self._log = RotatingLog(path, settings.max_bytes, settings.backups)

    def watch(self, pattern: str | None) -> LineWatch:
        """Watch the lines from now on for the readiness ``pattern`` (None: never ready)."""
        self._lines = LineWatch(pattern)
        return self._lines

    def feed(self, stream: str, line: str, settings: LogSettings) -> None:
        """One line of the child's ``stream``: to the file, the echo, the watch."""
        self.record(stream, line)
        if (settings.echo_stdout and stream == "stdout") or (
            settings.echo_stderr and stream == "stderr"
        ):
            output_logger.info("[plugin:%s] %s", self.name, line)
        self._lines.feed(line)

    def record(self, stream: str, line: str) -> None:
        """Write ``line`` to the log file alone (``stream`` ``supervisor`` for notes)."""
        if self._log is None:
            return
        try:
            self._log.write(stream, line)
        except (OSError, ValueError) as exc:
            logger.error("%s: cannot write the log file, logging stops: %s", self.name, exc)
            self.close()

    def close(self) -> None:
        """Close the log file, if it is open."""
        if self._log is not None:
            self._log.close()
            self._log = None
