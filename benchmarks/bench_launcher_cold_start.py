"""Cold start through the launcher: a task submitted with no runner running -> its result.

Our broker and ``run_launcher`` run in this process (runner auto-shutdown 1 s); each
run waits for the launcher to be back in ``Phase.HANDSHAKING`` with its offer at the
broker, submits ``return []`` and times the result; ``submit_to_spawn`` is when the
launcher had started the runner process. Then ``trio-launcher launch python`` runs as
its own process against the same broker: its RSS and CPU while idle. With ``--n8n``,
also the cold start of the real n8n webhook ``peer-py`` with that command attached to
the peer's broker (a private n8n instance: own state folder and ports).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any

import attrs
import httpx
import trio
from _common import (
    CHILD_OUTPUT,
    PEER_DIR,
    PYTHON,
    TRIVIAL_TASK,
    Target,
    arguments,
    emit,
    free_port,
    log,
    median,
    reap_children,
    tree_cpu,
    tree_memory,
)

from trio_launcher.broker import Broker, BrokerConfig, open_broker
from trio_launcher.launcher import LauncherConfig, Phase, run_launcher
from trio_launcher.launcher.config import default_runner

TOKEN = "test-token"
LAUNCHER = os.path.join(os.path.dirname(PYTHON), "trio-launcher")


async def wait_offer(broker: Broker) -> None:
    with trio.fail_after(30):
        while broker.status().offers < 1:  # noqa: ASYNC110 - polls the broker's counts
            await trio.sleep(0.005)


async def wait_accepted(broker: Broker, when: list[float]) -> None:
    """Note when a runner has accepted the task (polled every millisecond)."""
    while not broker.status().tasks_in_flight:  # noqa: ASYNC110 - polls the broker's counts
        await trio.sleep(0.001)
    when.append(trio.current_time())


async def cold_starts(broker: Broker, runs: int) -> list[dict[str, float]]:
    spec = default_runner("python")
    assert spec is not None
    config = LauncherConfig(
        auth_token=TOKEN,
        runners=(attrs.evolve(spec, health_check_port=free_port()),),
        task_broker_uri=broker.url,
        auto_shutdown_timeout=1,
        health_check_port=0,
    )
    results = []
    async with trio.open_nursery() as nursery:
        launcher = await nursery.start(run_launcher, config)
        for n in range(runs):
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            await wait_offer(broker)
            start = trio.current_time()
            accepted: list[float] = []
            async with trio.open_nursery() as watch:
                watch.start_soon(wait_accepted, broker, accepted)
                await broker.run_task("python", TRIVIAL_TASK)
                watch.cancel_scope.cancel()
            took = trio.current_time() - start
            status = launcher.statistics().runners["python"]
            spawn = status.since - start if status.phase is Phase.RUNNER_RUNNING else float("nan")
            times = {
                "total": took,
                "submit_to_spawn": spawn,
                "submit_to_accept": accepted[0] - start,
            }
            results.append({k: round(v * 1000, 1) for k, v in times.items()})
            log(f"cold start {n + 1}: {results[-1]} ms")
        nursery.cancel_scope.cancel()
    return results


def runner_config_file(directory: str) -> str:
    """An n8n-task-runners.json for our runner, with a free health-check port."""
    path = os.path.join(directory, "n8n-task-runners.json")
    entry = {
        "runner-type": "python",
        "workdir": os.getcwd(),
        "command": PYTHON,
        "args": ["-m", "trio_launcher.runner"],
        "health-check-server-port": str(free_port()),
        "allowed-env": ["PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH"],
    }
    with open(path, "w") as f:
        json.dump({"task-runners": [entry]}, f)
    return path


def launcher_env(broker_url: str, config_path: str, health_port: int = 0) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "N8N_RUNNERS_AUTH_TOKEN": TOKEN,
        "N8N_RUNNERS_TASK_BROKER_URI": broker_url,
        "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "1",
        "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT": str(health_port),
        "N8N_RUNNERS_CONFIG_PATH": config_path,
        "N8N_RUNNERS_LAUNCHER_LOG_LEVEL": "warning",
    }


async def launcher_idle(broker: Broker, config_path: str, window: float) -> dict[str, float]:
    env = launcher_env(broker.url, config_path)
    start = trio.current_time()
    proc = await trio.lowlevel.open_process(
        [LAUNCHER, "launch", "python"], env=env, stdout=CHILD_OUTPUT, stderr=CHILD_OUTPUT
    )
    try:
        await wait_offer(broker)
        ready = trio.current_time() - start
        await trio.sleep(1)
        memory = tree_memory(proc.pid)
        cpu = tree_cpu(proc.pid)
        await trio.sleep(window)
        cpu = tree_cpu(proc.pid) - cpu
    finally:
        proc.terminate()
        with trio.move_on_after(10):
            await proc.wait()
    return {
        "launcher_start_to_offer_ms": round(ready * 1000, 1),
        "launcher_idle_rss_mb": memory["rss_mb"],
        "launcher_idle_pss_mb": memory["pss_mb"],
        "launcher_idle_cpu_s": round(cpu, 3),
        "launcher_idle_window_s": window,
    }


async def local(runs: int, window: float, tmp: str) -> dict[str, Any]:
    async with open_broker(BrokerConfig(port=0, auth_token=TOKEN)) as broker:
        results = await cold_starts(broker, runs)
        figures: dict[str, Any] = {
            "cold_start_p50_ms": median(r["total"] for r in results),
            "cold_start_max_ms": max(r["total"] for r in results),
            "submit_to_runner_spawned_p50_ms": median(r["submit_to_spawn"] for r in results),
            "submit_to_runner_accepted_p50_ms": median(r["submit_to_accept"] for r in results),
            "cold_start_runs_ms": [r["total"] for r in results],
        }
        figures.update(await launcher_idle(broker, runner_config_file(tmp), window))
    return figures


# --- through the real n8n ------------------------------------------------------------


def peer(script: str, env: dict[str, str], timeout: float) -> None:
    path = os.path.join(PEER_DIR, script)
    subprocess.run([path], env=env, check=True, timeout=timeout, stdout=CHILD_OUTPUT)


def launcher_phase(port: int) -> tuple[str, int]:
    try:
        runner = httpx.get(f"http://127.0.0.1:{port}/healthz").json()["runners"]["python"]
    except (httpx.HTTPError, ValueError, KeyError):
        return "", -1
    return runner["phase"], runner["launches"]


def wait_phase(port: int, phase: str, launches: int, timeout: float = 30) -> None:
    """Poll the launcher's /healthz until it is in ``phase`` with ``launches`` or more."""
    deadline = time.monotonic() + timeout
    while (now := launcher_phase(port)) < (phase, launches) or now[0] != phase:
        if time.monotonic() > deadline:
            raise TimeoutError(f"launcher not in {phase} after {timeout} s: {now}")
        time.sleep(0.02)


