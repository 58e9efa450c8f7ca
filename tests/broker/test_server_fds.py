"""Idle connections cannot use up the broker's file descriptors."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import trio
import trio_websocket
from broker_fakes import FakeRunner, bearer, done_with_settings, settings

from trio_launcher.transport.connection_slots import ConnectionSlots, raise_open_files_limit

BROKER_PROCESS = Path(__file__).with_name("broker_process.py")
#: Bounds a wait for an effect; reaching it means the test failed, not that it was slow.
HANG_GUARD = 60
IDLE_CONNECTIONS = 1100


def soft_256_hard_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024))


@asynccontextmanager
async def broker_process() -> AsyncIterator[tuple[trio.Process, str]]:
    """A broker with RLIMIT_NOFILE soft 256, hard 1024; yields it and its URL."""
    process = await trio.lowlevel.open_process(
        [sys.executable, str(BROKER_PROCESS), "auth", "req"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        preexec_fn=soft_256_hard_1024,
    )
    try:
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some()
        port = json.loads(line)["port"]
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        await process.wait()


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files limit")


async def test_a_task_runs_at_once_past_1100_idle_connections() -> None:
    assert raise_open_files_limit() > IDLE_CONNECTIONS + 100  # room for the test's own ends
    async with broker_process() as (process, url), AsyncExitStack() as idle:
        assert open_files_limit(process.pid) == (1024, 1024)  # raised to the hard limit
        port = int(url.rsplit(":", 1)[1])
        for _ in range(IDLE_CONNECTIONS):
            await idle.enter_async_context(await trio.open_tcp_stream("127.0.0.1", port))
        with trio.fail_after(HANG_GUARD):
            async with httpx.AsyncClient() as http:
                grant = await http.post(f"{url}/runners/auth", json={"token": "auth"})
                token = grant.json()["data"]["token"]
                ws_url = url.replace("http://", "ws://") + "/runners/_ws?id=r1"
                async with (
                    trio_websocket.open_websocket_url(ws_url, extra_headers=bearer(token)) as ws,
                    trio.open_nursery() as nursery,
                ):
                    runner = FakeRunner(ws, done_with_settings)
                    nursery.start_soon(runner.run)
                    await runner.registered.wait()
                    task = {"taskType": "python", "settings": settings("past the flood")}
                    response = await http.post(
                        f"{url}/tasks", json=task, headers={"Authorization": "Bearer req"}
                    )
                    nursery.cancel_scope.cancel()
    assert response.status_code == 200
    assert response.json()["result"] == settings("past the flood")


async def test_a_full_set_of_slots_closes_the_oldest_untrusted_connection() -> None:
    slots = ConnectionSlots(3)
    runner, oldest, newer = slots.take(), slots.take(), slots.take()
    assert runner is not None and oldest is not None and newer is not None
    slots.trust(runner)
    newest = slots.take()
    assert newest is not None
    assert oldest.cancel_scope.cancel_called
    assert not runner.cancel_scope.cancel_called and not newer.cancel_scope.cancel_called
    slots.trust(newer)
    slots.trust(newest)
    assert slots.take() is None  # every slot holds a trusted connection
    slots.release(newer)
    assert slots.take() is not None
