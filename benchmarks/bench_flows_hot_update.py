"""Hot update under load: the flow runner beside Node-RED, in one invocation.

The scenario of ``nodered/hot_update.mjs``, on both systems:

- **the flow runner** (``open_flow_runner``, the shipped runtimes): a generator in
  Trio sends 2,000 msg/s (``--rate``) of ``{"seq", "t"}`` (``t``: CLOCK_MONOTONIC at
  the send), paced with ``trio.sleep_until`` in batches of ``--batch``, through
  ``runner.send`` into the flow's exported input. The flow: ``gen`` (forwards) fans
  out to ``mod``, the module under test, and to ``steady``, a module that never
  changes; ``mod`` -> exported ``out`` (the sink: sequence numbers counted),
  ``steady`` -> exported ``out2`` (sink 2: latencies from ``t``). All three modules
  run in the runtime of the module under test. 0.5 s of traffic, then ``updates``
  updates of ``mod`` (a comment with a counter, a new revision, via
  ``add_or_update_flow``) 50 ms apart, 0.5 s more; then the generator stops, a
  ``flush`` and an ``end`` message follow, and the counts are taken once both sinks
  have the ``end``. Modules: ``sync``; ``async`` (``async def handle``, ``await
  asyncio.sleep(0.02)``); ``buffer`` (holds 400 messages in its context, all of them
  on ``flush``); each in Python, ``sync`` also in Node.js. Each counts its messages
  in ``context["count"]``.
- **Node-RED** 4.1.15 (``bench_flows_nodered``'s install and ``hot_update.mjs``, on the
  system ``node``): the same modules, rate, gap and counts, with the default context
  settings and with ``contextStorage`` ``memory``; skipped, with the reason, without
  node or npm.

Per scenario: lost, duplicated and reordered sequence numbers at the sink (one edge
into it), whether the context was kept (the count equals the messages the module got,
and no update lowered it), the time of an update (p50, max), and the p99 latency through
the unchanged module of the messages on their way while an update ran, against the
messages of the same flow run without updates that were on their way in the same
windows (the same offsets from the generator's start: a slow message is likelier to
overlap a window, so both sides lean alike), and outside the updates of the same run.
``--cpu`` pins both systems
(``taskset -c`` syntax, e.g. ``0``). ``--quick``: 10 updates only (no 1-update runs),
Node-RED with its default context settings only.
"""

from __future__ import annotations

import bisect
import os
import statistics
import time
from typing import Any

import bench_flows_nodered as nodered
import trio
from _common import Target, arguments, emit, log, pct

from trio_launcher.flows.core.outputs import InvocationFailed, ModuleFailed, RuntimeLost
from trio_launcher.flows.runner import FlowRunner, open_flow_runner

FLOW = "hot"
WARM_S = 0.5
TAIL_S = 0.5
GAP_S = 0.05
END_TIMEOUT_S = 10.0
HELD = 400
#: The events a run reports among its figures.
FAILURES = (InvocationFailed, ModuleFailed, RuntimeLost)

PY_FORWARD = "def handle(message, context, send):\n    send('out', message)\n"
JS_FORWARD = "function handle(message, context, send) {\n  send('out', message);\n}\n"
PY_COUNT = "    context['count'] = context.get('count', 0) + 1\n"
MODULES: dict[tuple[str, str], str] = {
    ("python", "sync"): (
        f"def handle(message, context, send):\n{PY_COUNT}    send('out', message)\n"
    ),
    ("python", "async"): (
        "import asyncio\n"
        "async def handle(message, context, send):\n"
        f"{PY_COUNT}"
        "    await asyncio.sleep(0.02)\n"
        "    send('out', message)\n"
    ),
    ("python", "buffer"): (
        "def handle(message, context, send):\n"
        f"{PY_COUNT}"
        "    held = list(context.get('held', []))\n"
        "    if message.get('flush'):\n"
        "        context['held'] = []\n"
        "        for each in held:\n"
        "            send('out', each)\n"
        "        return\n"
        "    if message.get('end'):\n"
        "        send('out', message)\n"
        "        return\n"
        "    held.append(message)\n"
        f"    if len(held) > {HELD}:\n"
        "        send('out', held.pop(0))\n"
        "    context['held'] = held\n"
    ),
    ("node", "sync"): (
        "function handle(message, context, send) {\n"
        "  context.count = (context.count ?? 0) + 1;\n"
        "  send('out', message);\n}\n"
    ),
}
COMMENT = {"python": "#", "node": "//"}
FORWARD = {"python": PY_FORWARD, "node": JS_FORWARD}


