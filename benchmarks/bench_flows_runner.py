"""The flow runner, through the Runner API and real runtimes: hops, throughput, step, update.

- **cross-runtime hop**: a Python module and a Node.js module send a message back and
  forth through the runner (each one-way hop: runtime -> runner -> other runtime); each
  message carries the sender's CLOCK_MONOTONIC time, the receiver notes the latency.
  p50/p99 of the one-way hops. Its anchors, in the same run (``hop_anchors.py``): the
  same modules through a minimal Trio hub with no flow core (``anchor_hub_*``), and
  the kernel's FIFO ping-pong between two bare processes (``anchor_fifo_rtt_*``).
- **streamed throughput**: one invocation of a Python module sends N small messages to a
  Node.js module, which counts them; messages per second from the trigger to the count.
- **1 MiB messages**: the same with M messages of 1 MiB of JSON; MB/s.
- **single step**: a breakpoint holds a module; ``single_step()`` round trips, p50.
- **hot update**: ``add_or_update_flow`` of a changed module on a running, idle flow, p50.
- **pause-module**: messages/s through one path of a flow (Python -> Node) while a module
  on another path of the same flow is paused at a breakpoint with its input full, over
  the same without the pause.
- **backpressure**: a producer (``send`` as fast as it goes) ten times or more faster than
  its consumer (a Node module that spins 0.2 ms a message) for S seconds: the growth of
  the resident memory of the runner and its runtimes (MB), and that nothing was lost.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from typing import Any

import trio
from _common import Target, arguments, emit, log, pct, tree_memory
from hop_anchors import fifo_ping_pong, hub_hop

from trio_launcher.flows.runner import FlowRunner, open_flow_runner

PING_PY = """
import time
lat = []
def handle(message, context, send):
    if 't' in message:
        lat.append(time.monotonic_ns() - message['t'])
    lat.extend(message.get('lat', []))
    if message['i'] >= message['n']:
        send('out', sorted(lat))
        return
    send('ping', {'i': message['i'] + 1, 'n': message['n'], 't': time.monotonic_ns()})
"""
PONG_JS = """
function handle(message, context, send) {
  const now = process.hrtime.bigint();
  const lat = Number(now - BigInt(message.t));
  send('out', {i: message.i, n: message.n, t: Number(process.hrtime.bigint()), lat: [lat]});
}
"""
BURST_PY = """
def handle(message, context, send):
    body = message['body']
    for i in range(message['n']):
        send('out', body)
