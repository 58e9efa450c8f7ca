"""``trio-launcher broker`` as a process: JSON logs, and a port in use named, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime

import trio

from trio_launcher.process import ChildProcess, ExitStatus, run_child

HANG_GUARD = 60
CLI = [sys.executable, "-c", "import sys; from trio_launcher.cli import main; sys.exit(main())"]


class Lines:
    """``on_output`` for run_child: every line, and a way to wait for one."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._send, self._receive = trio.open_memory_channel[str](1000)

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        self._send.send_nowait(line)

    async def wait_for(self, text: str) -> str:
        async for line in self._receive:
            if text in line:
                return line
        raise AssertionError("unreachable")

    def of(self, stream: str) -> list[str]:
        return [line for name, line in self.lines if name == stream]


def environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "TRIO_LAUNCHER_"))}
    env.update(N8N_RUNNERS_AUTH_TOKEN="secret", **settings)
    return env


@contextmanager
def listening_socket() -> Iterator[int]:
    """A port held by this process, listening on 127.0.0.1."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@asynccontextmanager
async def running(
    *argv: str, **settings: str
) -> AsyncIterator[tuple[ChildProcess, Lines, list[ExitStatus]]]:
    output = Lines()
    statuses: list[ExitStatus] = []

    async def run(task_status: trio.TaskStatus[ChildProcess]) -> None:
        statuses.append(
            await run_child(
                [*CLI, *argv],
                env=environment(**settings),
                on_output=output,
                task_status=task_status,
            )
        )

    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            child = await nursery.start(run)
            yield child, output, statuses


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
    assert f"--port: port {port} on 127.0.0.1 is already in use" in message
    assert f"pid {os.getpid()}" in message


async def test_broker_port_in_use_from_the_environment_names_the_variable() -> None:
    with listening_socket() as port:
        async with running("broker", N8N_RUNNERS_BROKER_PORT=str(port)) as (_, output, statuses):
            pass
    assert statuses == [ExitStatus(returncode=1)]
    assert f"N8N_RUNNERS_BROKER_PORT: port {port} on 127.0.0.1" in output.of("stderr")[0]
