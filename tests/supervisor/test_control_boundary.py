"""Whatever a control client sends, it gets an answer or a closed connection, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from supervisor_helpers import SLEEPER, supervising, write_config, write_plugin

from trio_launcher.supervisor.control import MAX_LINE
from trio_launcher.transport import jsonlimit


async def ask(path: Path, line: bytes) -> list[dict[str, object]]:
    """Send ``line``; every answer line until the supervisor closes the connection."""
    stream = await trio.open_unix_socket(str(path))
    async with stream:
        await stream.send_all(line)
        await stream.send_eof()
        answer = b""
        while data := await stream.receive_some():
            answer += data
    return [json.loads(text) for text in answer.splitlines()]


async def test_deeply_nested_requests_are_refused_and_the_socket_goes_on(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    config = write_config(tmp_path, "scan_interval: 0\n")
    path = config.control_socket
    assert path is not None
    async with supervising(config):
        deep = await ask(path, b'{"cmd": ' + b"[" * 20_000 + b"\n")
        ls = await ask(path, b'{"cmd": "ls"}\n')
    assert deep == [
        {"ok": False, "error": f"the request nests deeper than {jsonlimit.MAX_DEPTH} levels"}
    ]
    assert [p["name"] for p in ls[0]["plugins"]] == ["alpha"]  # type: ignore[attr-defined]


async def test_an_unexpected_error_is_answered_and_closes_only_that_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    config = write_config(tmp_path, "scan_interval: 0\n")
    path = config.control_socket
    assert path is not None
    async with supervising(config) as (supervisor, _events):
        with monkeypatch.context() as patch:

            def broken_status() -> object:
                raise RuntimeError("a bug")

            patch.setattr(supervisor, "status", broken_status)
            failed = await ask(path, b'{"cmd": "ls"}\n{"cmd": "ls"}\n')
        ls = await ask(path, b'{"cmd": "ls"}\n')
    assert len(failed) == 1 and failed[0]["ok"] is False
    assert ls[0]["ok"] is True


async def test_a_line_that_never_ends_is_answered_with_the_limit(tmp_path: Path) -> None:
    config = write_config(tmp_path, "scan_interval: 0\n")
    path = config.control_socket
    assert path is not None
    async with supervising(config):
        endless = await ask(path, b'{"cmd": "' + b"l" * (MAX_LINE + 10))
        ls = await ask(path, b'{"cmd": "ls"}\n')
    assert endless == [{"ok": False, "error": f"the request line is longer than {MAX_LINE} bytes"}]
    assert ls[0]["ok"] is True
