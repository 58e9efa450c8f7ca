"""The anchors of the cross-runtime hop, measured in the same run as the hop itself.

``docs/flow-runner.md`` sets the hop's target from two floors measured on one
machine; on another machine they move, and the hop with them. Measured here:

- :func:`fifo_ping_pong`: the kernel's floor, two bare Python processes passing
  214 bytes back and forth over two FIFOs (no frames, no JSON); RTT in µs.
- :func:`hub_hop`: the bench's ping/pong modules in the shipped Python and Node
  runtimes, joined by a minimal Trio hub (``open_runtime`` and a shared
  ``ReplySweep``) that turns each ``emit`` into the other runtime's ``invoke``
  without the flow core and without decoding bodies; one-way µs, from the
  modules' own clocks, as the hop.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable

import orjson
import trio

from trio_launcher.flows.config import shipped_runtimes
from trio_launcher.flows.runtime_process import ReplySweep, RuntimeProcess, open_runtime
from trio_launcher.flows.wire import Frame, encode_frame

__all__ = ["fifo_ping_pong", "hub_hop"]


def fifo_ping_pong(round_trips: int, size: int = 214) -> list[float]:
    """RTTs (µs) of ``size`` bytes between this process and a forked echo, over two FIFOs."""
    with tempfile.TemporaryDirectory() as folder:
        there, back = os.path.join(folder, "there"), os.path.join(folder, "back")
        os.mkfifo(there, 0o600)
        os.mkfifo(back, 0o600)
        child = os.fork()
        if child == 0:  # the echo: reads what comes, sends it back, until EOF
            source, sink = os.open(there, os.O_RDONLY), os.open(back, os.O_WRONLY)
            while data := os.read(source, 65536):
                os.write(sink, data)
            os._exit(0)
        sink, source = os.open(there, os.O_WRONLY), os.open(back, os.O_RDONLY)
        message, rtts = b"x" * size, []
        try:
            for _ in range(round_trips):
                started = time.perf_counter_ns()
                os.write(sink, message)
                os.read(source, 65536)
                rtts.append((time.perf_counter_ns() - started) / 1000)
        finally:
            os.close(sink)
            os.close(source)
            os.waitpid(child, 0)
    return rtts[len(rtts) // 10 :]


async def hub_hop(round_trips: int, ping_source: str, pong_source: str) -> list[float]:
    """One-way hops (µs) of the ping/pong modules through a hub with no flow core.

    The runtimes are the shipped ones, as the runner starts them (Node.js on PATH).
    """
    commands = shipped_runtimes()
    sweep = ReplySweep()
    done = trio.Event()
    latencies: list[int] = []
    async with (
        open_runtime(commands["python"], sweep=sweep) as python,
        open_runtime(commands["node"], sweep=sweep) as js,
    ):
        for runtime, source in ((python, ping_source), (js, pong_source)):
            body = orjson.dumps({"source": source, "context": {}})
            runtime.send({"t": "load", "module": "m"}, body)
            while (await runtime.receive()).type != "loaded":
                pass
        ids = itertools.count()

        def relay(other: RuntimeProcess, port: str) -> Callable[[list[Frame]], None]:
            def forward(frames: list[Frame]) -> None:
                for frame in frames:
                    if frame.type != "emit":
                        continue
                    if frame.header.get("port") == port:
                        header = {"t": "invoke", "id": str(next(ids)), "module": "m", "port": "in"}
                        other.send_bytes(encode_frame(header, frame.body))
                    elif other is js:  # the ping module's result, on "out"
                        latencies.extend(orjson.loads(frame.body))
                        done.set()

            return forward

        python.deliver_to(relay(js, "ping"))
        js.deliver_to(relay(python, "out"))
        first = orjson.dumps({"i": 0, "n": round_trips})
        python.send({"t": "invoke", "id": "first", "module": "m", "port": "in"}, first)
        with trio.fail_after(300):
            await done.wait()
    return [ns / 1000 for ns in latencies[len(latencies) // 10 :]]
