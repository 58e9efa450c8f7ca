"""``trio-launcher runner`` as a process: an unreachable broker or a bad setting, no traceback."""

from __future__ import annotations

import json
import signal
import socket

from cli_processes import running

from trio_launcher.process import ExitStatus


async def test_runner_waits_for_an_unreachable_broker_and_stops_cleanly_on_sigterm() -> None:
    with socket.socket() as reserved:  # bound, never listening: every connection is refused
        reserved.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{reserved.getsockname()[1]}"
        settings = {"N8N_RUNNERS_TASK_BROKER_URI": uri, "TRIO_LAUNCHER_RECONNECT_DELAY": "0.1"}
        async with running("runner", "--log-format", "json", **settings) as (child, out, status):
            await out.wait_for("cannot connect to the broker")
            await out.wait_for("cannot connect to the broker")  # it tried again
            child.send_signal(signal.SIGTERM)
    assert status == [ExitStatus(returncode=0)]
    records = [json.loads(line) for line in out.of("stderr")]  # no traceback among them
    assert {record["level"] for record in records} <= {"INFO", "WARNING"}


async def test_runner_refuses_an_unknown_log_level_with_exit_2() -> None:
    settings = {"N8N_RUNNERS_LAUNCHER_LOG_LEVEL": "chatty", "N8N_RUNNERS_GRANT_TOKEN": "g"}
    async with running("runner", **settings) as (_, output, statuses):
        pass
    assert statuses == [ExitStatus(returncode=2)]
    assert any("N8N_RUNNERS_LAUNCHER_LOG_LEVEL" in line for line in output.of("stderr"))
