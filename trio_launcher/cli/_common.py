"""Helpers shared by the subcommands: logging set-up and signal-driven shutdown."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["setup_logging", "wait_for_stop_signal"]


def setup_logging(level: str | None = None) -> None:
    """Log to stderr at ``level`` (default: ``N8N_RUNNERS_LAUNCHER_LOG_LEVEL`` or INFO)."""
    name = (level or os.environ.get("N8N_RUNNERS_LAUNCHER_LOG_LEVEL") or "INFO").upper()
    name = {"WARN": "WARNING", "DEBUG": "DEBUG"}.get(name, name)
    logging.basicConfig(
        level=getattr(logging, name, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def wait_for_stop_signal(on_signal: Callable[[int], None] | None = None) -> int:
    """Return the first SIGTERM or SIGINT received (calling ``on_signal`` with it)."""
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if on_signal is not None:
                on_signal(signum)
            return signum
    raise AssertionError("unreachable")  # pragma: no cover
