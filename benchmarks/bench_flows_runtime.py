"""The shipped flow runtimes: the in-runtime hop, cold start, idle memory.

Per runtime (python, node on PATH, and the Node 24 that the n8n peer installs, if
found), started as the runner starts them (``open_runtime``: FIFOs, ``run_child``):

- **hop**: a chain of trivial modules (``send('out', message)``) wired to each other
  inside the runtime (``wire``, local edges), N messages pipelined, one ``invoke``
  each, every one answered by one ``done``. The chain of 10 and a chain of 1 are run
  alike; the per-hop time is the difference of the runtime's CPU time
  (``/proc/PID/schedstat``, ns) over ``9 * N`` hops, which leaves out the invoke/done
  frames and the runner's side. The same difference of wall times is given too: it
  is the hop's cost only when runner and runtime share one CPU (``--pin``); on two,
  the runner's side is the slower stage of the pipeline and hides the runtime's.
  Median over several runs.
- **cold start**: spawn -> ``hello`` -> ``loaded`` -> the first ``done`` of an echo
  module, p50 of 20 starts (one warm-up start first). ``*_bare_*``: the same with
  ``subprocess.Popen`` and the ``load`` and ``invoke`` written to the FIFO before the
  spawn, which leaves out the runner's side (``run_child``, Trio, three round trips).
- **idle RSS**: VmRSS (``/proc/PID/status``) after loading and invoking one module;
  for Python also after loading one async module (which imports asyncio).
- **the loop held by a start**: the longest Trio task step while ``open_runtime``
  starts a runtime (what one start holds up of the runner's other work).

``--pin CPU`` runs every runtime on that one CPU (and this process on another, if
there is one); without it the kernel places them.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import trio
from _common import NODE, PYTHON, Target, arguments, emit, log, median, pct, reap_children

import trio_launcher.flows
from trio_launcher.flows.runtime_process import RuntimeProcess, open_runtime
from trio_launcher.flows.wire import FrameReader, encode_frame

NODE_SCRIPT = str(Path(trio_launcher.flows.__file__).with_name("runtime.mjs"))
CHAIN = 10
TRIVIAL = {
    "python": "def handle(message, context, send):\n    send('out', message)\n",
    "node": "function handle(message, context, send) {\n  send('out', message);\n}\n",
}
ASYNC_PYTHON = "async def handle(message, context, send):\n    send('out', message)\n"


def runtimes() -> dict[str, tuple[str, list[str]]]:
    """name -> (language, command) of every runtime found on this machine."""
    found = {"python": ("python", [PYTHON, "-m", "trio_launcher.flows.runtime_py"])}
    node = shutil.which("node")
    if node:
        found["node"] = ("node", [node, NODE_SCRIPT])
    if os.path.exists(NODE):
        found["node24"] = ("node", [NODE, NODE_SCRIPT])
    return found


async def answer(runtime: RuntimeProcess, kind: str) -> Any:
    """The next frame of type ``kind``, skipping others; fails on an error frame."""
    while True:
        frame = await runtime.receive()
        if frame.type == kind:
            return frame
        if frame.type == "error":
            raise RuntimeError(f"the runtime sent {frame.header} {frame.body!r}")


async def load(runtime: RuntimeProcess, module: str, source: str) -> None:
    body = orjson.dumps({"source": source, "context": {}})
    runtime.send({"t": "load", "module": module}, body)
    await answer(runtime, "loaded")


async def wire(runtime: RuntimeProcess, module: str, targets: list[list[str]]) -> None:
    ports = {"out": {"local": targets, "runner": False}}
    runtime.send({"t": "wire", "module": module}, orjson.dumps({"ports": ports, "fence": None}))
    await answer(runtime, "wired")


async def chain(runtime: RuntimeProcess, source: str, length: int, prefix: str) -> str:
    """Load ``length`` modules wired one to the next, the last to nothing; the first's id."""
    names = [f"{prefix}{index}" for index in range(length)]
    for name in names:
        await load(runtime, name, source)
    for name, after in zip(names, [*names[1:], None], strict=True):
        await wire(runtime, name, [[after, "in"]] if after else [])
    return names[0]


