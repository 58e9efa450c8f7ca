"""Every machine's table: each transition it lists, and nothing else, is allowed."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from trio_launcher.diagrams import MACHINES
from trio_launcher.protocol.errors import LocalProtocolError
from trio_launcher.protocol.transitions import IllegalTransition, Transition, TransitionTable

TABLES = [table for machines in MACHINES.values() for _, table in machines]


def states_of(table: TransitionTable[Any]) -> list[enum.Enum]:
    return list(type(table.transitions[0].source))


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_each_listed_transition_leads_to_its_target(table: TransitionTable[Any]) -> None:
    for transition in table.transitions:
        assert table.allows(transition.source, transition.trigger)
        assert table.advance(transition.source, transition.trigger) is transition.target


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_every_other_change_is_illegal(table: TransitionTable[Any]) -> None:
    listed = {(t.source, t.trigger) for t in table.transitions}
    triggers = {t.trigger for t in table.transitions}
    for state in states_of(table):
        for trigger in triggers:
            if (state, trigger) in listed:
                continue
            assert not table.allows(state, trigger)
            with pytest.raises(IllegalTransition, match=f"{trigger!r} is not allowed in state"):
                table.advance(state, trigger)


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_every_state_is_in_its_table(table: TransitionTable[Any]) -> None:
    used = {t.source for t in table.transitions} | {t.target for t in table.transitions}
    assert used == set(states_of(table))


def test_an_illegal_transition_is_a_local_protocol_error() -> None:
    assert issubclass(IllegalTransition, LocalProtocolError)


def test_a_table_refuses_two_transitions_from_one_state_on_one_trigger() -> None:
    class Light(enum.Enum):
        ON = 1
        OFF = 2

    with pytest.raises(ValueError, match="two transitions share"):
        TransitionTable("light", [Transition(Light.ON, "flip", Light.OFF)] * 2)
