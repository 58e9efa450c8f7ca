"""Connections within the process's file descriptors.

Every connection holds a file descriptor, and the soft ``RLIMIT_NOFILE`` is
often 1024: a few hundred idle connections from anyone who can reach the port
would leave no descriptor to accept a runner or a requester with. So a server
raises the soft limit to the hard one (:func:`raise_open_files_limit`) and
holds its connections in :class:`ConnectionSlots`, a fixed number below the
limit; the descriptors left over are a reserve, so that accepting always
works. When every slot is taken, a new connection takes the slot of the
oldest one that has not been trusted (authenticated) yet, which is closed: a
client that sends its request at once is served, however many idle ones there
are, and a trusted connection (a registered runner, a requester with its
token) is never closed to make room.
"""

from __future__ import annotations

import resource
from collections import OrderedDict

import trio

__all__ = ["FD_RESERVE", "ConnectionSlots", "Slot", "raise_open_files_limit", "slots_for"]

#: Descriptors kept out of the slots: listeners, logs, pipes, and those closing.
FD_RESERVE = 64


def raise_open_files_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def slots_for(open_files_limit: int) -> int:
    """How many connections fit in ``open_files_limit`` descriptors with the reserve kept."""
    return max(open_files_limit - FD_RESERVE, open_files_limit // 2, 1)


class Slot:
    """One connection's place; its cancel scope closes it when it is evicted."""

    def __init__(self) -> None:
        self.cancel_scope = trio.CancelScope()


class ConnectionSlots:
    """At most ``capacity`` connections; past it, the oldest untrusted one is closed."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._untrusted: OrderedDict[Slot, None] = OrderedDict()
        self._trusted: set[Slot] = set()

    def __len__(self) -> int:
        return len(self._untrusted) + len(self._trusted)

    def take(self) -> Slot | None:
        """A slot for a new connection, or None if every slot holds a trusted one."""
        if len(self) >= self.capacity:
            if not self._untrusted:
                return None
            oldest, _ = self._untrusted.popitem(last=False)
            oldest.cancel_scope.cancel()
        slot = Slot()
        self._untrusted[slot] = None
        return slot

    def trust(self, slot: Slot) -> None:
        """The connection authenticated: it is never closed to make room."""
        if slot in self._untrusted:  # not evicted meanwhile
            del self._untrusted[slot]
            self._trusted.add(slot)

    def release(self, slot: Slot) -> None:
        """The connection has closed."""
        self._untrusted.pop(slot, None)
        self._trusted.discard(slot)
