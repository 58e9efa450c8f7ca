"""Deciding when a started plugin is ready, so that the next one may start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import trio

from ..process import SpawnError, run_child
from .plugin_settings import Readiness

__all__ = ["LineWatch", "wait_ready"]


class LineWatch:
    """Remembers whether an output line matched ``pattern`` (None: never matches)."""

    def __init__(self, pattern: str | None) -> None:
        self._pattern = None if pattern is None else re.compile(pattern)
        self.seen = trio.Event()

    def feed(self, line: str) -> None:
        """Look at one output line."""
        if self._pattern is not None and not self.seen.is_set() and self._pattern.search(line):
            self.seen.set()


async def wait_ready(
    ready: Readiness,
    lines: LineWatch,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> bool:
    """Wait until the plugin is ready; False if ``ready.timeout`` passed first.

    The caller cancels this when the plugin exits.
    """
    with trio.move_on_after(ready.timeout):
        if ready.line is None and ready.command is None:
            await trio.sleep(ready.after)
            return True
        async with trio.open_nursery() as nursery:
            if ready.line is not None:
                nursery.start_soon(_wait_line, lines, nursery.cancel_scope)
            if ready.command is not None:
                nursery.start_soon(_poll_command, ready, env, cwd, nursery.cancel_scope)
        return True
    return False


async def _wait_line(lines: LineWatch, done: trio.CancelScope) -> None:
    await lines.seen.wait()
    done.cancel()


async def _poll_command(
    ready: Readiness,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    done: trio.CancelScope,
) -> None:
    assert ready.command is not None
    while True:
        try:
            status = await run_child(ready.command, env=env, cwd=cwd, grace_period=1.0)
        except SpawnError:
            status = None
        if status is not None and status.ok:
            done.cancel()
            return
        await trio.sleep(ready.interval)
