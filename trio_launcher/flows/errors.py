"""Errors of the flow runner's runtimes (runner side)."""

from __future__ import annotations

__all__ = ["RuntimeExited", "RuntimeStartFailed"]


class RuntimeStartFailed(Exception):
    """A runtime could not be started, exited, or sent no ``hello`` in time."""


class RuntimeExited(Exception):
    """The runtime's process has exited: no more frames come from it, none go to it."""
