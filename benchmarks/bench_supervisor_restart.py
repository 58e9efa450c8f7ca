"""Time from a plugin crash to its restart.

A plugin prints the time and exits with code 1 right away; its backoff is 0, so
the supervisor restarts it at once, over and over. For each crash we measure:

- ``detect_ms``: plugin exit (the time it printed just before ``_exit``) to the
  supervisor's ``crashed`` event;
- ``respawn_ms``: ``crashed`` event to the ``started`` event of the new process;
- ``end_to_end_ms``: plugin exit to the first line of code of the new plugin
  process (includes the interpreter's start-up).

Prints one JSON line. Usage: ``python benchmarks/bench_supervisor_restart.py [--cycles N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import trio

from trio_launcher.supervisor import load_config, run_supervisor

PLUGIN = """\
#!{python} -Su
import os, time
print("start_at", time.time(), flush=True)
print("exit_at", time.time(), flush=True)
os._exit(1)
"""

CONFIG = """\
control_socket: null
scan_interval: 0
monitor_interval: 0
create_credentials: false
plugins:
  crashy:
    ready: {after: 0}
    backoff: {initial: 0, max: 0, jitter: 0}
    log: {max_size: 64MB}
"""


def summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
    }


async def measure(folder: Path, cycles: int) -> dict[str, Any]:
    plugin = folder / "plugins" / "crashy"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN.format(python=sys.executable))
    plugin.chmod(0o755)
    (folder / "launcher.yaml").write_text(CONFIG)
    config = load_config(folder / "launcher.yaml")
    async with trio.open_nursery() as nursery:
        supervisor = await nursery.start(run_supervisor, config)
        with supervisor.events() as events:
            await supervisor.start("crashy")
            crashed: list[float] = []
            started: list[float] = []
            async for event in events:
                if event.kind == "crashed":
                    crashed.append(event.time)
                elif event.kind == "started":
                    started.append(event.time)
                    if len(started) > cycles + 1:
                        break
        await supervisor.stop("crashy")
        nursery.cancel_scope.cancel()
    lines = (folder / "logs" / "crashy.log").read_text().splitlines()
    starts = [float(line.split()[-1]) for line in lines if " stdout start_at " in line]
    exits = [float(line.split()[-1]) for line in lines if " stdout exit_at " in line]
    count = min(len(crashed), len(exits), len(starts) - 1, cycles)
    return {
        "benchmark": "supervisor_restart",
        "cycles": count,
        "detect_ms": summary([(crashed[i] - exits[i]) * 1000 for i in range(count)]),
        "respawn_ms": summary([(started[i + 1] - crashed[i]) * 1000 for i in range(count)]),
        "end_to_end_ms": summary([(starts[i + 1] - exits[i]) * 1000 for i in range(count)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = trio.run(measure, Path(folder), args.cycles)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