def cpu_ns(pid: int) -> int:
    """Nanoseconds that process ``pid`` has run on a CPU."""
    with open(f"/proc/{pid}/schedstat") as schedstat:
        return int(schedstat.read().split()[0])


async def through(runtime: RuntimeProcess, first: str, count: int) -> tuple[float, float]:
    """Wall seconds from sending ``count`` invokes of ``first`` to the last ``done``, and
    the CPU seconds the runtime used meanwhile."""
    message = orjson.dumps({"n": 1})
    start, cpu = time.perf_counter(), cpu_ns(runtime.pid)
    for number in range(count):
        runtime.send({"t": "invoke", "id": str(number), "module": first, "port": "in"}, message)
    for _ in range(count):
        await answer(runtime, "done")
    return time.perf_counter() - start, (cpu_ns(runtime.pid) - cpu) / 1e9


async def hop(command: list[str], language: str, count: int, runs: int) -> dict[str, Any]:
    """Per-hop microseconds (median of ``runs``) and invocations/s through the chain of 10."""
    async with open_runtime(command) as runtime:
        assert runtime.hello is not None
        if "local-edges" not in runtime.hello.capabilities:
            return {"hop_skipped": "the runtime does not announce local-edges"}
        long = await chain(runtime, TRIVIAL[language], CHAIN, "long")
        short = await chain(runtime, TRIVIAL[language], 1, "short")
        await through(runtime, long, count // 10)  # warm-up (and the JIT, in Node)
        hops, walls, rates = [], [], []
        for _ in range(runs):
            long_wall, long_cpu = await through(runtime, long, count)
            short_wall, short_cpu = await through(runtime, short, count)
            hops.append((long_cpu - short_cpu) / ((CHAIN - 1) * count) * 1e6)
            walls.append((long_wall - short_wall) / ((CHAIN - 1) * count) * 1e6)
            rates.append(count / long_wall)
    return {
        "hop_median_us": round(statistics.median(hops), 3),
        "hop_min_us": round(min(hops), 3),
        "hop_wall_median_us": round(statistics.median(walls), 3),
        "chain10_invocations_per_s": round(statistics.median(rates)),
    }


def bare_cold_start(command: list[str], language: str) -> float:
    """Milliseconds from Popen to the first done, the frames written ahead (no Trio)."""
    with tempfile.TemporaryDirectory() as folder:
        to_runtime, from_runtime = os.path.join(folder, "in"), os.path.join(folder, "out")
        os.mkfifo(to_runtime, 0o600)
        os.mkfifo(from_runtime, 0o600)
        to_fd, from_fd = os.open(to_runtime, os.O_RDWR), os.open(from_runtime, os.O_RDWR)
        body = orjson.dumps({"source": TRIVIAL[language], "context": {}})
        os.write(to_fd, encode_frame({"t": "load", "module": "echo"}, body))
        os.write(to_fd, encode_frame({"t": "invoke", "id": "1", "module": "echo", "port": "in"}))
        start = time.perf_counter()
        process = subprocess.Popen([*command, to_runtime, from_runtime])
        reader = FrameReader()
        try:
            while not any(frame.type == "done" for frame in reader.feed(os.read(from_fd, 1 << 16))):
                pass
            return (time.perf_counter() - start) * 1000
        finally:
            process.kill()
            process.wait()
            os.close(to_fd)
            os.close(from_fd)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def cold_start(command: list[str], language: str) -> tuple[float, float]:
    """Milliseconds from spawn to the first done of a loaded echo; then its idle RSS (MB)."""
    start = time.perf_counter()
    async with open_runtime(command) as runtime:
        await load(runtime, "echo", TRIVIAL[language])
        runtime.send({"t": "invoke", "id": "1", "module": "echo", "port": "in"}, b"1")
        await answer(runtime, "done")
        elapsed = (time.perf_counter() - start) * 1000
        return elapsed, rss_mb(runtime.pid)


class _LongestStep(trio.abc.Instrument):
    """The longest run of one task step: how long the Trio thread was held at once."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began: float | None = None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._began = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._began is not None:
            self.longest = max(self.longest, time.perf_counter() - self._began)
            self._began = None


async def loop_held_by_start(command: list[str], starts: int) -> float:
    """Median over ``starts`` of the longest Trio step while ``open_runtime`` starts a
    runtime (ms): what a start costs the runner's other work."""
    longest = []
    for _ in range(starts):
        instrument = _LongestStep()
        trio.lowlevel.add_instrument(instrument)
        try:
            async with open_runtime(command):
                pass
        finally:
            trio.lowlevel.remove_instrument(instrument)
        longest.append(instrument.longest * 1000)
    return median(longest)


async def async_rss(command: list[str]) -> float:
    """The Python runtime's RSS once an async module is loaded and invoked (MB)."""
    async with open_runtime(command) as runtime:
        await load(runtime, "echo", ASYNC_PYTHON)
        runtime.send({"t": "invoke", "id": "1", "module": "echo", "port": "in"}, b"1")
        await answer(runtime, "done")
        return rss_mb(runtime.pid)


async def measure(name: str, language: str, command: list[str], args: Any) -> dict[str, Any]:
    count = args.messages or (5_000 if args.quick else 20_000)
    count *= 1 if language == "python" else 2
    runs, starts = (3, 5) if args.quick else (7, 20)
    figures: dict[str, Any] = {
        f"{name}_{k}": v for k, v in (await hop(command, language, count, runs)).items()
    }
    await cold_start(command, language)  # warm the page cache
    timings, memory = [], []
    for _ in range(starts):
        elapsed, rss = await cold_start(command, language)
        timings.append(elapsed)
        memory.append(rss)
    figures[f"{name}_cold_start_p50_ms"] = median(timings)
    figures[f"{name}_cold_start_p90_ms"] = round(pct(timings, 90), 1)
    figures[f"{name}_idle_rss_mb"] = median(memory)
    bare = [bare_cold_start(command, language) for _ in range(starts)]
    figures[f"{name}_cold_start_bare_p50_ms"] = median(bare)
    figures[f"{name}_start_holds_loop_ms"] = await loop_held_by_start(command, starts)
    if language == "python":
        figures[f"{name}_idle_rss_with_async_module_mb"] = await async_rss(command)
    log(f"{name}: {figures}")
    return figures


def targets_for(name: str) -> dict[str, Target]:
    cold = 100.0 if name == "node" else 50.0
    rss = 16.0 if name == "python" else 50.0
    return {
        f"{name}_hop_median_us": ("<=", 2.0),
        f"{name}_cold_start_p50_ms": ("<=", cold),
        f"{name}_idle_rss_mb": ("<=", rss),
    }


def pin(cpu: int | None) -> str:
    """Pin this process (and so the runtimes it starts) as asked; the placement, in words."""
    if cpu is None:
        return f"unpinned (CPUs {sorted(os.sched_getaffinity(0))})"
    os.sched_setaffinity(0, {cpu})
    return f"runner and runtime both on CPU {cpu}"


def main() -> None:
    args = arguments(__doc__ or "", messages=0, pin=-1)
    placement = pin(None if args.pin < 0 else args.pin)
    found = runtimes()
    figures: dict[str, Any] = {}
    targets: dict[str, Target] = {}
    versions: dict[str, str] = {}
    try:
        for name, (language, command) in found.items():
            log(f"measuring {name}: {' '.join(command)}")
            figures.update(trio.run(measure, name, language, command, args))
            targets.update(targets_for(name))
            versions[name] = command[0]
    finally:
        reap_children()
    for key, (op, value) in targets.items():
        log(f"{key}: {figures.get(key)} (target {op} {value:g})")
    emit(
        "flows_runtime",
        {"runtimes": versions, "chain": CHAIN, "placement": placement, "quick": args.quick},
        figures,
        targets,
        [
            "hop: (chain of 10 - chain of 1) / (9 * messages); one invoke and one done per message",
            "node runs twice as many messages as python; Node-RED's hop is ~9 us",
            "cold start: open_runtime (FIFOs, spawn) -> hello -> loaded -> first done",
            "start_holds_loop: the longest Trio task step while open_runtime starts one",
            "" if "node24" in found else f"no Node 24 at {NODE}: node24 skipped",
            f"python {sys.version.split()[0]}",
        ],
    )


if __name__ == "__main__":
    main()
