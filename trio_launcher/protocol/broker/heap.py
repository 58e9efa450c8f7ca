"""A min-heap whose items die in place: dead ones are skipped on the way out and compacted away.

The broker core keeps three such heaps (its timers, each task type's pending
requests, the expiry of its offers). An item that ends early (a cancelled
timer, a request that got a task, an offer taken) stays in the heap, because
removing it would cost O(n); the heap asks ``is_live`` about an item before it
hands it out, and rebuilds itself without the dead ones when it holds more than
twice as many entries as were live at its last rebuild (plus 64), so dead items
never pile up and each push costs amortised O(log n).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Generic, TypeVar

__all__ = ["CompactingHeap"]

T = TypeVar("T")

#: Entries a heap may hold beyond twice its live ones before it compacts.
SLACK = 64


class CompactingHeap(Generic[T]):
    """Items by ascending priority, first pushed first among equals; see the module docstring.

    ``is_live(item)`` tells whether an item still counts; once it says no for
    an item, it must keep saying no (an item that comes back to life is pushed
    again).
    """

    __slots__ = ("_entries", "_is_live", "_limit", "_order")

    def __init__(self, is_live: Callable[[T], bool]) -> None:
        self._entries: list[tuple[float, int, T]] = []
        self._is_live = is_live
        self._order = itertools.count()
        self._limit = SLACK

    def __len__(self) -> int:
        """Entries held, the dead ones not yet dropped included."""
        return len(self._entries)

    def push(self, priority: float, item: T) -> None:
        """Add ``item``; compact first if the dead entries outnumber the bound."""
        entries = self._entries
        heappush(entries, (priority, next(self._order), item))
        if len(entries) > self._limit:
            self._compact()

    def peek(self) -> tuple[float, T] | None:
        """The first live ``(priority, item)``, dropping the dead entries before it."""
        entries, is_live = self._entries, self._is_live
        while entries:
            priority, _, item = entries[0]
            if is_live(item):
                return priority, item
            heappop(entries)
        return None

    def pop(self) -> T | None:
        """Remove and return the first live item; ``None`` if there is none."""
        entries, is_live = self._entries, self._is_live
        while entries:
            item = heappop(entries)[2]
            if is_live(item):
                return item
        return None

    def pop_below(self, bound: float) -> T | None:
        """Remove and return the first live item whose priority is below ``bound``."""
        entries, is_live = self._entries, self._is_live
        while entries and entries[0][0] < bound:
            item = heappop(entries)[2]
            if is_live(item):
                return item
        return None

    def _compact(self) -> None:
        is_live = self._is_live
        self._entries = [entry for entry in self._entries if is_live(entry[2])]
        heapify(self._entries)
        self._limit = 2 * len(self._entries) + SLACK
