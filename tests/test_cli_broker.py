"""``trio-launcher broker`` as a process: JSON logs, and a port in use named, not a traceback."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime

from cli_processes import listening_socket, running

from trio_launcher.process import ExitStatus


async def test_broker_logs_one_json_object_per_line_with_log_format_json() -> None:
    async with running("broker", "--log-format", "json", N8N_RUNNERS_BROKER_PORT="0") as (
        child,
        output,
        statuses,
    ):
        await output.wait_for("listening on")
        child.send_signal(signal.SIGTERM)
    assert statuses == [ExitStatus(returncode=0)]
    records = [json.loads(line) for line in output.of("stderr")]
    assert any("listening on http://127.0.0.1:" in record["message"] for record in records)
    assert all(set(record) == {"time", "level", "logger", "message"} for record in records)
    assert all(datetime.fromisoformat(record["time"]).tzinfo for record in records)


async def test_broker_on_a_port_in_use_names_the_setting_the_port_and_who_holds_it() -> None:
    with listening_socket() as port:
        async with running("broker", "--port", str(port)) as (_, output, statuses):
            pass
    assert statuses == [ExitStatus(returncode=1)]
    (message,) = output.of("stderr")
    assert "Traceback" not in message
    assert f"--port: 127.0.0.1:{port} is already in use" in message
    assert f"pid {os.getpid()}" in message


async def test_broker_port_in_use_from_the_environment_names_the_variable() -> None:
    with listening_socket() as port:
        async with running("broker", N8N_RUNNERS_BROKER_PORT=str(port)) as (_, output, statuses):
            pass
    assert statuses == [ExitStatus(returncode=1)]
    assert f"N8N_RUNNERS_BROKER_PORT: 127.0.0.1:{port} is already in use" in output.of("stderr")[0]


async def test_broker_on_an_address_not_of_this_machine_names_the_host_setting() -> None:
    documentation_address = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never a local address
    settings = {"N8N_RUNNERS_BROKER_LISTEN_ADDRESS": documentation_address}
    async with running("broker", "--port", "5999", **settings) as (_, output, statuses):
        pass
    assert statuses == [ExitStatus(returncode=1)]
    (message,) = output.of("stderr")
    assert f"N8N_RUNNERS_BROKER_LISTEN_ADDRESS: cannot listen on {documentation_address}:5999" in (
        message
    )
