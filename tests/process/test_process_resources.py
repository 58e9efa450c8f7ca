"""Resource sampling of real process trees."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial

import trio
from process_helpers import HANG_GUARD, Output, python, sleeper, with_grandchild

from trio_launcher.process import ChildProcess, TreeSampler, run_child, sample_tree

MIB = 1024 * 1024

BURN_CPU = """
    import time
    ticks = 0
    while True:
        if time.process_time() > 0.05 * ticks:
            print("tick", ticks, flush=True)
            ticks += 1
"""


async def test_sample_sums_memory_and_counts_the_whole_tree() -> None:
    output = Output()
    leader = "ballast = b'x' * (100 * 1024 * 1024)\n" + sleeper(say="ready")
    command = with_grandchild(sleeper(say="grandchild ready"), then=leader)
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            child: ChildProcess = await nursery.start(partial(run_child, command, on_output=output))
            await output.wait_for("ready")
            await output.wait_for("grandchild ready")
            sample = sample_tree(child.pid)
            nursery.cancel_scope.cancel()
    assert sample is not None
    assert sample.process_count == 2
    assert sample.rss_bytes > 100 * MIB
    assert sample.cpu_percent >= 0.0


async def test_sampler_measures_cpu_between_samples() -> None:
    output = Output()
    sampler = TreeSampler()
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            child: ChildProcess = await nursery.start(
                partial(run_child, python(BURN_CPU), on_output=output)
            )
            await output.wait_for("tick 1")
            first = sampler.sample(child.pid)
            seen = len(output.lines)
            await output.wait_for(f"tick {seen + 2}")  # at least one more tick of CPU
            second = sampler.sample(child.pid)
            nursery.cancel_scope.cancel()
    assert first is not None
    assert second is not None
    assert first.cpu_percent > 0.0  # first sight: average since the process started
    assert second.cpu_percent > 0.0


async def test_gone_processes_are_not_sampled() -> None:
    async with trio.open_nursery() as nursery:
        child: ChildProcess = await nursery.start(run_child, python("pass"))
    assert sample_tree(child.pid) is None
    samples = TreeSampler().sample_many([os.getpid(), child.pid])
    assert list(samples) == [os.getpid()]
    assert samples[os.getpid()].process_count >= 1


def test_importing_the_package_does_not_import_psutil() -> None:
    code = "import sys, trio_launcher.process; print('psutil' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
