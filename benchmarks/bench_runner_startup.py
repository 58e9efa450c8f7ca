"""Runner start-up: process start of ``python -m trio_launcher.runner`` -> first taskoffer.

A minimal fake broker (trio-websocket, in this process) records when the runner's
WebSocket arrives, when ``runner:info`` arrives and when the first ``runner:taskoffer``
arrives; it then drains and closes, so the runner exits by itself. Baselines: a bare
interpreter, the runner's imports, the worker's imports. One more run under
``-X importtime`` gives the biggest imports (not counted in the timings). The same
start-up of n8n's JS runner (``node start.js`` from the peer's install, started
directly), if the peer is installed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections import defaultdict
from typing import Any

import trio
import trio_websocket
from _common import (
    CHILD_OUTPUT,
    JS_RUNNER_START,
    NODE,
    PYTHON,
    Target,
    arguments,
    emit,
    js_runner_skipped,
    log,
    median,
    pct,
    reap_children,
    tree_cpu,
)

from trio_launcher.runner.executor.worker_handle import worker_bootstrap

RUNNER = [PYTHON, "-m", "trio_launcher.runner"]
#: The worker's import set, found the way the worker finds it.
WORKER_IMPORTS = worker_bootstrap("import trio_launcher.runner.worker.zygote")


class FakeBroker:
    """Registers any runner and timestamps its first frames."""

    def __init__(self) -> None:
        self.events: dict[str, float] = {}
        self.offered = trio.Event()
        self.pid = 0
        self.cpu_ms = 0.0

    def reset(self, pid: int) -> None:
        self.events, self.offered, self.pid = {}, trio.Event(), pid

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        self.events.setdefault("connect", time.monotonic())
        ws = await request.accept()
        await ws.send_message('{"type":"broker:inforequest"}')
        try:
            while not self.offered.is_set():
                kind = json.loads(await ws.get_message())["type"]
                if kind == "runner:info":
                    self.events["info"] = time.monotonic()
                    await ws.send_message('{"type":"broker:runnerregistered"}')
                elif kind == "runner:taskoffer":
                    self.events["offer"] = time.monotonic()
                    self.cpu_ms = round(tree_cpu(self.pid) * 1000, 1)
                    self.offered.set()
            await ws.send_message('{"type":"broker:drain"}')
            await ws.aclose(1001, "bench done")
        except trio_websocket.ConnectionClosed:
            pass


def runner_env(port: int) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "N8N_RUNNERS_GRANT_TOKEN": "bench",
        "N8N_RUNNERS_TASK_BROKER_URI": f"http://127.0.0.1:{port}",
        "N8N_RUNNERS_MAX_CONCURRENCY": "5",
    }


async def one_start(
    broker: FakeBroker, port: int, command: list[str] = RUNNER, importtime: bool = False
) -> dict[str, Any]:
    if importtime:
        command = [PYTHON, "-X", "importtime", *RUNNER[1:]]
    stderr = subprocess.PIPE if importtime else CHILD_OUTPUT
    start = time.monotonic()
    proc = await trio.lowlevel.open_process(
        command, env=runner_env(port), stdout=CHILD_OUTPUT, stderr=stderr
    )
    broker.reset(proc.pid)
    err = b""
    try:
        with trio.fail_after(30):
            await broker.offered.wait()
            if importtime:
                assert proc.stderr is not None
                async with proc.stderr:
                    err = b"".join([chunk async for chunk in proc.stderr])
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    times = {k: round((v - start) * 1000, 1) for k, v in broker.events.items()}
    times["cpu_at_offer"] = broker.cpu_ms
    return {"ms": times, "exit": proc.returncode, "stderr": err.decode(errors="replace")}


def parse_importtime(text: str) -> dict[str, Any]:
    rows: list[tuple[str, int, int]] = []  # (module, self us, cumulative us)
    for line in text.splitlines():
        if line.startswith("import time:") and "|" in line and "self" not in line:
            own, cumulative, name = line[len("import time:") :].split("|")
            rows.append((name.strip(), int(own), int(cumulative)))
    by_package: dict[str, int] = defaultdict(int)
    for name, own_us, _ in rows:
        by_package[name.split(".")[0]] += own_us
    top = sorted(rows, key=lambda r: -r[2])[:10]
    top_self = sorted(rows, key=lambda r: -r[1])[:10]
    return {
        "total_ms": round(sum(r[1] for r in rows) / 1000, 1),
        "top10_cumulative_ms": {name: round(c / 1000, 1) for name, _, c in top},
        "top10_self_ms": {name: round(s / 1000, 1) for name, s, _ in top_self},
        "self_ms_by_package": {
            k: round(v / 1000, 1) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
        },
    }


def timed(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) milliseconds of running ``command``."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall.append((time.monotonic() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return round(median(wall), 1), round(median(cpu), 1)


async def starts(broker: FakeBroker, port: int, command: list[str], runs: int) -> list[Any]:
    await one_start(broker, port, command)  # warm the page cache and compiled files
    results = []
    for n in range(runs):
        results.append(await one_start(broker, port, command))
        name = os.path.basename(command[0])
        log(f"{name} run {n + 1}: {results[-1]['ms']} exit {results[-1]['exit']}")
    return results


async def run(runs: int, js: bool) -> tuple[list[Any], list[Any], dict[str, Any]]:
    broker = FakeBroker()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            trio_websocket.serve_websocket, broker.handle, "127.0.0.1", 0, None
        )
        port = server.port
        results = await starts(broker, port, RUNNER, runs)
        imports = parse_importtime((await one_start(broker, port, importtime=True))["stderr"])
        js_results = await starts(broker, port, [NODE, JS_RUNNER_START], runs) if js else []
        nursery.cancel_scope.cancel()
    return results, js_results, imports


def summary(results: list[Any], prefix: str = "") -> dict[str, Any]:
    offer = [r["ms"]["offer"] for r in results]
    return {
        f"{prefix}start_to_first_offer_p50_ms": median(offer),
        f"{prefix}start_to_first_offer_max_ms": max(offer),
        f"{prefix}start_to_first_offer_p90_ms": pct(offer, 90),
        f"{prefix}start_to_connect_p50_ms": median(r["ms"]["connect"] for r in results),
        f"{prefix}start_to_info_p50_ms": median(r["ms"]["info"] for r in results),
        f"{prefix}cpu_ms_at_first_offer_p50": median(r["ms"]["cpu_at_offer"] for r in results),
        f"{prefix}exit_codes": sorted({r["exit"] for r in results}),
    }


def main() -> None:
    args = arguments(__doc__ or "", runs=10)
    runs = 5 if args.quick else args.runs
    js_skipped = js_runner_skipped(NODE, JS_RUNNER_START)
    js = js_skipped is None
    try:
        results, js_results, imports = trio.run(run, runs, js)
    finally:
        reap_children()
    figures: dict[str, Any] = summary(results)
    if js_results:
        figures.update(summary(js_results, "js_"))
    baseline_runs = 3 if args.quick else 5
    baselines = {
        "bare_python": [PYTHON, "-c", "pass"],
        "runner_imports": [PYTHON, "-c", "import trio_launcher.cli.runner, trio_launcher.runner"],
        "worker_imports": [PYTHON, "-P", "-c", WORKER_IMPORTS],
    }
    for name, command in baselines.items():
        figures[f"{name}_ms"], figures[f"{name}_cpu_ms"] = timed(command, baseline_runs)
    figures["importtime"] = imports
    targets: dict[str, Target] = {"start_to_first_offer_p50_ms": ("<=", 300)}
    emit(
        "runner_startup",
        {"runs": runs, "command": " ".join(RUNNER[1:]), "broker": "fake (in-process)"},
        figures,
        targets,
        [
            "timings from process spawn; *_imports_ms are wall times of separate interpreters",
            "importtime figures come from one extra run under -X importtime (slower than real)",
            "js_*: n8n's JS runner, `node start.js` from the peer's install, started directly"
            if js
            else str(js_skipped),
        ],
    )


if __name__ == "__main__":
    main()