def module(runtime: str, source: str) -> dict[str, Any]:
    return {"component": "m", "metadata": {"runtime": runtime, "source": source}}


def flow_document(runtime: str, name: str, revision: int) -> dict[str, Any]:
    """gen -> mod -> out and gen -> steady -> out2, ``mod`` at ``revision``."""
    source = f"{COMMENT[runtime]} revision {revision}\n{MODULES[runtime, name]}"
    edges = [("gen", "mod"), ("gen", "steady")]
    return {
        "id": FLOW,
        "revision": revision,
        "inports": {"in": {"process": "gen", "port": "in"}},
        "outports": {
            "out": {"process": "mod", "port": "out"},
            "out2": {"process": "steady", "port": "out"},
        },
        "processes": {
            "gen": module(runtime, FORWARD[runtime]),
            "mod": module(runtime, source),
            "steady": module(runtime, FORWARD[runtime]),
        },
        "connections": [
            {"src": {"process": a, "port": "out"}, "tgt": {"process": b, "port": "in"}}
            for a, b in edges
        ],
    }


class Run:
    """What one run saw: the sequence numbers at the sink, latencies at sink 2, updates."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.steady: list[tuple[int, int]] = []  # (sent at, latency), ns
        self.steady_seqs: set[int] = set()
        self.updates: list[tuple[int, int]] = []  # (start, end), ns
        self.update_ms: list[float] = []
        self.count_dropped = 0
        self.errors: list[str] = []
        self.sent = 0
        self.begin = 0  #: when the generator started, ns

    def steady_p99_ms(
        self, *, during_updates: bool | None = None, windows: list[tuple[int, int]] | None = None
    ) -> float | None:
        """p99 latency (ms) at sink 2: of all messages, or of those on the way during updates
        (``during_updates=True``) or not (``False``); ``windows`` instead of the updates."""
        windows = self.updates if windows is None else windows
        latencies = [
            lat
            for t, lat in self.steady
            if during_updates is None or self.during(t, lat, windows) == during_updates
        ]
        return round(pct(latencies, 99) / 1e6, 3) if latencies else None

    def during(self, sent: int, latency: int, windows: list[tuple[int, int]]) -> bool:
        """Whether a message was on its way (``sent`` to ``sent + latency``) in a window."""
        i = bisect.bisect_right(windows, (sent + latency, 1 << 62)) - 1
        return i >= 0 and sent <= windows[i][1]

    def same_windows(self, other: Run) -> list[tuple[int, int]]:
        """``other``'s update windows at the same offsets from the start of this run."""
        shift = self.begin - other.begin
        return [(start + shift, end + shift) for start, end in other.updates]


async def sink(
    runner: FlowRunner, port: str, run: Run, done: trio.Event, *, task_status: Any
) -> None:
    async with runner.output(FLOW, port) as messages:
        task_status.started()
        async for message in messages:
            now = time.monotonic_ns()
            if message.get("end"):
                break
            if "seq" not in message:
                continue  # the flush
            if port == "out":
                run.received.append(message["seq"])
            else:
                run.steady.append((message["t"], now - message["t"]))
                run.steady_seqs.add(message["seq"])
    done.set()


async def generate(runner: FlowRunner, run: Run, stop: trio.Event, rate: int, batch: int) -> None:
    begin = trio.current_time()
    run.begin = time.monotonic_ns()
    while not stop.is_set():
        due = int((trio.current_time() - begin) * rate)
        while run.sent < due:
            await runner.send(FLOW, "in", {"seq": run.sent, "t": time.monotonic_ns()})
            run.sent += 1
        await trio.sleep_until(begin + (run.sent + batch) / rate)


