"""Our Python runner and launcher against the real n8n broker."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import trio
from interop_peer import AUTH_TOKEN, BROKER_URI, JS_RUNNER_START, NODE, Peer

from trio_launcher.process import ChildProcess, run_child

CLI = [sys.executable, "-c", "import sys; from trio_launcher.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_runner_serves_python_code_nodes(n8n: Peer) -> None:
    runner_cmd = [
        str(n8n.dir / "run-runner.sh"),
        "--",
        sys.executable,
        "-m",
        "trio_launcher.runner",
    ]
    async with trio.open_nursery() as nursery:
        runner: ChildProcess = await nursery.start(
            lambda task_status: run_child(runner_cmd, task_status=task_status)
        )
        hello = await n8n.call("peer-py", "msg=hello")
        each = await n8n.call("tl-py-each", "msg=each")
        printed = await n8n.call("tl-py-print")
        failed = await n8n.call("tl-py-error")
        soft = await n8n.call("tl-py-continue")
        routed = await n8n.call("tl-py-error-output")
        runner.send_signal(15)
    assert (hello.status, hello.body) == (
        200,
        [{"runner": "python", "sum": 3, "echo": "hello", "items": 1}],
    )
    assert (each.status, each.body) == (200, [{"msg": "each", "each": True}])
    assert (printed.status, printed.body) == (200, [{"printed": True}])
    assert failed.status == 500  # n8n accepted our error and failed the workflow with it
    assert (soft.status, soft.body) == (200, [{"error": "soft failure"}])
    # n8n read our error payload: its error output carries the message.
    assert (routed.status, routed.body) == (200, [{"error": "routed failure"}])


class LauncherWatch:
    """Events from the launcher's log lines (waiting on them, not sleeping)."""

    def __init__(self) -> None:
        self.ready = trio.Event()
        self.idle_exits = 0
        self.idle_exit = trio.Event()

    def __call__(self, stream: str, line: str) -> None:
        if "launcher ready" in line:
            self.ready.set()
        if "exited on idle timeout" in line:
            self.idle_exits += 1
            self.idle_exit.set()
            self.idle_exit = trio.Event()


async def _launch(
    nursery: trio.Nursery, types: list[str], extra_env: dict[str, str]
) -> tuple[ChildProcess, LauncherWatch, int]:
    health = free_port()
    env = {
        **os.environ,
        "N8N_RUNNERS_AUTH_TOKEN": AUTH_TOKEN,
        "N8N_RUNNERS_TASK_BROKER_URI": BROKER_URI,
        "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "2",
        "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT": str(health),
        **extra_env,
    }
    watch = LauncherWatch()
    launcher: ChildProcess = await nursery.start(
        lambda task_status: run_child(
            [*CLI, "launch", *types], env=env, on_output=watch, task_status=task_status
        )
    )
    await watch.ready.wait()
    return launcher, watch, health


async def test_launcher_starts_the_python_runner_on_demand(n8n: Peer) -> None:
    async with trio.open_nursery() as nursery:
        launcher, watch, _ = await _launch(nursery, ["python"], {})
        first = await n8n.call("peer-py", "msg=one")
        idle = watch.idle_exit
        await idle.wait()
        second = await n8n.call("peer-py", "msg=two")
        launcher.send_signal(15)
        status = await launcher.wait()
    assert first.body[0]["echo"] == "one" and second.body[0]["echo"] == "two"
    assert watch.idle_exits >= 1
    assert status.ok


async def test_launcher_runs_n8ns_js_runner_from_a_config_file(n8n: Peer, tmp_path: Path) -> None:
    config = {
        "task-runners": [
            {
                "runner-type": "javascript",
                "workdir": str(tmp_path),
                "command": str(NODE),
                "args": [str(JS_RUNNER_START)],
                "health-check-server-port": str(free_port()),
                "allowed-env": ["PATH", "HOME"],
            }
        ]
    }
    path = tmp_path / "n8n-task-runners.json"
    path.write_text(json.dumps(config))
    async with trio.open_nursery() as nursery:
        launcher, watch, _ = await _launch(
            nursery, ["javascript"], {"N8N_RUNNERS_CONFIG_PATH": str(path)}
        )
        first = await n8n.call("peer-js", "msg=js")
        await watch.idle_exit.wait()
        second = await n8n.call("peer-js", "msg=again")
        launcher.send_signal(15)
        assert (await launcher.wait()).ok
    assert first.body[0]["upper"] == "JS" and second.body[0]["upper"] == "AGAIN"
