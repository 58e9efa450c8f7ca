"""Helpers for tests that run ``trio-launcher`` commands as processes."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

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


async def flows_command(url: str, *argv: str, **settings: str) -> tuple[int, str, str]:
    """Run ``trio-launcher flows ARGV --url URL``: its exit code, standard output and error."""
    done = await trio.run_process(
        [*CLI, "flows", *argv, "--url", url],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=environment(**settings),
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()
