"""The runner's FIFO pair: private, opened without blocking, removed on exit."""

from __future__ import annotations

import os
import stat

import pytest

from trio_launcher.flows.fifos import open_fifo_pair


async def test_fifos_are_private_and_removed_on_exit() -> None:
    async with open_fifo_pair() as fifos:
        assert stat.S_IMODE(os.stat(fifos.directory).st_mode) == 0o700
        for path in (fifos.to_runtime_path, fifos.from_runtime_path):
            mode = os.stat(path).st_mode
            assert stat.S_ISFIFO(mode)
            assert stat.S_IMODE(mode) == 0o600
            assert os.path.dirname(path) == fifos.directory
        assert os.path.basename(fifos.to_runtime_path) == "to_runtime"
        assert os.path.basename(fifos.from_runtime_path) == "from_runtime"
    with pytest.raises(FileNotFoundError):
        os.stat(fifos.directory)


async def test_the_runtime_ends_open_without_blocking_and_carry_bytes() -> None:
    async with open_fifo_pair() as fifos:
        reading = os.open(fifos.to_runtime_path, os.O_RDONLY)
        writing = os.open(fifos.from_runtime_path, os.O_WRONLY)
        try:
            await fifos.to_runtime.send_all(b"to")
            assert os.read(reading, 10) == b"to"
            os.write(writing, b"from")
            assert await fifos.from_runtime.receive_some() == b"from"
        finally:
            os.close(reading)
            os.close(writing)


async def test_no_false_eof_when_the_runtime_closes_its_end() -> None:
    async with open_fifo_pair() as fifos:
        writing = os.open(fifos.from_runtime_path, os.O_WRONLY)
        os.write(writing, b"last")
        os.close(writing)
        assert await fifos.from_runtime.receive_some() == b"last"
        with pytest.raises(BlockingIOError):  # nothing to read, and not EOF (b"")
            os.read(fifos.from_runtime.fileno(), 10)
