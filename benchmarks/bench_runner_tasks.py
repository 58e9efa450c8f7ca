"""Warm task round trips through our broker: our Python runner and n8n's JS runner.

Our broker runs in this process; each runner is a separate process. For each: round
trip of a trivial task (``return []``) one at a time (p50/p99), tasks/s with 5 tasks in
flight, then, with both runners idle, RSS/PSS of each runner's process tree and the CPU
seconds it uses over an idle window. n8n's JS runner is started with the peer's
``run-js-runner.sh`` pointed at our broker; that half is skipped if the peer is missing.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import trio
from _common import (
    CHILD_OUTPUT,
    JS_RUNNER_SCRIPT,
    JS_RUNNER_START,
    PYTHON,
    TRIVIAL_TASK,
    Target,
    arguments,
    emit,
    js_runner_skipped,
    log,
    median,
    pct,
    reap_children,
    tree_cpu,
    tree_memory,
)

from trio_launcher.broker import Broker, BrokerConfig, open_broker

TOKEN = "test-token"
JS_SETTINGS = {
    "code": "return []",
    "nodeMode": "runOnceForAllItems",
    "workflowMode": "manual",
    "continueOnFail": False,
    "additionalProperties": {},
}


async def round_trips(broker: Broker, task_type: str, settings: Any, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await broker.run_task(task_type, settings)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def throughput(broker: Broker, task_type: str, settings: Any, n: int, conc: int) -> float:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await broker.run_task(task_type, settings)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(conc):
            nursery.start_soon(worker)
    return n / (time.perf_counter() - start)


async def wait_registered(broker: Broker, runners: int) -> None:
    with trio.fail_after(60):
        while broker.status().runners < runners:  # noqa: ASYNC110 - no event to wait on
            await trio.sleep(0.05)


async def measure(
    broker: Broker, runner_pid: int, task_type: str, settings: Any, quick: bool
) -> dict[str, Any]:
    first = await round_trips(broker, task_type, settings, 1)  # a fresh runner's first task
    await round_trips(broker, task_type, settings, 20)  # warm up
    rtt = await round_trips(broker, task_type, settings, 100 if quick else 300)
    tasks = 150 if quick else 600
    broker_cpu, runner_cpu = time.process_time(), tree_cpu(runner_pid)
    rate = await throughput(broker, task_type, settings, tasks, 5)
    broker_cpu, runner_cpu = time.process_time() - broker_cpu, tree_cpu(runner_pid) - runner_cpu
    log(f"{task_type}: p50 {median(rtt):.2f} ms, p99 {pct(rtt, 99):.2f} ms, {rate:.0f} tasks/s")
    return {
        "first_task_ms": round(first[0], 2),
        "round_trip_p50_ms": round(median(rtt), 2),
        "round_trip_p99_ms": round(pct(rtt, 99), 2),
        "round_trip_max_ms": round(max(rtt), 2),
        "tasks_per_s_c5": round(rate, 1),
        "cpu_ms_per_task_runner": round(runner_cpu / tasks * 1000, 2),
        "cpu_ms_per_task_broker": round(broker_cpu / tasks * 1000, 2),
    }


async def idle(pids: dict[str, int], window: float) -> dict[str, Any]:
    """Memory right after the tasks and at the end of an idle window; CPU over the window."""
    await trio.sleep(2)  # let the last task processes be reaped
    figures: dict[str, Any] = {}
    cpu = {name: tree_cpu(pid) for name, pid in pids.items()}
    for name, pid in pids.items():
        figures[f"{name}_rss_after_tasks_mb"] = tree_memory(pid)["rss_mb"]
    await trio.sleep(window)
    for name, pid in pids.items():
        figures[f"{name}_idle_cpu_s"] = round(tree_cpu(pid) - cpu[name], 3)
        memory = tree_memory(pid)
        figures[f"{name}_idle_rss_mb"] = memory["rss_mb"]
        figures[f"{name}_idle_pss_mb"] = memory["pss_mb"]
        figures[f"{name}_idle_resident_mb"] = memory["resident_mb"]
        figures[f"{name}_idle_rss_mb_each_process"] = memory["rss_mb_each"]
    return figures


async def start_python_runner(broker: Broker) -> trio.Process:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "N8N_RUNNERS_GRANT_TOKEN": broker.issue_grant_token(),
        "N8N_RUNNERS_TASK_BROKER_URI": broker.url,
    }
    command = [PYTHON, "-m", "trio_launcher.runner"]
    return await trio.lowlevel.open_process(
        command, env=env, stdout=CHILD_OUTPUT, stderr=CHILD_OUTPUT
    )


async def start_js_runner(broker: Broker, state_dir: str) -> trio.Process:
    env = {
        **os.environ,
        "RUNNER_BROKER_URI": broker.url,
        "N8N_RUNNERS_AUTH_TOKEN": TOKEN,
        "N8N_RUNNERS_MAX_CONCURRENCY": "5",
        # Our own run/ and logs/, so the shared peer's PID files are never touched.
        "N8N_PEER_INSTANCE_DIR": state_dir,
    }
    command = [JS_RUNNER_SCRIPT]  # execs node: same PID
    return await trio.lowlevel.open_process(
        command, env=env, stdout=CHILD_OUTPUT, stderr=CHILD_OUTPUT
    )


async def run(
    quick: bool, state_dir: str, js_skipped: str | None
) -> tuple[dict[str, Any], list[str]]:
    figures: dict[str, Any] = {}
    notes: list[str] = []
    procs: dict[str, trio.Process] = {}
    config = BrokerConfig(port=0, auth_token=TOKEN, task_request_timeout=30)
    async with open_broker(config) as broker:
        procs["python"] = await start_python_runner(broker)
        await wait_registered(broker, 1)
        py = await measure(broker, procs["python"].pid, "python", TRIVIAL_TASK, quick)
        figures.update({f"python_{key}": value for key, value in py.items()})
        if js_skipped is None:
            procs["js"] = await start_js_runner(broker, state_dir)
            await wait_registered(broker, 2)
            js = await measure(broker, procs["js"].pid, "javascript", JS_SETTINGS, quick)
            figures.update({f"js_{key}": value for key, value in js.items()})
        else:
            notes.append(js_skipped)
        window = 5.0 if quick else 60.0
        figures["idle_window_s"] = window
        figures.update(await idle({name: p.pid for name, p in procs.items()}, window))
    # Leaving open_broker drained the broker: both runners exit by themselves.
    for name, proc in procs.items():
        with trio.move_on_after(15):
            await proc.wait()
        if proc.returncode is None:
            notes.append(f"{name} runner did not exit after the broker drained: killed")
            proc.kill()
    return figures, notes


def main() -> None:
    args = arguments(__doc__ or "")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-js-") as state_dir:
            js_skipped = js_runner_skipped(JS_RUNNER_SCRIPT, JS_RUNNER_START)
            figures, notes = trio.run(run, args.quick, state_dir, js_skipped)
    finally:
        left = reap_children()
    if left:
        notes.append(f"processes left behind and killed: {left}")
    targets: dict[str, Target] = {
        "python_round_trip_p50_ms": ("<=", 5),
        "python_round_trip_p99_ms": ("<=", 20),
        "python_tasks_per_s_c5": (">=", 300),
        "python_idle_resident_mb": ("<=", 40),
    }
    emit(
        "runner_tasks",
        {"task": "return []", "concurrency": 5, "quick": args.quick, "broker": "ours, in-process"},
        figures,
        targets,
        [
            "round trip = broker.run_task() in the broker's process; runner in its own process",
            "idle RSS/PSS at the end of the idle window (the worker drops its spare task "
            "process after 30 s idle, so only a full run's 60 s window shows it gone)",
            "memory in MB (10^6 bytes); RSS sums the tree, so pages the runner and the worker "
            "share (the interpreter, libc) count twice; resident counts each page once: the "
            "RAM the tree holds, the figure the target is for",
            *notes,
        ],
    )


if __name__ == "__main__":
    main()
