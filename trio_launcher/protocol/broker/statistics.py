"""A snapshot of the broker core's counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import attrs

from .states import RequestState

__all__ = ["BrokerStatistics"]

_R = RequestState


@attrs.frozen
class BrokerStatistics:
    """A snapshot of the broker's state, from :meth:`~.BrokerCore.statistics`."""

    #: Registered runner connections (including draining ones).
    runners: int
    #: Live offers (expired ones are purged on every call).
    offers: int
    #: Requests without a task yet, including those whose acceptance is in progress.
    pending_requests: int
    #: Tasks accepted by a runner and not ended (waiting for settings or running).
    tasks_in_flight: int
    draining: bool
    #: Open connections, registered or not.
    connections: int = 0
    #: Pending requests whose offer acceptance is in progress.
    accepting: int = 0
    offers_by_type: dict[str, int] = attrs.Factory(dict)
    pending_by_type: dict[str, int] = attrs.Factory(dict)
    tasks_by_type: dict[str, int] = attrs.Factory(dict)
    #: Totals since the core was created.
    tasks_assigned: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    requests_expired: int = 0
    requests_cancelled: int = 0

    @classmethod
    def tally(
        cls,
        live: Mapping[tuple[RequestState, str], int],
        ended: Mapping[RequestState, int],
        *,
        runners: int,
        connections: int,
        offers_by_type: dict[str, int],
        tasks_assigned: int,
        draining: bool,
    ) -> BrokerStatistics:
        """Sum up ``live`` requests by (state, task type) and ``ended`` ones by final state."""
        by_state: Counter[RequestState] = Counter()
        by_type: dict[RequestState, Counter[str]] = {}
        for (state, task_type), count in live.items():
            if count:
                by_state[state] += count
                by_type.setdefault(state, Counter())[task_type] += count
        empty: Counter[str] = Counter()
        pending = by_type.get(_R.PENDING, empty) + by_type.get(_R.ACCEPTING, empty)
        in_flight = by_type.get(_R.WAITING_FOR_SETTINGS, empty) + by_type.get(_R.RUNNING, empty)
        return cls(
            runners=runners,
            offers=sum(offers_by_type.values()),
            pending_requests=by_state[_R.PENDING] + by_state[_R.ACCEPTING],
            tasks_in_flight=by_state[_R.WAITING_FOR_SETTINGS] + by_state[_R.RUNNING],
            draining=draining,
            connections=connections,
            accepting=by_state[_R.ACCEPTING],
            offers_by_type=offers_by_type,
            pending_by_type=dict(pending),
            tasks_by_type=dict(in_flight),
            tasks_assigned=tasks_assigned,
            tasks_done=ended.get(_R.DONE, 0),
            tasks_failed=ended.get(_R.FAILED, 0),
            requests_expired=ended.get(_R.EXPIRED, 0),
            requests_cancelled=ended.get(_R.CANCELLED, 0),
        )
