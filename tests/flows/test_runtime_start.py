"""open_runtime's failures name the command; a runtime's output is logged with its prefix."""

from __future__ import annotations

import logging
import sys

import pytest
import trio

from trio_launcher.flows.errors import RuntimeStartFailed
from trio_launcher.flows.runtime_process import open_runtime


async def test_a_command_that_exits_before_hello_is_named() -> None:
    command = [sys.executable, "-c", "import sys; print('no fifos here'); sys.exit(3)"]
    with pytest.raises(RuntimeStartFailed, match=r"exited \(exit code 3\) before its hello"):
        async with open_runtime(command):
            pytest.fail("no runtime without a hello")


async def test_a_command_that_cannot_start_is_named() -> None:
    with pytest.raises(RuntimeStartFailed, match="cannot start runtime /no/such/runtime"):
        async with open_runtime(["/no/such/runtime"]):
            pytest.fail("no runtime without a process")


async def test_a_runtime_that_sends_no_hello_times_out(autojump_clock: trio.abc.Clock) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(RuntimeStartFailed, match=r"sent no hello within 10 s"):
        async with open_runtime(command, hello_timeout=10.0):
            pytest.fail("no runtime without a hello")


async def test_a_runtime_that_sends_something_else_first_is_refused() -> None:
    script = (
        "import os, sys; from trio_launcher.flows.wire import encode_frame;"
        "fd = os.open(sys.argv[-1], os.O_WRONLY);"
        "os.write(fd, encode_frame({'t': 'pong', 'id': '1'})); os.read(os.open(sys.argv[-2], 0), 1)"
    )
    with pytest.raises(RuntimeStartFailed, match="sent 'pong' before its hello"):
        async with open_runtime([sys.executable, "-c", script]):
            pytest.fail("no runtime without a hello")


async def test_output_lines_are_logged_with_the_runtime_prefix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    command = [sys.executable, "-c", "import sys; print('hi from the runtime'); sys.exit(1)"]
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeStartFailed):
        async with open_runtime(command, name="demo"):
            pytest.fail("no runtime without a hello")
    assert "[runtime:demo] hi from the runtime" in caplog.messages
