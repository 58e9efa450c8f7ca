"""Capped exponential backoff with jitter, for restarting things that crash."""

from __future__ import annotations

from random import Random

import attrs
import trio


@attrs.define(eq=False)
class Backoff:
    """Delays ``initial * factor**n``, capped at ``maximum``, with ± ``jitter``.

    ``jitter`` is a fraction: 0.2 spreads each delay uniformly over ±20 %.
    Jittered delays are never negative and never above ``maximum``. Pass a
    seeded ``random`` for reproducible delays.

    For "restart unless it crashes right away" call :meth:`note_started` when
    the process starts and :meth:`note_stopped` when it stops: a run that
    lasted at least ``stable_after`` seconds resets the backoff, so the next
    restart waits only ``initial`` again.
    """

    initial: float = attrs.field(default=1.0, validator=attrs.validators.ge(0.0))
    maximum: float = attrs.field(default=60.0)
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1.0))
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    random: Random = attrs.field(factory=Random)
    _attempts: int = attrs.field(default=0, init=False)
    _base: float = attrs.field(init=False)
    _started_at: float | None = attrs.field(default=None, init=False)

    @maximum.validator
    def _check_maximum(self, _attribute: attrs.Attribute[float], value: float) -> None:
        if value < self.initial:
            raise ValueError(f"maximum ({value}) must be >= initial ({self.initial})")

    def __attrs_post_init__(self) -> None:
        self._base = self.initial

    @property
    def attempts(self) -> int:
        """Number of delays handed out since the last reset."""
        return self._attempts

    def next_delay(self) -> float:
        """Return the next delay in seconds and advance the backoff."""
        spread = self._base * self.jitter
        delay = self._base + self.random.uniform(-spread, spread)
        self._attempts += 1
        self._base = min(self.maximum, self._base * self.factor)
        return min(self.maximum, max(0.0, delay))

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._attempts = 0
        self._base = self.initial

    async def sleep(self) -> float:
        """Sleep for :meth:`next_delay` seconds and return the delay."""
        delay = self.next_delay()
        await trio.sleep(delay)
        return delay

    def note_started(self, now: float) -> None:
        """Record that the supervised thing started at ``now`` (e.g. trio.current_time())."""
        self._started_at = now

    def note_stopped(self, now: float, stable_after: float) -> None:
        """Record a stop at ``now``; reset if the run lasted ``stable_after`` seconds or more."""
        if self._started_at is not None and now - self._started_at >= stable_after:
            self.reset()
        self._started_at = None
