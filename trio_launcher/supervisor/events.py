"""What happens to plugins, as attrs events broadcast to any number of subscribers.

Publishing never blocks: each subscriber has a bounded buffer, and one that
falls that far behind is disconnected (its iteration ends and
:attr:`Subscription.dropped` is set) instead of slowing the supervisor down.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ClassVar

import attrs
import trio

__all__ = [
    "BackingOff",
    "Crashed",
    "Event",
    "EventBus",
    "Failed",
    "GaveUp",
    "PluginAdded",
    "PluginRemoved",
    "Ready",
    "Restarted",
    "Started",
    "Stopped",
    "Subscription",
    "ThresholdExceeded",
]

logger = logging.getLogger("trio_launcher.supervisor")

#: Events a subscriber may have queued before it is dropped.
DEFAULT_BUFFER = 1000


def _clock() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # created outside trio.run (tests, tools)
        return time.monotonic()


@attrs.frozen(kw_only=True)
class Event:
    """Base class: something happened to plugin :attr:`name`.

    ``time`` is wall-clock (seconds since the epoch); ``clock`` is
    :func:`trio.current_time` when the event was made, for measuring intervals.
    """

    kind: ClassVar[str] = "event"
    #: The level the supervisor logs it at.
    level: ClassVar[int] = logging.INFO

    name: str
    time: float = attrs.field(factory=time.time)
    clock: float = attrs.field(factory=_clock, eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"event": kind, "name": ..., "time": ISO 8601, ...}``."""
        fields = attrs.asdict(self, recurse=False)
        del fields["clock"]
        fields["time"] = datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds")
        return {"event": self.kind, **fields}

    def describe(self) -> str:
        """One line for the supervisor's log."""
        extra = {k: v for k, v in self.to_json().items() if k not in ("event", "name", "time")}
        details = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
        return f"{self.name}: {self.kind} {details}".rstrip()


@attrs.frozen(kw_only=True)
class Started(Event):
    """The plugin's process was spawned (every start, restarts included)."""

    kind: ClassVar[str] = "started"
    pid: int
    starts: int


@attrs.frozen(kw_only=True)
class Ready(Event):
    """The plugin passed its readiness check."""

    kind: ClassVar[str] = "ready"
    pid: int


@attrs.frozen(kw_only=True)
class Stopped(Event):
    """The plugin stopped: on request, by itself with exit code 0, or to be restarted.

    ``reason`` is ``"requested"``, ``"exited"`` or ``"restart"``. ``pid``,
    ``exit_code`` and ``signal`` are None if no process was running (a stop
    during backoff).
    """

    kind: ClassVar[str] = "stopped"
    pid: int | None
    exit_code: int | None
    signal: int | None
    reason: str


@attrs.frozen(kw_only=True)
class Crashed(Event):
    """The plugin exited by itself with a non-zero code or was killed by a signal."""

    kind: ClassVar[str] = "crashed"
    pid: int
    exit_code: int | None
    signal: int | None
    error: str


@attrs.frozen(kw_only=True)
class Failed(Event):
    """The plugin could not be started (missing executable, bad configuration, ...)."""

    kind: ClassVar[str] = "failed"
    error: str


@attrs.frozen(kw_only=True)
class GaveUp(Event):
    """The plugin failed to start ``tries`` times in a row; it stays ``failed``.

    A try fails when the process cannot be spawned or ends before it is ready.
    """

    kind: ClassVar[str] = "gave_up"
    level: ClassVar[int] = logging.WARNING
    tries: int
    error: str


@attrs.frozen(kw_only=True)
class BackingOff(Event):
    """The plugin will be started again after ``delay`` seconds."""

    kind: ClassVar[str] = "backing_off"
    delay: float
    attempt: int


@attrs.frozen(kw_only=True)
class Restarted(Event):
    """The plugin was started again; ``reason`` says why it had stopped."""

    kind: ClassVar[str] = "restarted"
    pid: int
    reason: str
    starts: int


@attrs.frozen(kw_only=True)
class ThresholdExceeded(Event):
    """The plugin's process tree stayed over a limit; it is restarted."""

    kind: ClassVar[str] = "threshold_exceeded"
    pid: int
    resource: str
    value: float
    limit: float
    duration: float


@attrs.frozen(kw_only=True)
class PluginAdded(Event):
    """A new plugin appeared in the inventory."""

    kind: ClassVar[str] = "added"


@attrs.frozen(kw_only=True)
class PluginRemoved(Event):
    """A plugin disappeared from the inventory (it is stopped and forgotten)."""

    kind: ClassVar[str] = "removed"


class Subscription:
    """A subscriber's stream of events: iterate it with ``async for``.

    Use it as a context manager (or call :meth:`close`) to unsubscribe. If it
    falls ``buffer`` events behind, the bus drops it: iteration ends and
    :attr:`dropped` is True.
    """

    def __init__(self, bus: EventBus, buffer: int) -> None:
        self._bus = bus
        self._send, self._receive = trio.open_memory_channel[Event](buffer)
        #: True if the bus disconnected this subscriber for being too slow.
        self.dropped = False

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def receive(self) -> Event:
        """Next event. Raises :class:`trio.EndOfChannel` once the stream has ended."""
        return await self._receive.receive()

    def close(self) -> None:
        """Unsubscribe."""
        self._bus._remove(self)
        self._receive.close()

    def _deliver(self, event: Event) -> bool:
        """Queue ``event``; False if the subscriber is gone or too slow."""
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped = True
            self._send.close()
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def _end(self) -> None:
        self._send.close()


class EventBus:
    """Broadcasts events to subscribers; publishing is synchronous and never blocks."""

    def __init__(self) -> None:
        self._subscribers: dict[Subscription, None] = {}
        self._closed = False

    def subscribe(self, buffer: int = DEFAULT_BUFFER) -> Subscription:
        """A new subscription receiving every event published from now on."""
        subscription = Subscription(self, max(1, buffer))
        if self._closed:
            subscription._end()
        else:
            self._subscribers[subscription] = None
        return subscription

    def publish(self, event: Event) -> None:
        """Log ``event`` and hand it to every subscriber."""
        logger.log(event.level, "%s", event.describe())
        for subscription in list(self._subscribers):
            if not subscription._deliver(event):
                self._remove(subscription)
                if subscription.dropped:
                    logger.warning("event subscriber dropped: it fell too far behind")

    def close(self) -> None:
        """End every subscription (their iteration stops)."""
        self._closed = True
        for subscription in self._subscribers:
            subscription._end()
        self._subscribers.clear()

    def _remove(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)