"""
COUNT_JS = """
let seen = 0;
function handle(message, context, send) {
  seen += 1;
  if (seen % COUNT === 0) send('out', seen);
}
"""
FORWARD_PY = "def handle(message, context, send):\n    send('out', message)\n"
FORWARD_JS = "function handle(message, context, send) {\n  send('out', message);\n}\n"


def module(runtime: str, source: str, **metadata: Any) -> dict[str, Any]:
    return {"component": "m", "metadata": {"runtime": runtime, "source": source, **metadata}}


def ping_flow() -> dict[str, Any]:
    return {
        "id": "ping",
        "inports": {"in": {"process": "py", "port": "in"}},
        "outports": {"out": {"process": "py", "port": "out"}},
        "processes": {
            "py": module("python", PING_PY, outports=["ping", "out"]),
            "js": module("node", PONG_JS),
        },
        "connections": [
            {"src": {"process": "py", "port": "ping"}, "tgt": {"process": "js", "port": "in"}},
            {"src": {"process": "js", "port": "out"}, "tgt": {"process": "py", "port": "in"}},
        ],
    }


def burst_flow(count: int, max_messages: int) -> dict[str, Any]:
    return {
        "id": "burst",
        "inports": {"in": {"process": "py", "port": "in"}},
        "outports": {"out": {"process": "js", "port": "out"}},
        "processes": {
            "py": module("python", BURST_PY),
            "js": module("node", COUNT_JS.replace("COUNT", str(count))),
        },
        "connections": [
            {
                "src": {"process": "py", "port": "out"},
                "tgt": {"process": "js", "port": "in"},
                "metadata": {"maxMessages": max_messages, "maxBytes": 1 << 40},
            }
        ],
    }


async def hop(runner: FlowRunner, round_trips: int) -> list[float]:
    await runner.add_or_update_flow(ping_flow())
    await runner.start_flow("ping")
    async with runner.output("ping", "out") as out:
        await runner.send("ping", "in", {"i": 0, "n": round_trips})
        latencies: list[int] = await anext(out)
    await runner.remove_flow("ping")
    return [ns / 1000 for ns in latencies[len(latencies) // 10 :]]


async def burst(runner: FlowRunner, count: int, body: Any) -> float:
    await runner.add_or_update_flow(burst_flow(count, count + 1))
    await runner.start_flow("burst")
    async with runner.output("burst", "out") as out:
        started = time.perf_counter()
        await runner.send("burst", "in", {"n": count, "body": body})
        await anext(out)
        elapsed = time.perf_counter() - started
    await runner.remove_flow("burst")
    return elapsed


async def step_and_update(runner: FlowRunner, times: int) -> tuple[list[float], list[float]]:
    flow = {
        "id": "dbg",
        "inports": {"in": {"process": "a", "port": "in"}},
        "processes": {"a": module("python", FORWARD_PY)},
        "connections": [],
    }
    await runner.add_or_update_flow(flow)
    await runner.start_flow("dbg")
    updates = []
    for version in range(times):
        changed = dict(flow, revision=version + 1)
        changed["processes"] = {"a": module("python", f"# {version}\n{FORWARD_PY}")}
        started = time.perf_counter()
        await runner.add_or_update_flow(changed)
        updates.append((time.perf_counter() - started) * 1000)
    runner.set_breakpoint("dbg/a")
    steps = []
    for n in range(times):
        await runner.send("dbg", "in", n)
        started = time.perf_counter()
        await runner.single_step()
        steps.append((time.perf_counter() - started) * 1000)
    return steps, updates


SLOW_JS = """
function handle(message, context, send) {
  const end = process.hrtime.bigint() + 200000n;
  while (process.hrtime.bigint() < end) {}
  send('out', message);
}
"""


def two_paths() -> dict[str, Any]:
    return {
        "id": "paths",
        "inports": {
            "a": {"process": "a1", "port": "in"},
            "b": {"process": "b1", "port": "in"},
        },
        "outports": {"a": {"process": "a2", "port": "out"}},
        "processes": {
            "a1": module("python", FORWARD_PY),
            "a2": module("node", FORWARD_JS),
            "b1": module("python", FORWARD_PY),
        },
        "connections": [
            {"src": {"process": "a1", "port": "out"}, "tgt": {"process": "a2", "port": "in"}},
        ],
    }


async def path_rate(runner: FlowRunner, count: int) -> float:
    async with runner.output("paths", "a") as out, trio.open_nursery() as nursery:

        async def feed() -> None:
            for n in range(count):
                await runner.send("paths", "a", n)

        started = time.perf_counter()
        nursery.start_soon(feed)
        for _ in range(count):
            await anext(out)
        return count / (time.perf_counter() - started)


async def pause_ratio(runner: FlowRunner, count: int) -> float:
    await runner.add_or_update_flow(two_paths())
    await runner.start_flow("paths")
    await path_rate(runner, count // 10)  # warm up
    free = await path_rate(runner, count)
    runner.set_breakpoint("paths/b1")
    for n in range(1000):  # its input fills up to its bound
        await runner.send("paths", "b", n)
    paused = await path_rate(runner, count)
    await runner.remove_flow("paths")
    return paused / free


async def backpressure(runner: FlowRunner, seconds: float) -> dict[str, Any]:
    flow = {
        "id": "slow",
        "inports": {"in": {"process": "slow", "port": "in"}},
        "outports": {"out": {"process": "slow", "port": "out"}},
        "processes": {"slow": module("node", SLOW_JS)},
        "connections": [],
    }
    await runner.add_or_update_flow(flow)
    await runner.start_flow("slow")
    before = tree_memory(os.getpid())["rss_mb"]
    sent = received = 0
    fed, all_in = trio.Event(), trio.Event()
    async with runner.output("slow", "out") as out, trio.open_nursery() as nursery:

        async def count() -> None:
            nonlocal received
            async for _ in out:
                received += 1
                if fed.is_set() and received == sent:
                    all_in.set()

        nursery.start_soon(count)
        deadline = trio.current_time() + seconds
        while trio.current_time() < deadline:
            await runner.send("slow", "in", {"n": sent, "text": "x" * 180})
            sent += 1
        after = tree_memory(os.getpid())["rss_mb"]
        fed.set()
        if received < sent:
            await all_in.wait()
        nursery.cancel_scope.cancel()
    await runner.remove_flow("slow")
    return {
        "backpressure_rss_growth_mb": round(after - before, 1),
        "backpressure_sent": sent,
        "backpressure_lost": sent - received,
    }


async def measure(args: Any) -> dict[str, Any]:
    scale = 0.1 if args.quick else 1.0
    async with open_flow_runner() as runner:
        log("cross-runtime hop")
        latencies = await hop(runner, int(20_000 * scale))
        log("cross-runtime hop through a hub with no core (anchor)")
        hub = await hub_hop(int(20_000 * scale), PING_PY, PONG_JS)
        log("streamed throughput")
        small = int(200_000 * scale)
        small_seconds = await burst(runner, small, {"n": 1, "text": "x" * 180})
        log("1 MiB messages")
        large = max(20, int(200 * scale))
        large_seconds = await burst(runner, large, "x" * (1 << 20))
        log("step and update")
        steps, updates = await step_and_update(runner, max(20, int(100 * scale)))
        log("pause-module")
        ratio = await pause_ratio(runner, int(20_000 * scale))
        log("backpressure")
        pressure = await backpressure(runner, 3.0 if args.quick else 20.0)
    return {
        **pressure,
        "pause_module_throughput_ratio": round(ratio, 3),
        "hop_one_way_p50_us": round(statistics.median(latencies), 1),
        "hop_one_way_p99_us": round(pct(latencies, 99), 1),
        "anchor_hub_hop_one_way_p50_us": round(statistics.median(hub), 1),
        "anchor_hub_hop_one_way_p99_us": round(pct(hub, 99), 1),
        "streamed_msgs_per_s": round(small / small_seconds),
        "large_mb_per_s": round(large * (1 << 20) / large_seconds / 1e6, 1),
        "step_p50_ms": round(statistics.median(steps), 2),
        "hot_update_p50_ms": round(statistics.median(updates), 2),
    }


def main() -> None:
    args = arguments(__doc__ or "")
    targets: dict[str, Target] = {
        "hop_one_way_p50_us": ("<=", 30.0),
        "hop_one_way_p99_us": ("<=", 100.0),
        "streamed_msgs_per_s": (">=", 250_000.0),
        "large_mb_per_s": (">=", 250.0),
        "step_p50_ms": ("<=", 10.0),
        "hot_update_p50_ms": ("<=", 20.0),
        "pause_module_throughput_ratio": (">=", 0.9),
        "backpressure_rss_growth_mb": ("<=", 50.0),
    }
    if shutil.which("node") is None:
        emit("flows_runner", {"quick": args.quick}, {"skipped": "node is not on PATH"}, {})
        return
    log("FIFO ping-pong (anchor)")
    floor = fifo_ping_pong(50_000 if not args.quick else 10_000)
    figures = trio.run(measure, args)
    figures["anchor_fifo_rtt_p50_us"] = round(statistics.median(floor), 2)
    figures["anchor_fifo_rtt_p99_us"] = round(pct(floor, 99), 2)
    emit(
        "flows_runner",
        {"quick": args.quick},
        figures,
        targets,
        [
            "hop: python <-> node through the runner; one-way latency from CLOCK_MONOTONIC",
            "streamed: 214-byte messages from one Python invocation to a Node module",
            "hot update: a changed module of an idle running flow (compile check included)",
        ],
    )


if __name__ == "__main__":
    main()
