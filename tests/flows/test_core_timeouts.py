"""An invocation that never answers, under the flow core: its runtime is killed, the flow goes on.

The harness withholds everything a runtime does from the message that hangs on: past
its module's timeout the core asks for a kill, the runtime is started again, and the
message blamed (reported once) is the one that hung; the others are delivered once.
"""

from __future__ import annotations

import random

import orjson
from core_harness import RUNTIMES, Harness, chain, delivered_and_reported, message
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_launcher.flows.core import ModuleState
from trio_launcher.flows.wire import Frame


def hangs_on(number: int) -> object:
    """A harness ``hang``: the invoke of message ``number`` never returns."""

    def hang(frame: Frame) -> bool:
        return frame.type == "invoke" and orjson.loads(frame.body)["id"] == number

    return hang


@settings(max_examples=100, deadline=None)
@given(
    runtimes=st.lists(st.sampled_from(RUNTIMES), min_size=1, max_size=3),
    count=st.integers(1, 10),
    data=st.data(),
    rng=st.randoms(use_true_random=False),
)
def test_an_invocation_past_its_timeout_is_killed_and_blamed(
    runtimes: list[str], count: int, data: st.DataObject, rng: random.Random
) -> None:
    hung = data.draw(st.integers(0, count - 1), label="the message that hangs")
    harness = Harness(hang=hangs_on(hung))  # type: ignore[arg-type]
    harness.start(chain(runtimes, timeout=2))
    for number in range(count):
        harness.apply(harness.core.offer("f", "in", message(number), harness.now))
        for _ in range(rng.randrange(4)):
            harness.step_randomly(rng)
    harness.settle(rng)
    assert harness.kills and all(kill.kill for kill in harness.kills)
    assert harness.now >= 2
    delivered, reported = delivered_and_reported(harness)
    assert (delivered[hung], reported[hung]) == (0, 1), harness.failures()
    (failure,) = harness.failures()
    assert "timeout" in failure.message, failure
    for number in set(range(count)) - {hung}:
        assert (delivered[number], reported[number]) == (1, 0), (number, harness.failures())
    assert all(s is ModuleState.READY for s in harness.module_states().values())
    numbers = [output["id"] for output in harness.outputs]
    assert numbers == sorted(numbers)
