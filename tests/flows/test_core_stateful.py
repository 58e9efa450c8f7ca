"""The flow core under random flows, messages, interleavings, updates and breakpoints.

Hypothesis drives :class:`~core_harness.Harness`: chains and small DAGs of 1-5 counting
modules over one or two runtimes; messages into the exported input, frames delivered in
any interleaving, hot updates, breakpoints, steps and dropped messages. At the end
(breakpoints removed, everything delivered): each message left once per path (minus the
dropped ones), in order per path; each module's context counts what it handled; no edge
went over its bound by more than what was in flight; every module is ready.
"""

from __future__ import annotations

import random

from core_harness import RUNTIMES, Dag, Harness, check_outputs, message
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from trio_launcher.flows import core as flow_core
from trio_launcher.flows.core import ModuleState, PortFull

WINDOW = 4


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """A DAG of 1-5 modules over 1-2 runtimes, every module on a path from m0 to the last."""
    size = draw(st.integers(1, 5))
    used = RUNTIMES[: draw(st.integers(1, 2))]
    runtimes = [draw(st.sampled_from(used)) for _ in range(size)]
    edges = {(draw(st.integers(0, j - 1)), j) for j in range(1, size)}
    pairs = [(i, j) for j in range(size) for i in range(j)]
    edges |= set(draw(st.lists(st.sampled_from(pairs), max_size=3))) if pairs else set()
    for i in range(size - 1):
        if not any(src == i for src, _ in edges):
            edges.add((i, size - 1))
    return Dag(runtimes, sorted(edges), draw(st.integers(1, 6)))


class CoreMachine(RuleBasedStateMachine):
    """A flow on the core, and what went into it."""

    harness: Harness
    dag: Dag

    @initialize(dag=dags())
    def start(self, dag: Dag) -> None:
        self.dag = dag
        self.harness = Harness(sync_window=WINDOW)
        self.harness.start(dag.document())
        self.entered: list[int] = []
        self.steps = 0

    @property
    def core(self) -> flow_core.FlowCore:
        return self.harness.core

    @rule()
    def offer(self) -> None:
        number = len(self.entered) + 1000 * self.steps
        room = self.core.inport_has_room("f", "in")
        try:
            self.harness.apply(self.core.offer("f", "in", message(number), self.harness.now))
        except PortFull:
            assert not room
        else:
            self.entered.append(number)

    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        actions = self.harness.actions()
        if actions:
            action = data.draw(st.sampled_from(actions))
            self.harness.act(action, data.draw(st.sampled_from((1, 2, 5, 1 << 30))))

    @rule(seed=st.integers(0, 1000))
    def run_a_while(self, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(20):
            if not self.harness.step_randomly(rng):
                break

    @rule(data=st.data(), move=st.booleans())
    def update(self, data: st.DataObject, move: bool) -> None:
        name = data.draw(st.sampled_from(self.dag.names))
        if move:
            self.dag.runtimes[name] = data.draw(st.sampled_from(RUNTIMES))
        self.dag.versions[name] += 1
        self.dag.revision += 1
        flow = parse_document(self.dag)
        self.harness.apply(self.core.update_flow(flow, self.harness.now))

    @rule(data=st.data(), pause_all=st.booleans())
    def set_breakpoint(self, data: st.DataObject, pause_all: bool) -> None:
        name = data.draw(st.sampled_from(self.dag.names))
        self.harness.apply(self.core.set_breakpoint("f", name, pause_all=pause_all))

    @rule(data=st.data())
    def remove_breakpoint(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.dag.names))
        self.harness.apply(self.core.remove_breakpoint("f", name))

    @precondition(lambda self: len(self.harness.of_type(flow_core.StepDone)) == self.steps)
    @rule()
    def step(self) -> None:
        self.steps += 1
        self.harness.apply(self.core.step(self.steps, self.harness.now))

    @rule(data=st.data())
    def drop_held(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.dag.names))
        module = self.core.flow("f").modules[name]
        if module.state is not ModuleState.PAUSED or not module.queue:
            return
        body = module.queue[0].body
        self.harness.apply(self.core.drop_held("f", name))
        self.dag.dropped(name, body)

    @invariant()
    def edges_within_bounds(self) -> None:
        if not hasattr(self, "harness"):
            return
        for (source, _, _, _), count in self.harness.edge_counts().items():
            if source is None:
                assert count <= 1000
            else:
                assert count <= self.dag.bound + self.dag.overshoot(source, WINDOW), (
                    source,
                    count,
                )

    def teardown(self) -> None:
        if not hasattr(self, "harness"):
            return
        for name in self.dag.names:
            self.harness.apply(self.core.remove_breakpoint("f", name))
        self.harness.apply(self.core.resume("f"))
        self.harness.settle(random.Random(len(self.entered)))
        states = self.harness.module_states()
        assert all(s is ModuleState.READY for s in states.values()), states
        self.harness.check_versions(self.dag.document())
        assert not self.harness.failures(), self.harness.failures()
        assert not self.harness.of_type(flow_core.ModuleFailed)
        last = self.dag.names[-1]
        check_outputs(self.harness.outputs, self.dag.expected(last, self.entered))
        for name in self.dag.names:
            handled = len(self.dag.expected(name, self.entered))
            assert self.harness.context(name).get("count", 0) == handled, name
        assert all(count == 0 for count in self.harness.edge_counts().values())


def parse_document(dag: Dag) -> object:
    from core_harness import parse

    return parse(dag.document())


CoreMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=50, deadline=None)
TestCore = CoreMachine.TestCase
