"""fbp-test (npm fbp-protocol 0.9.8) against `trio-launcher flows serve` (opt-in: nox -s fbp)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path

import pytest
import trio

pytestmark = pytest.mark.fbp


def _suite() -> Path | None:
    folder = os.environ.get("FBP_PROTOCOL_DIR")
    if not folder:
        return None
    script = Path(folder) / "node_modules" / "fbp-protocol" / "bin" / "fbp-test"
    return script if script.exists() else None


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if _suite() is None:
        return (
            "needs fbp-protocol 0.9.8 from npm: run `nox -s fbp` "
            "(or set FBP_PROTOCOL_DIR to the folder npm installed it in)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        return int(held.getsockname()[1])


@pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))
async def test_fbp_test_passes_against_flows_serve(tmp_path: Path) -> None:
    script = _suite()
    assert script is not None
    port = _free_port()
    serve = [sys.executable, "-m", "trio_launcher.cli", "flows", "serve", "--port", str(port)]
    config = {
        "name": "trio-launcher",
        "command": shlex.join(serve),
        "host": "localhost",
        "port": port,
        "collection": "core",
        "version": "0.7",
    }
    (tmp_path / "fbp-config.json").write_text(json.dumps(config))
    done = await trio.run_process(
        ["node", str(script)],
        cwd=script.parents[3],
        env={**os.environ, "PROJECT_HOME": str(tmp_path)},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    report = done.stdout.decode()
    assert done.returncode == 0, report + done.stderr.decode()
    assert "22 passing" in report
    assert "failing" not in report
