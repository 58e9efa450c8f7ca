"""Backoff: growth, cap, jitter bounds, determinism and resets."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.process import Backoff


def delays(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next_delay() for _ in range(count)]


def test_delays_grow_exponentially_up_to_the_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.0)
    assert delays(backoff, 6) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.attempts == 6


def test_reset_starts_over() -> None:
    backoff = Backoff(initial=0.5, jitter=0.0)
    delays(backoff, 4)
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.5


def test_same_seed_gives_same_delays() -> None:
    first = Backoff(random=Random(42))
    second = Backoff(random=Random(42))
    assert delays(first, 10) == delays(second, 10)
    assert delays(Backoff(random=Random(1)), 10) != delays(Backoff(random=Random(2)), 10)


@given(
    initial=st.floats(0.001, 100.0),
    extra=st.floats(0.0, 1000.0),
    factor=st.floats(1.0, 10.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(),
)
def test_jittered_delays_stay_within_bounds(
    initial: float, extra: float, factor: float, jitter: float, seed: int
) -> None:
    maximum = initial + extra
    backoff = Backoff(initial, maximum, factor, jitter, Random(seed))
    for attempt in range(30):
        base = min(maximum, initial * factor**attempt)
        delay = backoff.next_delay()
        assert 0.0 <= delay <= maximum
        assert base * (1 - jitter) * (1 - 1e-9) <= delay <= base * (1 + jitter) * (1 + 1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 5.0, "maximum": 1.0}, {"jitter": 1.5}, {"factor": 0.5}, {"initial": -1.0}],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


async def test_sleep_sleeps_for_the_delay_it_returns(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = Backoff(initial=3.0, jitter=0.5, random=Random(1))
    start = trio.current_time()
    delay = await backoff.sleep()
    assert trio.current_time() - start == pytest.approx(delay)
    assert backoff.attempts == 1


def test_a_stable_run_resets_the_backoff() -> None:
    backoff = Backoff(jitter=0.0)
    delays(backoff, 3)
    backoff.note_started(100.0)
    backoff.note_stopped(129.0, stable_after=30.0)
    assert backoff.attempts == 3  # crashed too soon: keep backing off
    backoff.note_started(200.0)
    backoff.note_stopped(230.0, stable_after=30.0)
    assert backoff.attempts == 0
    assert backoff.next_delay() == 1.0


def test_stopping_without_a_start_does_not_reset() -> None:
    backoff = Backoff()
    delays(backoff, 2)
    backoff.note_stopped(1000.0, stable_after=0.0)
    assert backoff.attempts == 2
