"""Process-level helpers for the commands: logging set-up and stop signals."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["setup_logging", "wait_for_stop_signal"]


def setup_logging(level: str | None = None, *, bare_when_piped: bool = False) -> None:
    """Log to stderr at ``level`` (default: ``N8N_RUNNERS_LAUNCHER_LOG_LEVEL`` or INFO).

    With ``bare_when_piped`` (the runner), lines carry no timestamp when stderr
    is not a terminal: the launcher reading them adds its own.
    """
    name = (level or os.environ.get("N8N_RUNNERS_LAUNCHER_LOG_LEVEL") or "INFO").upper()
    name = {"WARN": "WARNING", "DEBUG": "DEBUG"}.get(name, name)
    fmt = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    if bare_when_piped and not sys.stderr.isatty():
        fmt = "%(levelname)s %(message)s"
    logging.basicConfig(level=getattr(logging, name, logging.INFO), format=fmt, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


async def wait_for_stop_signal(on_signal: Callable[[int], None] | None = None) -> int:
    """Return the first SIGTERM or SIGINT received (calling ``on_signal`` with it)."""
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if on_signal is not None:
                on_signal(signum)
            return signum
    raise AssertionError("unreachable")  # pragma: no cover
