"""Runtimes that share a ReplySweep: one runtime's reader may read another's FIFO.

Whoever reads a runtime's frames, they reach its consumer once each, in the
order the runtime sent them, and bad bytes from one runtime stop only that one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import trio
from runtime_helpers import PYTHON_RUNTIME, invoke, load, receive_until

from trio_launcher.flows.runtime_process import ReplySweep, RuntimeProcess, open_runtime
from trio_launcher.flows.wire import Frame, FrameError

ECHO = "def handle(message, context, send):\n    pass\n"

#: Says hello, then answers its first frame with a pong and bytes that are no frame.
GARBLED_RUNTIME = [
    sys.executable,
    "-c",
    "import os, sys\n"
    "from trio_launcher.flows.wire import encode_frame\n"
    "out = os.open(sys.argv[-1], os.O_WRONLY)\n"
    "hello = {'protocol': 1, 'runtime': 'garbled', 'name': 'garbled', 'version': '0',"
    " 'pid': os.getpid(), 'capabilities': []}\n"
    "os.write(out, encode_frame({'t': 'hello'}, __import__('json').dumps(hello).encode()))\n"
    "os.read(os.open(sys.argv[-2], os.O_RDONLY), 1)\n"
    "os.write(out, encode_frame({'t': 'pong', 'id': 'p1'}) + b'\\xff\\xff\\xff\\xff')\n"
    "os.read(os.open(sys.argv[-2], os.O_RDONLY), 1)\n",
]


async def test_two_runtimes_that_answer_each_other_lose_and_reorder_nothing() -> None:
    rounds = 400
    dones: dict[str, list[str]] = {"a": [], "b": []}
    finished = trio.Event()
    sweep = ReplySweep()
    async with (
        open_runtime(PYTHON_RUNTIME, grace_period=1.0, sweep=sweep) as a,
        open_runtime(PYTHON_RUNTIME, grace_period=1.0, sweep=sweep) as b,
    ):
        for runtime in (a, b):
            load(runtime, "echo", ECHO)
            await receive_until(runtime, "loaded")

        def relay(name: str, other: RuntimeProcess) -> Callable[[list[Frame]], None]:
            def consume(frames: list[Frame]) -> None:
                for frame in frames:
                    if frame.type != "done":
                        continue
                    dones[name].append(frame.header["id"])
                    count = len(dones["a"]) + len(dones["b"])
                    if count == rounds:
                        finished.set()
                    elif count < rounds:
                        invoke(other, "echo", str(count), {"n": count})

            return consume

        a.deliver_to(relay("a", b))
        b.deliver_to(relay("b", a))
        invoke(a, "echo", "0", {"n": 0})
        await finished.wait()
    assert dones["a"] == [str(n) for n in range(0, rounds, 2)]
    assert dones["b"] == [str(n) for n in range(1, rounds, 2)]


async def test_bad_bytes_from_one_runtime_stop_only_that_one() -> None:
    sweep = ReplySweep()
    async with (
        open_runtime(PYTHON_RUNTIME, grace_period=1.0, sweep=sweep) as good,
        open_runtime(GARBLED_RUNTIME, grace_period=1.0, sweep=sweep) as garbled,
    ):
        load(good, "echo", ECHO)
        await receive_until(good, "loaded")
        garbled.send({"t": "ping", "id": "p1"})
        invoke(good, "echo", "after", {})  # its reader may be the one to read the garbled FIFO
        assert (await receive_until(good, "done"))[-1].header["id"] == "after"
        assert (await garbled.receive()).header == {"t": "pong", "id": "p1"}
        with pytest.raises(FrameError, match="over the limit"):
            await garbled.receive()
        invoke(good, "echo", "still", {})
        assert (await receive_until(good, "done"))[-1].header["id"] == "still"


class Silent:
    """A runtime that never has anything to read: counts the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def _read_available(self) -> bool:
        self.reads += 1
        return False


def sweeps_that_waited(sweep: ReplySweep, runtime: Silent, size: int, times: int) -> int:
    """How many of ``times`` sweeps after a write of ``size`` bytes waited (read again)."""
    reader = Silent()
    waited = 0
    for _ in range(times):
        sweep.wrote(runtime, size)  # type: ignore[arg-type]
        before = runtime.reads
        sweep.sweep(reader)  # type: ignore[arg-type]
        waited += runtime.reads - before > 1
    return waited


def test_sweeps_stop_waiting_for_a_runtime_that_does_not_answer() -> None:
    waited = sweeps_that_waited(ReplySweep(), Silent(), 100, 640)
    assert 3 <= waited <= 3 + 640 // 64  # three misses, then one try in 64


def test_a_sweep_does_not_wait_for_the_answer_to_a_large_frame() -> None:
    assert sweeps_that_waited(ReplySweep(), Silent(), 1 << 20, 10) == 0
