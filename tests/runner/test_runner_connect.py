"""The runner against a broker address that does not behave: silent, or resetting.

A real listener plays the broker: it accepts, reads the upgrade request, then
never answers or resets the connection. The runner is a real process where
signals matter.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from trio_launcher.runner import RunnerConfig, connection, run_runner

#: Bounds a wait that only a bug makes long; never asserted as a duration.
HANG_GUARD = 30


@asynccontextmanager
async def listener() -> AsyncIterator[trio.SocketListener]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        yield listeners[0]


def port_of(listening: trio.SocketListener) -> int:
    port: int = listening.socket.getsockname()[1]
    return port


async def read_upgrade_request(stream: trio.SocketStream) -> bytes:
    """Read until the end of the HTTP request head: the runner now waits for the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some()
        assert chunk, "the runner closed before sending its upgrade request"
        data += chunk
    return data


def reset(stream: trio.SocketStream) -> None:
    """Close with RST instead of FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


def runner_environment(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "TRIO_LAUNCHER_"))}
    env.update(
        N8N_RUNNERS_GRANT_TOKEN="grant",
        N8N_RUNNERS_TASK_BROKER_URI=f"http://127.0.0.1:{port}",
        TRIO_LAUNCHER_RECONNECT_DELAY="0",
        TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB="0",
    )
    return env


@asynccontextmanager
async def runner_process(port: int) -> AsyncIterator[trio.Process]:
    command = [sys.executable, "-m", "trio_launcher.runner"]
    process = await trio.lowlevel.open_process(
        command, env=runner_environment(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_ends_a_runner_waiting_for_an_answer_that_never_comes() -> None:
    async with listener() as silent, runner_process(port_of(silent)) as process:
        with trio.fail_after(HANG_GUARD):
            stream = await silent.accept()
            await read_upgrade_request(stream)
            process.send_signal(signal.SIGTERM)
            returncode = await process.wait()
    assert returncode == 0


async def test_a_reset_during_the_handshake_is_retried_and_sigterm_still_works() -> None:
    async with listener() as resetting, runner_process(port_of(resetting)) as process:
        with trio.fail_after(HANG_GUARD):
            first = await resetting.accept()
            await read_upgrade_request(first)
            reset(first)
            second = await resetting.accept()  # the runner went on and tried again
            await read_upgrade_request(second)
            process.send_signal(signal.SIGTERM)
            returncode = await process.wait()
    assert returncode == 0


async def test_an_unanswered_handshake_is_abandoned_and_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "HANDSHAKE_TIMEOUT", 0.2)
    async with listener() as silent, trio.open_nursery() as nursery:
        config = RunnerConfig(
            grant_token="grant",
            task_broker_uri=f"http://127.0.0.1:{port_of(silent)}",
            reconnect_delay=0.05,
            task_memory_limit_mb=0,
        )
        runner = await nursery.start(run_runner, config)
        with trio.fail_after(HANG_GUARD):
            first = await silent.accept()
            await read_upgrade_request(first)
            assert await first.receive_some() == b""  # the runner gave up on it
            second = await silent.accept()
            await read_upgrade_request(second)
            await runner.stop()
    assert runner.exit_code == 0
