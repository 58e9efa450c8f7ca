"""The readers of one exported output port, and when a message counts as taken.

A message on an exported output counts on the port's bound (in the core)
until every reader that was there when it came has taken it; then
:class:`PortReaders` reports it ``taken``. A port nobody reads takes at once.
So a reader that falls behind slows the flow's producers, as a full edge
does, and loses nothing.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import trio

__all__ = ["PortReader", "PortReaders"]


class _Item:
    __slots__ = ("body", "readers")

    def __init__(self, body: bytes, readers: int) -> None:
        self.body = body
        self.readers = readers  #: readers that have not taken it yet


class PortReader:
    """One reader: an async iterator of the port's messages, decoded, from when it came."""

    def __init__(self, release: Callable[[_Item], None]) -> None:
        self._items: deque[_Item] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._release = release

    def put(self, item: _Item) -> None:
        self._items.append(item)
        self._lot.unpark_all()

    def __aiter__(self) -> PortReader:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            await self._lot.park()
        item = self._items.popleft()
        self._release(item)
        return orjson.loads(item.body)

    def close(self) -> None:
        """The reader left: what it did not take counts as taken by it."""
        items, self._items = self._items, deque()
        for item in items:
            self._release(item)


class PortReaders:
    """Every reader of one port; ``taken(size)`` is told of each message all have taken."""

    def __init__(self, taken: Callable[[int], None]) -> None:
        self._readers: list[PortReader] = []
        self._taken = taken

    def publish(self, body: bytes) -> None:
        """A message came on the port."""
        if not self._readers:
            self._taken(len(body))
            return
        item = _Item(body, len(self._readers))
        for reader in self._readers:
            reader.put(item)

    @contextlib.contextmanager
    def reader(self) -> Iterator[PortReader]:
        """A new reader, for the block."""
        reader = PortReader(self._release)
        self._readers.append(reader)
        try:
            yield reader
        finally:
            self._readers.remove(reader)
            reader.close()

    def _release(self, item: _Item) -> None:
        item.readers -= 1
        if item.readers == 0:
            self._taken(len(item.body))
