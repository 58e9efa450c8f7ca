"""Errors of the flow runner: its runtimes (runner side) and flow documents."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "FlowNotFound",
    "FlowRunnerError",
    "FlowStartFailed",
    "InvalidFlow",
    "Problem",
    "RuntimeExited",
    "RuntimeStartFailed",
]


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


class FlowRunnerError(Exception):
    """A Runner API call that cannot be done; the message says why."""


class FlowNotFound(FlowRunnerError, KeyError):
    """No flow has that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FlowStartFailed(FlowRunnerError):
    """A flow could not start: ``failures`` maps each module that failed to why."""

    def __init__(self, flow: str, failures: dict[str, str]) -> None:
        self.flow = flow
        self.failures = failures
        listed = "; ".join(f"{module}: {why}" for module, why in failures.items())
        super().__init__(f"flow {flow!r} did not start: {listed}")
