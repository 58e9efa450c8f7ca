"""An unbounded queue with one reader: ``put`` never blocks, ``get`` waits for an item."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items in the order they were put, taken by one task at a time.

    The broker and the runner apply their state machines' outputs
    synchronously, so they post them here without blocking. A memory channel
    would do the same at several times the cost per item, and per mailbox (the
    broker makes one per task).
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._reader: trio.lowlevel.Task | None = None

    def put(self, item: T) -> None:
        """Append ``item``, waking the reader if it waits."""
        self._items.append(item)
        if self._reader is not None:
            trio.lowlevel.reschedule(self._reader)
            self._reader = None

    async def get(self) -> T:
        """The oldest item, once there is one."""
        await self._wait()
        return self._items.popleft()

    def waiting(self) -> int:
        """How many items wait."""
        return len(self._items)

    def take_waiting(self) -> list[T]:
        """Every item waiting now, oldest first (none: an empty list); does not wait."""
        items = list(self._items)
        self._items.clear()
        return items

    async def get_all(self) -> list[T]:
        """Every item waiting, oldest first, once there is at least one."""
        await self._wait()
        items = list(self._items)
        self._items.clear()
        return items

    async def _wait(self) -> None:
        if self._items:
            await trio.lowlevel.checkpoint()
        else:
            self._reader = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._reader = None
        return trio.lowlevel.Abort.SUCCEEDED