async def update(runner: FlowRunner, run: Run, runtime: str, name: str, revision: int) -> None:
    before = runner.context(FLOW, "mod").get("count", 0)
    start = time.monotonic_ns()
    await runner.add_or_update_flow(flow_document(runtime, name, revision))
    end = time.monotonic_ns()
    if runner.context(FLOW, "mod").get("count", 0) < before:
        run.count_dropped += 1
    run.updates.append((start, end))
    run.update_ms.append((end - start) / 1e6)


async def watch_errors(runner: FlowRunner, run: Run, *, task_status: Any) -> None:
    async with runner.events() as events:
        task_status.started()
        async for event in events:
            if isinstance(event, FAILURES):
                run.errors.append(repr(event)[:200])


async def one_run(
    runner: FlowRunner, runtime: str, name: str, updates: int, args: Any
) -> tuple[dict[str, Any], Run]:
    """The scenario once: ``updates`` updates of ``mod`` while the generator runs."""
    run = Run()
    await runner.add_or_update_flow(flow_document(runtime, name, 0))
    await runner.start_flow(FLOW)
    ends = [trio.Event(), trio.Event()]
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_errors, runner, run)
        for port, done in zip(("out", "out2"), ends, strict=True):
            await nursery.start(sink, runner, port, run, done)
        nursery.start_soon(generate, runner, run, stop, args.rate, args.batch)
        await trio.sleep(WARM_S)
        for revision in range(1, updates + 1):
            await update(runner, run, runtime, name, revision)
            if revision < updates:
                await trio.sleep(GAP_S)
        await trio.sleep(TAIL_S)
        stop.set()
        await runner.send(FLOW, "in", {"flush": True})
        await runner.send(FLOW, "in", {"end": True})
        with trio.move_on_after(END_TIMEOUT_S):
            for done in ends:
                await done.wait()
        drained = all(done.is_set() for done in ends)
        nursery.cancel_scope.cancel()
    count = runner.context(FLOW, "mod").get("count", 0)
    await runner.remove_flow(FLOW)
    return result(run, runtime, name, updates, count, drained), run


def delivery(received: list[int], sent: int) -> dict[str, int]:
    """Lost, duplicated and reordered sequence numbers, counted as ``hot_update.mjs`` does."""
    seen: set[int] = set()
    duplicated = reordered = 0
    highest = -1
    for seq in received:
        duplicated += seq in seen
        seen.add(seq)
        reordered += seq < highest
        highest = max(highest, seq)
    return {"lost": sent - len(seen), "duplicated": duplicated, "reordered": reordered}


def result(
    run: Run, runtime: str, name: str, updates: int, count: int, drained: bool
) -> dict[str, Any]:
    got = run.sent + 2  # and the flush and the end
    figures: dict[str, Any] = {
        "runtime": runtime,
        "scenario": name,
        "updates": updates,
        "sent": run.sent,
        **delivery(run.received, run.sent),
        "context_kept": count == got and run.count_dropped == 0,
        "context_count": count,
        "module_got": got,
        "steady_lost": run.sent - len(run.steady_seqs),
        "steady_p99_ms": run.steady_p99_ms(),
        "drained": drained,
        "errors": run.errors[:5],
    }
    if run.update_ms:
        figures |= {
            "update_ms_p50": round(statistics.median(run.update_ms), 2),
            "update_ms_max": round(max(run.update_ms), 2),
            "steady_p99_during_updates_ms": run.steady_p99_ms(during_updates=True),
            "steady_p99_outside_updates_ms": run.steady_p99_ms(during_updates=False),
            "messages_during_updates": sum(
                run.during(t, lat, run.updates) for t, lat in run.steady
            ),
        }
    return figures


async def measure_ours(args: Any) -> list[dict[str, Any]]:
    rows = []
    async with open_flow_runner() as runner:
        for runtime, name in MODULES:
            if runtime not in {info.id for info in runner.list_runtimes()}:
                log(f"{runtime} runtime not configured: {name} skipped")
                continue
            baseline: Run | None = None
            for updates in (0, *args.counts):
                row, run = await one_run(runner, runtime, name, updates, args)
                if baseline is None:
                    baseline = run
                else:
                    row |= added_by_updates(row, run, baseline)
                log(f"ours: {row}")
                rows.append(row)
    return rows


