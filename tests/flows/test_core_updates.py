"""Updates under the flow core: sources that do not compile, that fail to load, and blue/green.

``check_sources`` reports the line of a source that does not compile; an update whose
new source fails to load in its runtime leaves the old version serving, its context
going on; a module moved to the other runtime keeps its context and loses nothing.
"""

from __future__ import annotations

import random

from core_harness import RUNTIMES, Harness, chain, check_outputs, message, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_launcher.flows import core as flow_core
from trio_launcher.flows.core import FlowCore, ModuleState
from trio_launcher.flows.deps.lock import InstalledLock, Lock
from trio_launcher.flows.graph import Module

GOOD = "def handle(message, context, send):\n    send('out', message)\n"


def broken(line: int) -> str:
    """A source that does not compile, at ``line``."""
    return "def handle(message, context, send):\n" + "    pass\n" * (line - 2) + "    )\n"


@settings(max_examples=30, deadline=None)
@given(line=st.integers(2, 30), runtime=st.sampled_from(RUNTIMES))
def test_a_check_names_the_line_of_a_source_that_does_not_compile(line: int, runtime: str) -> None:
    harness = Harness()
    checks = [Module("bad", "c", runtime, broken(line)), Module("good", "c", runtime, GOOD)]
    harness.apply(harness.core.check_sources(7, checks, harness.now))
    harness.settle()
    (done,) = harness.of_type(flow_core.CheckDone)
    assert done.token == 7
    assert set(done.problems) == {"bad"}
    message_text, at = done.problems["bad"]
    assert at == line and "SyntaxError" in message_text


@settings(max_examples=40, deadline=None)
@given(
    runtimes=st.lists(st.sampled_from(RUNTIMES), min_size=1, max_size=3),
    data=st.data(),
    seed=st.integers(0, 1 << 16),
)
def test_an_update_that_fails_to_load_leaves_the_old_version_serving(
    runtimes: list[str], data: st.DataObject, seed: int
) -> None:
    rng = random.Random(seed)
    harness = Harness()
    document = chain(runtimes)
    harness.start(document)
    name = f"m{data.draw(st.integers(0, len(runtimes) - 1), label='module updated')}"
    line = data.draw(st.integers(2, 9), label="bad line")
    numbers = iter(range(1000))
    _offer_some(harness, numbers, rng)
    document["revision"] = 1
    document["processes"][name]["metadata"]["source"] = broken(line)
    harness.apply(harness.core.update_flow(parse(document), harness.now))
    _offer_some(harness, numbers, rng)
    harness.settle(rng)
    (failed,) = harness.of_type(flow_core.ModuleFailed)
    assert (failed.module, failed.line) == (name, line)
    _offer_some(harness, numbers, rng)
    harness.settle(rng)
    entered = next(numbers)
    assert all(s is ModuleState.READY for s in harness.module_states().values())
    assert [o["id"] for o in harness.outputs] == list(range(entered))
    for module in harness.module_states():
        assert harness.context(module)["count"] == entered  # the old version counted on


@settings(max_examples=60, deadline=None)
@given(
    runtimes=st.lists(st.sampled_from(RUNTIMES), min_size=1, max_size=3),
    moves=st.lists(st.integers(0, 2), min_size=1, max_size=4),
    seed=st.integers(0, 1 << 16),
)
def test_a_module_moved_to_another_runtime_keeps_its_context_and_loses_nothing(
    runtimes: list[str], moves: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    harness = Harness()
    document = chain(runtimes)
    harness.start(document)
    numbers = iter(range(1000))
    for revision, move in enumerate(moves, start=1):
        _offer_some(harness, numbers, rng)
        metadata = document["processes"][f"m{move % len(runtimes)}"]["metadata"]
        metadata["runtime"] = RUNTIMES[1 - RUNTIMES.index(metadata["runtime"])]
        document["revision"] = revision
        harness.apply(harness.core.update_flow(parse(document), harness.now))
        _offer_some(harness, numbers, rng)
    harness.settle(rng)
    entered = next(numbers)
    assert harness.of_type(flow_core.FlowUpdated)
    assert not harness.failures() and not harness.of_type(flow_core.ModuleFailed)
    path = tuple(f"m{i}" for i in range(len(runtimes)))
    check_outputs(harness.outputs, {(n, path) for n in range(entered)})
    for module in harness.module_states():
        assert harness.context(module)["count"] == entered, module
    harness.check_versions(document)


def _offer_some(harness: Harness, numbers: object, rng: random.Random) -> None:
    """A few messages into the flow, with a few random actions between them."""
    for _ in range(rng.randrange(1, 6)):
        number = next(numbers)  # type: ignore[call-overload]
        harness.apply(harness.core.offer("f", "in", message(number), harness.now))
        for _ in range(rng.randrange(4)):
            harness.step_randomly(rng)


def test_a_move_whose_new_version_fails_to_load_leaves_the_old_one_serving() -> None:
    harness = Harness()
    document = chain(["python"])
    harness.start(document)
    harness.apply(harness.core.offer("f", "in", message(0), harness.now))
    harness.settle()
    document["revision"] = 1
    document["processes"]["m0"]["metadata"].update(runtime="other", source=broken(3))
    harness.apply(harness.core.update_flow(parse(document), harness.now))
    harness.settle()
    (failed,) = harness.of_type(flow_core.ModuleFailed)
    assert failed.line == 3
    harness.apply(harness.core.offer("f", "in", message(1), harness.now))
    harness.settle()
    assert not harness.failures(), harness.failures()
    assert [o["id"] for o in harness.outputs] == [0, 1]
    assert harness.context("m0")["count"] == 2


def test_a_module_with_packages_is_refused_by_a_runtime_that_takes_none() -> None:
    packages = InstalledLock(Lock("python", (), ()), ("/store/python/x==1-0",), "python@lock")
    spec = Module("m", "c", "python", GOOD, packages=packages)
    core = FlowCore()
    started = core.check_sources(3, [spec], 0.0)
    answered = core.runtime_started("python@lock", ["sync-modules"], 0.0)
    assert [o.runtime for o in started if isinstance(o, flow_core.StartRuntime)] == ["python@lock"]
    (done,) = [o for o in answered if isinstance(o, flow_core.CheckDone)]
    assert "takes no packages" in done.problems["m"][0]
    assert not [o for o in answered if isinstance(o, flow_core.ToRuntime)]  # no load was sent
