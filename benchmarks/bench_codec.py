"""Encode/decode cost of typical protocol frames, in microseconds per message.

Frames: runner:taskoffer, broker:tasksettings with 10 items, runner:taskdone with 10
items, and a large broker:tasksettings with 10,000 items. ``json_*`` is the plain
``json.dumps``/``json.loads`` of the same object: the floor the codec builds on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from _common import Target, arguments, emit, log

from trio_launcher.protocol import (
    BrokerTaskSettings,
    Message,
    RunnerTaskDone,
    RunnerTaskOffer,
    decode,
    encode,
)


def items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "json": {"id": n, "name": f"item {n}", "price": n * 1.5, "tags": ["a", "b"]},
            "pairedItem": {"item": n},
        }
        for n in range(count)
    ]


def settings(count: int) -> dict[str, Any]:
    return {
        "code": "return [{'json': {'n': len(_items)}}]",
        "nodeMode": "runOnceForAllItems",
        "workflowMode": "webhook",
        "continueOnFail": False,
        "items": items(count),
        "nodeId": "2c1e4f6a-0000-4000-8000-000000000001",
        "nodeName": "Code",
        "workflowId": "peerPyCodeWf0001",
        "workflowName": "peer-py",
    }


FRAMES: dict[str, Message] = {
    "taskoffer": RunnerTaskOffer("Xj3kq9ZpL2mN8vB4", "python", 5123),
    "tasksettings_10": BrokerTaskSettings("aB3dE5fG", settings(10)),
    "taskdone_10": RunnerTaskDone("aB3dE5fG", {"result": items(10)}),
    "tasksettings_10k": BrokerTaskSettings("aB3dE5fG", settings(10_000)),
}


def per_call_us(fn: Callable[[], object], budget_s: float) -> float:
    """Best of 5 rounds of a loop sized to ``budget_s`` / 5, in microseconds per call."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget_s / 5 / once))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return round(best * 1e6, 2)


def main() -> None:
    args = arguments(__doc__ or "")
    budget = 0.5 if args.quick else 3.0
    figures: dict[str, Any] = {}
    for name, message in FRAMES.items():
        text = encode(message)
        assert decode(text) == message
        obj = json.loads(text)
        figures[f"{name}_bytes"] = len(text.encode())
        figures[f"{name}_encode_us"] = per_call_us(partial(encode, message), budget)
        figures[f"{name}_decode_us"] = per_call_us(partial(decode, text), budget)
        figures[f"{name}_json_dumps_us"] = per_call_us(partial(json.dumps, obj), budget)
        figures[f"{name}_json_loads_us"] = per_call_us(partial(json.loads, text), budget)
        log(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items() if k.startswith(name)))
    targets: dict[str, Target] = {}
    emit(
        "codec",
        {"budget_s_per_figure": budget, "statistic": "best of 5 rounds"},
        figures,
        targets,
        ["no target set in the issues; json_* is the stdlib floor for the same object"],
    )


if __name__ == "__main__":
    main()
