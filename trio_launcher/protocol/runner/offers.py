"""The offers a runner has open: one per free slot, each for a task type, until it expires."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random
from typing import Final

import attrs

from ..messages import RunnerTaskOffer

__all__ = ["OFFER_EXPIRY_MARGIN", "OpenOffers"]

#: Seconds a local offer outlives its ``validFor``, so that an accept the broker
#: sent just in time is not refused because of network latency (n8n: 100 ms).
OFFER_EXPIRY_MARGIN: Final = 0.1


@attrs.frozen
class _Offer:
    task_type: str
    expires_at: float


class OpenOffers:
    """The offers sent and not yet accepted or pruned, by offer id.

    Each is valid for ``validity_ms`` plus a random 0 to ``jitter_ms``
    milliseconds; new offers take turns over ``task_types``.
    """

    def __init__(
        self,
        task_types: Sequence[str],
        *,
        validity_ms: int,
        jitter_ms: int,
        new_offer_id: Callable[[], str],
        random: Random,
    ) -> None:
        self._task_types = tuple(task_types)
        self._validity_ms = validity_ms
        self._jitter_ms = jitter_ms
        self._new_offer_id = new_offer_id
        self._random = random
        self._offers: dict[str, _Offer] = {}
        self._next_type = 0

    def __len__(self) -> int:
        return len(self._offers)

    def take(self, offer_id: str, now: float) -> bool:
        """Use up ``offer_id`` (the broker accepted it); whether it was open and unexpired."""
        offer = self._offers.pop(offer_id, None)
        return offer is not None and now < offer.expires_at

    def clear(self) -> None:
        """Forget every open offer."""
        self._offers.clear()

    def prune(self, now: float) -> None:
        """Forget the offers expired at ``now``."""
        for offer_id in [o for o, offer in self._offers.items() if now >= offer.expires_at]:
            del self._offers[offer_id]

    def expiries(self) -> list[float]:
        """When each open offer expires."""
        return [offer.expires_at for offer in self._offers.values()]

    def new(self, now: float) -> RunnerTaskOffer:
        """Open one more offer at ``now``, for the type with the fewest open offers."""
        valid_for = self._validity_ms + self._random.randint(0, self._jitter_ms)
        offer = RunnerTaskOffer(
            offer_id=self._new_offer_id(), task_type=self._next_task_type(), valid_for=valid_for
        )
        expires_at = now + valid_for / 1000 + OFFER_EXPIRY_MARGIN
        self._offers[offer.offer_id] = _Offer(offer.task_type, expires_at)
        return offer

    def _next_task_type(self) -> str:
        open_per_type = {t: 0 for t in self._task_types}
        for offer in self._offers.values():
            open_per_type[offer.task_type] += 1
        n = len(self._task_types)
        order = [self._task_types[(self._next_type + i) % n] for i in range(n)]
        task_type = min(order, key=open_per_type.__getitem__)
        self._next_type = (self._task_types.index(task_type) + 1) % n
        return task_type
