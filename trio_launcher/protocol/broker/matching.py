"""The offer book: live offers and pending requests by task type, and matching them.

Matching is per task type: the oldest pending request (by arrival, so a
rejected request keeps its place) gets the oldest live offer. The core matches
whenever a request or an offer arrives and right after a reject, a deferral, an
accept timeout or a runner loss, so after each of its calls no task type has
both a pending request and a live offer, and only the touched type ever needs
matching. Expired offers are purged at the start of every call, from a heap
ordered by expiry; ``validFor == -1`` never expires.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from operator import attrgetter

from .heap import CompactingHeap
from .records import Job, Offer, Runner
from .states import RequestState

__all__ = ["OfferBook"]

_PENDING = RequestState.PENDING


def _is_pending(job: Job) -> bool:
    return job.state is _PENDING


class OfferBook:
    """Live offers (by task type, oldest first; by runner) and pending requests (by task type)."""

    def __init__(self) -> None:
        self._offers: dict[str, OrderedDict[int, Offer]] = {}
        self._requests: dict[str, CompactingHeap[Job]] = {}
        self._expiry = CompactingHeap[Offer](attrgetter("live"))
        self._keys = itertools.count()
        #: Live offers.
        self.offer_count = 0
        #: No offer expires before this (a lower bound: :meth:`purge` has nothing to do until then).
        self.next_expiry = math.inf

    # --- offers -----------------------------------------------------------------------

    def add_offer(self, runner: Runner, offer_id: str, task_type: str, valid_until: float) -> None:
        """Book a live offer of ``runner``."""
        offer = Offer(next(self._keys), offer_id, task_type, valid_until, runner)
        offers = self._offers.get(task_type)
        if offers is None:
            offers = self._offers[task_type] = OrderedDict()
        offers[offer.key] = offer
        runner.offers[offer.key] = offer
        self.offer_count += 1
        if valid_until != math.inf:
            self._expiry.push(valid_until, offer)
            if valid_until < self.next_expiry:
                self.next_expiry = valid_until

    def drop_offer(self, offer: Offer) -> None:
        """Forget a live offer (taken, expired, or its runner's offers are void)."""
        offer.live = False
        del self._offers[offer.task_type][offer.key]
        del offer.runner.offers[offer.key]
        self.offer_count -= 1

    def drop_runner_offers(self, runner: Runner) -> None:
        """Forget every live offer of ``runner``."""
        for offer in list(runner.offers.values()):
            self.drop_offer(offer)

    def drop_all_offers(self) -> None:
        """Forget every live offer."""
        for offer in [o for offers in self._offers.values() for o in offers.values()]:
            self.drop_offer(offer)

    def purge(self, now: float) -> None:
        """Forget every offer whose validity ended before ``now``."""
        expiry = self._expiry
        while (offer := expiry.pop_below(now)) is not None:
            self.drop_offer(offer)
        first = expiry.peek()
        self.next_expiry = math.inf if first is None else first[0]

    def offers_by_type(self) -> dict[str, int]:
        """How many live offers each task type has (types with none left out)."""
        return {task_type: len(o) for task_type, o in self._offers.items() if o}

    # --- requests and matching ------------------------------------------------------------

    def enqueue(self, job: Job) -> None:
        """Queue a pending request in its place (its arrival order)."""
        queue = self._requests.get(job.task_type)
        if queue is None:
            queue = self._requests[job.task_type] = CompactingHeap[Job](_is_pending)
        queue.push(job.seq, job)

    def queued(self) -> int:
        """Entries queued over all types, those of requests no longer pending included."""
        return sum(len(queue) for queue in self._requests.values())

    def take_matches(self, task_type: str) -> list[tuple[Job, Offer]]:
        """Take ``task_type``'s pending requests, oldest first, each with the oldest offer left."""
        offers = self._offers.get(task_type)
        queue = self._requests.get(task_type)
        matches: list[tuple[Job, Offer]] = []
        while offers and queue is not None and (job := queue.pop()) is not None:
            offer = next(iter(offers.values()))
            self.drop_offer(offer)
            matches.append((job, offer))
        return matches
