"""The real Python runtime, started the way the runner starts it, and frames to drive it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson

from trio_launcher.flows.runtime_process import RuntimeProcess, open_runtime
from trio_launcher.flows.wire import Frame

PYTHON_RUNTIME = [sys.executable, "-m", "trio_launcher.flows.runtime_py"]


@contextlib.asynccontextmanager
async def python_runtime() -> AsyncIterator[RuntimeProcess]:
    """The shipped Python runtime, hello received."""
    async with open_runtime(PYTHON_RUNTIME, name="python", grace_period=1.0) as runtime:
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
