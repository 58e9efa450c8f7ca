"""A wake-up for the tasks waiting now: what a ``trio.Event`` set and made anew would do.

Trio's ``Event`` cannot be cleared, by design; code that needs "tell whoever
waits that something changed" used to set one and replace it with a fresh
one. :class:`Pulse` says that once, on :class:`trio.lowlevel.ParkingLot`. A
waiter rechecks its condition after each wake-up (``while not ready: await
pulse.wait()``), so a change nobody waited for is not lost: the condition
holds it.
"""

from __future__ import annotations

import trio

__all__ = ["Pulse"]


class Pulse:
    """Wakes every task that waits when :meth:`fire` is called, and only those."""

    __slots__ = ("_lot",)

    def __init__(self) -> None:
        self._lot = trio.lowlevel.ParkingLot()

    async def wait(self) -> None:
        """Block until the next :meth:`fire` (cancellable)."""
        await self._lot.park()

    def fire(self) -> None:
        """Wake the tasks waiting now; a task that waits later waits for the next fire."""
        self._lot.unpark_all()

    def waiting(self) -> int:
        """How many tasks wait now."""
        return len(self._lot)
