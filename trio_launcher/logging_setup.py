"""Logging for every command: level and format from the command line, text or JSON lines."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "setup_logging",
    "use_command_line_logging",
]

#: The log levels a user may name (any case); ``warn`` is n8n's spelling of warning.
LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("text", "json")

_command_line: dict[str, str] = {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (a traceback, if any, in ``exception``)."""
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def use_command_line_logging(level: str | None, log_format: str | None) -> None:
    """Make the command line's ``--log-level``/``--log-format``, when given, win everywhere."""
    _command_line.clear()
    if level:
        _command_line["level"] = level
    if log_format:
        _command_line["format"] = log_format


def setup_logging(level: str | None = None, *, bare_when_piped: bool = False) -> None:
    """Log to stderr at ``level`` (default: ``N8N_RUNNERS_LAUNCHER_LOG_LEVEL`` or INFO).

    The command line's ``--log-level`` and ``--log-format`` (see
    :func:`use_command_line_logging`) win over ``level``. With ``bare_when_piped``
    (the runner), text lines carry no timestamp when stderr is not a terminal:
    the launcher reading them adds its own.
    """
    chosen = _command_line.get("level") or level
    name = (chosen or os.environ.get("N8N_RUNNERS_LAUNCHER_LOG_LEVEL") or "INFO").upper()
    name = {"WARN": "WARNING"}.get(name, name)
    handler = logging.StreamHandler(sys.stderr)
    if _command_line.get("format") == "json":
        handler.setFormatter(JsonFormatter())
    elif bare_when_piped and not sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    number = logging.getLevelName(name)
    level_number = number if isinstance(number, int) else logging.INFO
    logging.basicConfig(level=level_number, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
