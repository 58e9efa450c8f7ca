"""Helpers for launcher tests: configs around the embedded broker and real runners."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import attrs

from trio_launcher.broker import Broker
from trio_launcher.launcher import LauncherConfig, RunnerSpec
from trio_launcher.launcher.config import default_runner
from trio_launcher.process import Backoff

FAST_BACKOFF = Backoff(initial=0.05, maximum=0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def python_runner(**overrides: Any) -> RunnerSpec:
    spec = default_runner("python")
    assert spec is not None
    return attrs.evolve(spec, health_check_port=free_port(), **overrides)


def script_runner(code: str, runner_type: str = "python") -> RunnerSpec:
    """A 'runner' that is just a Python script (to crash, hang or misbehave)."""
    return RunnerSpec(
        runner_type=runner_type,
        command=sys.executable,
        args=("-c", code),
        workdir=os.getcwd(),
        health_check_port=free_port(),
    )


def launcher_config(broker: Broker, *specs: RunnerSpec, **overrides: Any) -> LauncherConfig:
    values: dict[str, Any] = {
        "auth_token": broker.auth_token,
        "runners": specs or (python_runner(),),
        "task_broker_uri": broker.url,
        "auto_shutdown_timeout": "30",
        "health_check_port": 0,
        "graceful_shutdown_timeout": 2.0,
        "environ": {**os.environ, "TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB": "0"},
    }
    values.update(overrides)
    return LauncherConfig(**values)


def code_task(code: str) -> dict[str, Any]:
    return {"code": code, "nodeMode": "runOnceForAllItems", "items": [{"json": {}}]}


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
