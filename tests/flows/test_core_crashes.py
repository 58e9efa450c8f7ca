"""Runtimes that die under the flow core: at a random point, or on one message every time.

A crash drops the runtime with what it had not run or sent. Each message is then
delivered once or reported once in an ``InvocationFailed``; a message that takes
its runtime down every time is the one reported, once, and the others go through.
An invocation whose emit the core had heard is reported too, and what it emitted
goes on (``docs/flows.md``): those reports are not counted here.
"""

from __future__ import annotations

import random

from core_harness import RUNTIMES, Harness, chain, delivered_and_reported, message
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_launcher.flows.core import ModuleState

CHAINS = st.lists(st.sampled_from(RUNTIMES), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    runtimes=CHAINS,
    count=st.integers(1, 12),
    rng=st.randoms(use_true_random=False),
    crash_at=st.lists(st.integers(0, 40), min_size=1, max_size=3),
)
def test_a_crash_loses_nothing_and_doubles_nothing(
    runtimes: list[str], count: int, rng: random.Random, crash_at: list[int]
) -> None:
    harness = Harness()
    harness.start(chain(runtimes))
    for number in range(count):
        harness.apply(harness.core.offer("f", "in", message(number), harness.now))
    for action in range(max(crash_at) + 1):
        if action in crash_at and harness.runtimes:
            harness.crash(rng.choice(sorted(harness.runtimes)))
        elif not harness.step_randomly(rng):
            break
    harness.settle(rng)
    delivered, reported = delivered_and_reported(harness)
    for number in range(count):
        fate = (delivered[number], reported[number])
        assert fate in ((1, 0), (0, 1)), (number, fate, harness.failures())
    assert all(s is ModuleState.READY for s in harness.module_states().values())


@settings(max_examples=100, deadline=None)
@given(
    runtimes=CHAINS, count=st.integers(1, 12), data=st.data(), rng=st.randoms(use_true_random=False)
)
def test_a_message_that_always_crashes_its_runtime_is_reported_once(
    runtimes: list[str], count: int, data: st.DataObject, rng: random.Random
) -> None:
    poisoned = data.draw(st.integers(0, len(runtimes) - 1), label="poisoned module")
    poison = data.draw(st.integers(0, count - 1), label="poison message")
    harness = Harness()
    harness.start(chain(runtimes, poison={f"m{poisoned}": (poison,)}))
    for number in range(count):
        harness.apply(harness.core.offer("f", "in", message(number), harness.now))
        for _ in range(rng.randrange(4)):
            harness.step_randomly(rng)
    harness.settle(rng)
    delivered, reported = delivered_and_reported(harness)
    assert reported[poison] == 1 and delivered[poison] == 0, harness.failures()
    for number in set(range(count)) - {poison}:
        assert (delivered[number], reported[number]) == (1, 0), (number, harness.failures())
    assert harness.crashes >= 1
    assert all(s is ModuleState.READY for s in harness.module_states().values())
