"""A slow consumer behind a fast exported input, under the flow core: bounded, nothing lost.

The harness delivers the consumer's runtime frames only at every Nth chance; the test
offers as fast as the exported input takes. ``PortFull`` comes, every edge stays within
its bound (plus what its producer had in flight), and every message arrives in order.
"""

from __future__ import annotations

import random

from core_harness import Harness, chain, message
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_launcher.flows import core as flow_core
from trio_launcher.flows.core import PortFull
from trio_launcher.flows.core.flow_record import DEFAULT_INPORT_BOUND

WINDOW = 4


@settings(max_examples=8, deadline=None)
@given(
    bound=st.integers(1, 5),
    slowness=st.integers(2, 6),
    consumer=st.sampled_from(["other", "python"]),
    seed=st.integers(0, 1 << 16),
)
def test_a_fast_input_meets_port_full_and_every_edge_stays_bounded(
    bound: int, slowness: int, consumer: str, seed: int
) -> None:
    rng = random.Random(seed)
    harness = Harness(sync_window=WINDOW)
    harness.start(chain(["python", consumer], bound=bound))
    harness.slow[consumer] = slowness
    entered = full = 0
    most = 0
    while entered < 2 * DEFAULT_INPORT_BOUND[0] + 10:
        try:
            harness.apply(harness.core.offer("f", "in", message(entered), harness.now))
            entered += 1
        except PortFull:
            full += 1
            assert not harness.core.inport_has_room("f", "in")
            for _ in range(rng.randrange(1, 30)):
                harness.step_randomly(rng)
        counts = harness.edge_counts()
        most = max(most, counts[("m0", "out", "m1", "in")])
        assert counts[(None, "in", "m0", "in")] <= DEFAULT_INPORT_BOUND[0]
        assert counts[("m0", "out", "m1", "in")] <= bound + WINDOW
    harness.settle(rng)
    assert full > 0
    if consumer != "python":  # an edge through the runner filled: its producer was held
        assert most >= bound
    assert harness.of_type(flow_core.InportRoom)
    assert [output["id"] for output in harness.outputs] == list(range(entered))
    assert harness.context("m1")["count"] == entered
