"""Transition tables: every state change of a machine, in one place.

Each machine (the protocol's, the launcher's phases, a supervised plugin's
life) declares its legal transitions as a :class:`TransitionTable`, consults
it on every change with :meth:`advance`, and the docs render it with
:meth:`mermaid`, so the diagram cannot drift from the code. The module is
sans-IO and imports nothing but attrs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs

from .errors import LocalProtocolError

__all__ = ["IllegalTransition", "Transition", "TransitionTable"]

S = TypeVar("S", bound=enum.Enum)


class IllegalTransition(LocalProtocolError):
    """A machine was asked for a change its table does not have: a bug in the caller."""


@attrs.frozen
class Transition(Generic[S]):
    """``source --trigger--> target``; ``trigger`` names a message type or a local call."""

    source: S
    trigger: str
    target: S


class TransitionTable(Generic[S]):
    """The legal transitions of one machine, looked up by ``(source, trigger)``."""

    def __init__(self, name: str, transitions: Iterable[Transition[S]]) -> None:
        self.name = name
        self.transitions = tuple(transitions)
        self._targets = {(t.source, t.trigger): t.target for t in self.transitions}
        if len(self._targets) != len(self.transitions):
            raise ValueError(f"{name}: two transitions share a (source, trigger)")

    def allows(self, source: S, trigger: str) -> bool:
        """Whether ``trigger`` is legal in state ``source``."""
        return (source, trigger) in self._targets

    def advance(self, source: S, trigger: str) -> S:
        """The state after ``trigger`` in ``source``; :class:`IllegalTransition` if illegal."""
        try:
            return self._targets[(source, trigger)]
        except KeyError:
            raise IllegalTransition(
                f"{self.name}: {trigger!r} is not allowed in state {source.name}"
            ) from None

    def mermaid(self) -> str:
        """The table as a Mermaid ``stateDiagram-v2``."""
        lines = ["stateDiagram-v2"]
        lines += [f"    {t.source.name} --> {t.target.name}: {t.trigger}" for t in self.transitions]
        return "\n".join(lines)
