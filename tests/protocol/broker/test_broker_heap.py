"""The compacting heap: live items come out in order, dead ones never and do not pile up."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from trio_launcher.protocol.broker.heap import SLACK, CompactingHeap

PRIORITIES = st.integers(min_value=0, max_value=20).map(float)  # few values: many ties


class HeapMachine(RuleBasedStateMachine):
    """The heap against a model: a dict of live items -> (priority, push order)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[float, int]] = {}
        self.heap = CompactingHeap[int](self.live.__contains__)
        self.names = itertools.count()
        self.peak = 0

    def first(self, below: float = float("inf")) -> int | None:
        candidates = [(key, item) for item, key in self.live.items() if key[0] < below]
        return min(candidates)[1] if candidates else None

    def forget(self, item: int | None) -> None:
        if item is not None:
            del self.live[item]

    @rule(priority=PRIORITIES, copies=st.integers(min_value=1, max_value=40))
    def push(self, priority: float, copies: int) -> None:
        for _ in range(copies):
            item = next(self.names)
            self.live[item] = (priority, item)
            self.heap.push(priority, item)
            self.peak = max(self.peak, len(self.live))

    @precondition(lambda self: self.live)
    @rule(data=st.data(), share=st.floats(min_value=0, max_value=1))
    def kill(self, data: st.DataObject, share: float) -> None:
        items = sorted(self.live)
        for item in data.draw(st.permutations(items))[: max(1, int(len(items) * share))]:
            del self.live[item]

    @rule()
    def pop(self) -> None:
        expected = self.first()
        assert self.heap.pop() == expected
        self.forget(expected)

    @rule(bound=PRIORITIES)
    def pop_below(self, bound: float) -> None:
        expected = self.first(bound)
        assert self.heap.pop_below(bound) == expected
        self.forget(expected)

    @invariant()
    def peek_shows_the_first_live_item(self) -> None:
        expected = self.first()
        assert self.heap.peek() == (
            None if expected is None else (self.live[expected][0], expected)
        )

    @invariant()
    def dead_items_do_not_pile_up(self) -> None:
        assert len(self.heap) <= 2 * self.peak + SLACK


TestCompactingHeap = HeapMachine.TestCase


def test_a_heap_of_dead_items_is_compacted_by_the_next_pushes() -> None:
    live: set[int] = set()
    heap = CompactingHeap[int](live.__contains__)
    for item in range(10_000):
        live.add(item)
        heap.push(0.0, item)
        live.discard(item)
    assert len(heap) <= SLACK + 1
    assert heap.pop() is None and len(heap) == 0
