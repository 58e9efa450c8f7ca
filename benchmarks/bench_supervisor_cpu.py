"""CPU cost of the supervisor itself while it monitors idle plugins.

Starts ``trio-launcher supervise`` in its own process with N idle plugins
(shell scripts that ``exec sleep``), the default sampling and folder-scan
periods (5 s) and the control socket. Once every plugin runs, it measures the
supervisor process's CPU time (user + system, psutil) over a window. Target:
under 1 % of one core with 100 plugins.

Prints one JSON line. Usage:
``python benchmarks/bench_supervisor_cpu.py [--plugins 100] [--seconds 30] [--monitor-interval 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from trio_launcher.supervisor import ControlClient

PLUGIN = "#!/bin/sh\nexec sleep 100000\n"
CLI = [sys.executable, "-c", "import sys; from trio_launcher.cli import main; sys.exit(main())"]


def write_setup(folder: Path, plugins: int, monitor_interval: float) -> list[str]:
    names = [f"idle{number:03}" for number in range(plugins)]
    (folder / "plugins").mkdir()
    for name in names:
        path = folder / "plugins" / name
        path.write_text(PLUGIN)
        path.chmod(0o755)
    (folder / "launcher.yaml").write_text(
        f"autostart: [{', '.join(names)}]\n"
        f"monitor_interval: {monitor_interval}\n"
        "create_credentials: false\n"
        "defaults: {ready: {after: 0}}\n"
    )
    return names


def wait_until_running(socket: Path, names: set[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the supervisor did not start")
        time.sleep(0.05)
    with ControlClient(socket, timeout=timeout) as client:
        snapshot, events = client.events()
        running = {plugin["name"] for plugin in snapshot if plugin["status"] == "running"}
        for event in events:
            if running >= names:
                return
            if event["event"] == "started":
                running.add(event["name"])
            if running >= names:
                return


def measure(folder: Path, plugins: int, seconds: float, monitor_interval: float) -> dict[str, Any]:
    names = write_setup(folder, plugins, monitor_interval)
    command = [
        *CLI,
        "supervise",
        "--config",
        str(folder / "launcher.yaml"),
        "--log-level",
        "warning",
    ]
    supervisor = subprocess.Popen(command, start_new_session=True)
    try:
        wait_until_running(folder / "launcher.sock", set(names))
        time.sleep(1.0)  # let start-up work settle
        process = psutil.Process(supervisor.pid)
        before, started = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = process.cpu_times(), time.monotonic() - started
        with ControlClient(folder / "launcher.sock") as client:
            statuses = client.ls()
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=120)
    used = (after.user - before.user) + (after.system - before.system)
    percent = used / elapsed * 100.0
    return {
        "benchmark": "supervisor_cpu",
        "plugins": plugins,
        "running": sum(1 for status in statuses if status["status"] == "running"),
        "monitor_interval_s": monitor_interval,
        "window_s": round(elapsed, 2),
        "cpu_seconds": round(used, 4),
        "cpu_percent_of_one_core": round(percent, 3),
        "target_percent": 1.0,
        "ok": percent < 1.0,
        "cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--monitor-interval", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(Path(folder), args.plugins, args.seconds, args.monitor_interval)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