def through_n8n(runs: int, tmp: str) -> dict[str, Any]:
    n8n_port, broker_port, health_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "N8N_PEER_INSTANCE_DIR": os.path.join(tmp, "n8n"),
        "N8N_PORT": str(n8n_port),
        "N8N_RUNNERS_BROKER_PORT": str(broker_port),
    }
    started = time.monotonic()
    try:
        peer("start.sh", env, 240)
        log(f"n8n started in {time.monotonic() - started:.1f} s")
        broker_url = f"http://127.0.0.1:{broker_port}"
        launch_env = launcher_env(broker_url, runner_config_file(tmp), health_port)
        launcher = subprocess.Popen(
            [LAUNCHER, "launch", "python"], env=launch_env, stdout=CHILD_OUTPUT, stderr=CHILD_OUTPUT
        )
        cold: list[float] = []
        warm: list[float] = []
        url = f"http://127.0.0.1:{n8n_port}/webhook/peer-py?msg=bench"
        try:
            for n in range(runs):
                wait_phase(health_port, "handshaking", n)
                time.sleep(0.5)  # the handshake's offer reaches the broker
                for times in (cold, warm):
                    start = time.monotonic()
                    response = httpx.get(url, timeout=60)
                    times.append((time.monotonic() - start) * 1000)
                    assert response.status_code == 200, response.text
                log(f"n8n cold start {n + 1}: {cold[-1]:.0f} ms, then warm {warm[-1]:.0f} ms")
                wait_phase(health_port, "runner_running", n + 1)
        finally:
            launcher.terminate()
            launcher.wait(timeout=15)
    finally:
        peer("stop.sh", env, 90)
    return {
        "n8n_cold_start_p50_ms": round(median(cold), 1),
        "n8n_cold_start_max_ms": round(max(cold), 1),
        "n8n_warm_webhook_p50_ms": round(median(warm), 1),
        "n8n_cold_start_runs_ms": [round(x, 1) for x in cold],
    }


def main() -> None:
    args = arguments(__doc__ or "", runs=5, n8n=False)
    runs = 3 if args.quick else args.runs
    window = 5.0 if args.quick else 60.0
    notes = [f"launcher idle window {window} s", "runner auto-shutdown 1 s between runs"]
    targets: dict[str, Target] = {
        "cold_start_p50_ms": ("<=", 500),
        "launcher_idle_rss_mb": ("<=", 35),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-launcher-") as tmp:
            figures = trio.run(local, runs, window, tmp)
            if args.n8n:
                figures.update(through_n8n(runs, tmp))
                targets["n8n_cold_start_p50_ms"] = ("<=", 1000)
    finally:
        left = reap_children()
    if left:
        notes.append(f"processes left behind and killed: {left}")
    emit(
        "launcher_cold_start",
        {"runs": runs, "task": "return []", "n8n": args.n8n},
        figures,
        targets,
        notes,
    )


if __name__ == "__main__":
    main()
