"""Errors of the flow runner: its runtimes (runner side) and flow documents."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["InvalidFlow", "Problem", "RuntimeExited", "RuntimeStartFailed"]


class RuntimeStartFailed(Exception):
    """A runtime could not be started, exited, or sent no ``hello`` in time."""


class RuntimeExited(Exception):
    """The runtime's process has exited: no more frames come from it, none go to it."""


@attrs.frozen
class Problem:
    """One thing wrong with a flow document.

    ``path`` names the field at fault (``processes.double.metadata.runtime``,
    ``connections[0].tgt.port``; empty for the document as a whole), ``module``
    the module concerned, if any.
    """

    path: str
    message: str
    module: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidFlow(Exception):
    """A flow document was refused; ``problems`` holds every reason at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        listed = "".join(f"\n  {problem}" for problem in self.problems)
        super().__init__(f"invalid flow ({count} problem{'s' if count != 1 else ''}):{listed}")
