"""``trio-launcher task``: submit one Code-node task to a broker and print its result."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["add_arguments", "build_request", "run"]

NODE_MODES = {"all": "runOnceForAllItems", "each": "runOnceForEachItem"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the command."""
    parser.add_argument("--broker", default="http://127.0.0.1:5679", help="broker base URL")
    parser.add_argument("--type", dest="task_type", default="python", help="python|javascript")
    parser.add_argument("--code", required=True, help="the Code node's code")
    parser.add_argument("--items", default='[{"json": {}}]', help="input items as JSON")
    parser.add_argument("--mode", choices=sorted(NODE_MODES), default="all")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /tasks`` body for these arguments (ValueError on bad --items)."""
    items = json.loads(args.items)
    if not isinstance(items, list):
        raise ValueError("--items must be a JSON array")
    items = [i if isinstance(i, dict) and "json" in i else {"json": i} for i in items]
    settings: dict[str, Any] = {
        "code": args.code,
        "nodeMode": NODE_MODES[args.mode],
        "workflowMode": "manual",
        "continueOnFail": False,
    }
    if args.task_type == "python":
        settings["items"] = items
    else:
        settings["additionalProperties"] = {}
    body: dict[str, Any] = {"taskType": args.task_type, "settings": settings, "items": items}
    if args.timeout is not None:
        body["timeout"] = args.timeout
    return body


def run(args: argparse.Namespace) -> int:
    """Submit, print the result as JSON on stdout; exit 1 with a message on failure.

    Ctrl-C closes the connection, which cancels the task on the broker (exit 130).
    """
    import httpx

    token = os.environ.get("TRIO_LAUNCHER_REQUESTER_TOKEN", "")
    if not token:
        print(
            "error: set TRIO_LAUNCHER_REQUESTER_TOKEN to the broker's requester token",
            file=sys.stderr,
        )
        return 2
    try:
        body = build_request(args)
    except ValueError as exc:
        print(f"error: bad --items: {exc}", file=sys.stderr)
        return 2
    try:
        with httpx.Client(timeout=None) as client:
            response = client.post(
                f"{args.broker.rstrip('/')}/tasks",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
    except KeyboardInterrupt:
        print("interrupted: the broker cancels the task", file=sys.stderr)
        return 130
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the broker at {args.broker}: {exc}", file=sys.stderr)
        return 1
    return _report(response)


def _report(response: Any) -> int:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 200 and isinstance(answer, dict):
        print(json.dumps(answer.get("result"), ensure_ascii=False))
        return 0
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        print(f"error ({error.get('kind')}): {error.get('message')}", file=sys.stderr)
        if error.get("details") is not None:
            print(json.dumps(error["details"], ensure_ascii=False, indent=2), file=sys.stderr)
    else:
        print(f"error: broker answered HTTP {response.status_code}", file=sys.stderr)
    return 1
