"""Single-use grant tokens and the request rate limits in front of them (reference 2.2)."""

from __future__ import annotations

import collections
import hmac
import secrets

__all__ = ["GrantTokens", "RateLimiter", "tokens_equal"]


def tokens_equal(given: str, expected: str) -> bool:
    """Compare two secrets in constant time (for equal lengths).

    Any string compares, even one that is not valid text (a lone surrogate
    from a JSON escape such as ``"\\ud800"``): it is simply not equal.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class GrantTokens:
    """One-time tokens of 32 random bytes (64 hex chars), each valid ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._expiry: dict[str, float] = {}

    def issue(self, now: float) -> str:
        """A fresh token, valid until ``now + ttl``."""
        self._purge(now)
        token = secrets.token_hex(32)
        self._expiry[token] = now + self._ttl
        return token

    def take(self, token: str, now: float) -> bool:
        """Use up ``token``: True once if it was issued and has not expired."""
        expiry = self._expiry.pop(token, None)
        return expiry is not None and now <= expiry

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        if len(self._expiry) > 1024:
            self._expiry = {t: e for t, e in self._expiry.items() if e >= now}


class RateLimiter:
    """At most ``limit`` events per sliding ``window`` seconds for each key (0: no limit)."""

    #: Keys remembered before those with no event in the window are forgotten.
    MAX_KEYS = 1024

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self._limit = limit
        self._window = window
        self._events: dict[str, collections.deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        """Record an event for ``key``; False if it is over the limit (then not recorded)."""
        if self._limit <= 0:
            return True
        if len(self._events) > self.MAX_KEYS:
            self._forget_idle(now)
        events = self._events.setdefault(key, collections.deque())
        while events and events[0] <= now - self._window:
            events.popleft()
        if len(events) >= self._limit:
            return False
        events.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        start = now - self._window
        self._events = {k: e for k, e in self._events.items() if e and e[-1] > start}
