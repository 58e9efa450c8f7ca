"""Flow documents for the runner's tests, and a runner with the shipped runtimes."""

from __future__ import annotations

import itertools
import shutil
from typing import Any

import pytest

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


def module(runtime: str, source: str, **metadata: Any) -> dict[str, Any]:
    """A process of a flow document, its own source in ``runtime``."""
    return {"component": "m", "metadata": {"runtime": runtime, "source": source, **metadata}}


def chain(flow_id: str, *processes: tuple[str, dict[str, Any]], **edge: Any) -> dict[str, Any]:
    """A flow ``in -> p1 -> p2 ... -> out``, exported as ``in`` and ``out``."""
    names = [name for name, _ in processes]
    connections = [
        {
            "src": {"process": a, "port": "out"},
            "tgt": {"process": b, "port": "in"},
            **({"metadata": edge} if edge else {}),
        }
        for a, b in itertools.pairwise(names)
    ]
    return {
        "id": flow_id,
        "inports": {"in": {"process": names[0], "port": "in"}},
        "outports": {"out": {"process": names[-1], "port": "out"}},
        "processes": dict(processes),
        "connections": connections,
    }


PY_FORWARD = "def handle(message, context, send):\n    send('out', message)\n"
PY_COUNT = (
    "def handle(message, context, send):\n"
    "    context['count'] = context.get('count', 0) + 1\n"
    "    send('out', message)\n"
)
JS_ADD_ONE = "function handle(message, context, send) {\n  send('out', message + 1);\n}\n"
PY_DOUBLE = "def handle(message, context, send):\n    send('out', message * 2)\n"