def measure_node_red(args: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Node-RED's rows (``bench_flows_nodered``'s script), or why there are none."""
    nodes = nodered.node_binaries()
    skipped = "node not found" if not nodes else nodered.install_node_red()
    if skipped is not None:
        return [], skipped
    stores = ("default",) if args.quick else ("default", "memory")
    rows = []
    for store in stores:
        for name in ("sync", "async", "buffer"):
            for deploys in args.counts:
                script_args = (name, deploys, store, args.rate, int(GAP_S * 1000))
                row = nodered.run_script(nodes[0], args.cpu, "hot_update.mjs", *script_args)
                log(f"node-red: {row}")
                rows.append(row)
    return rows, None


def added_by_updates(row: dict[str, Any], run: Run, baseline: Run) -> dict[str, Any]:
    """What a run's updates added to the unchanged module's p99, against ``baseline``.

    A message on its way longer is likelier to overlap an update window, so the
    messages "during updates" lean to the slow ones even if updates cost nothing;
    they are compared with the messages of the run without updates that were on
    their way in the same windows (same offsets from the start).
    """
    windows = baseline.same_windows(run)
    same = baseline.steady_p99_ms(during_updates=True, windows=windows)
    during = row.get("steady_p99_during_updates_ms")
    figures: dict[str, Any] = {
        "steady_p99_no_updates_ms": baseline.steady_p99_ms(),
        "steady_p99_same_windows_no_updates_ms": same,
    }
    if same is not None and during is not None:
        figures["steady_p99_added_ms"] = round(during - same, 3)
    return figures


def flat(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Target]]:
    """The figures with targets, one key each: ``python_sync_x100_lost``..."""
    figures: dict[str, Any] = {}
    targets: dict[str, Target] = {}
    for row in rows:
        if not row["updates"]:
            continue
        prefix = f"{row['runtime']}_{row['scenario']}_x{row['updates']}"
        drain = 20.0 if row["scenario"] == "async" else 0.0
        for key, limit in (
            ("lost", 0.0),
            ("duplicated", 0.0),
            ("reordered", 0.0),
            ("update_ms_p50", 20.0 + drain),
            ("steady_p99_added_ms", 1.0),
        ):
            if row.get(key) is not None:
                figures[f"{prefix}_{key}"] = row[key]
                targets[f"{prefix}_{key}"] = ("<=", limit)
        figures[f"{prefix}_context_kept"] = row["context_kept"]
    return figures, targets


def pin(cpu: str) -> None:
    """Put this process (and so the runner and its runtimes) on ``cpu`` (``0``, ``0,1``)."""
    if cpu != "unpinned":
        cpus = {int(c) for part in cpu.split(",") for c in _span(part)}
        os.sched_setaffinity(0, cpus)


def _span(part: str) -> range:
    low, _, high = part.partition("-")
    return range(int(low), int(high or low) + 1)


def main() -> None:
    args = arguments(__doc__ or "", updates=100, rate=2000, batch=4, cpu="unpinned")
    args.counts = (10,) if args.quick else (1, args.updates)
    pin(args.cpu)
    parameters = {
        "rate_msg_s": args.rate,
        "batch": args.batch,
        "updates": list(args.counts),
        "gap_ms": GAP_S * 1000,
        "warm_s": WARM_S,
        "tail_s": TAIL_S,
        "held": HELD,
        "cpu": args.cpu,
        "node_red": nodered.NODE_RED,
    }
    ours = trio.run(measure_ours, args)
    theirs, skipped = measure_node_red(args)
    figures, targets = flat(ours)
    figures |= {"ours": ours, "node_red": theirs}
    notes = [
        "lost / duplicated / reordered: sequence numbers at the sink, one edge into it",
        "context_kept: the module's count equals the messages it got; no update lowered it",
        "steady_p99_added_ms: p99 through the unchanged module of the messages on their way "
        "while an update ran, minus the same of the run without updates in the same windows",
        "update_ms: the add_or_update_flow call; async target 20 ms plus its 20 ms drain",
    ]
    if skipped is not None:
        notes.append(f"node-red skipped: {skipped}")
    emit("flows_hot_update", parameters, figures, targets, notes)


if __name__ == "__main__":
    main()
