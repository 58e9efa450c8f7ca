"""n8n's own JS task runner against our embedded broker."""

from __future__ import annotations

import json
import os
import sys

import trio
from interop_peer import AUTH_TOKEN, peer_dir

from trio_launcher.process import ChildProcess, run_child

CLI = [sys.executable, "-c", "import sys; from trio_launcher.cli import main; sys.exit(main())"]


async def test_js_runner_registers_runs_a_task_and_exits_0_on_drain() -> None:
    port = 5779
    env = {
        **os.environ,
        "N8N_RUNNERS_AUTH_TOKEN": AUTH_TOKEN,
        "TRIO_LAUNCHER_REQUESTER_TOKEN": "interop",
    }
    broker_up = trio.Event()

    def watch_broker(stream: str, line: str) -> None:
        if "listening" in line:
            broker_up.set()

    async with trio.open_nursery() as nursery:
        broker: ChildProcess = await nursery.start(
            lambda task_status: run_child(
                [*CLI, "broker", "--port", str(port)],
                env=env,
                on_output=watch_broker,
                task_status=task_status,
            )
        )
        await broker_up.wait()
        runner_env = {**os.environ, "RUNNER_BROKER_URI": f"http://127.0.0.1:{port}"}
        js_runner: ChildProcess = await nursery.start(
            lambda task_status: run_child(
                [str(peer_dir() / "run-js-runner.sh")], env=runner_env, task_status=task_status
            )
        )
        code = "return $input.all().map(i => ({json: {double: i.json.n * 2}}))"
        task = await trio.run_process(
            [
                *CLI,
                "task",
                "--broker",
                f"http://127.0.0.1:{port}",
                "--type",
                "javascript",
                "--code",
                code,
                "--items",
                '[{"n": 1}, {"n": 2}]',
            ],
            env=env,
            capture_stdout=True,
        )
        assert json.loads(task.stdout) == [{"json": {"double": 2}}, {"json": {"double": 4}}]
        broker.send_signal(15)
        assert (await js_runner.wait()).ok  # it got broker:drain, so it exits 0
        assert (await broker.wait()).ok
