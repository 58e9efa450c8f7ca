"""``trio-launcher flows runtimes|ls|deploy|rm|start|stop|break|unbreak|step|send|tail|deps``.

Each command talks to an FBP endpoint (``flows serve``, or a dispatcher) over
the FBP network protocol and its extensions, and prints the answer (with
``--json``: the answer's payload as JSON). Exit codes: 0 done, 1 refused (the
reason is printed) or the endpoint cannot be reached, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .text_table import table

if TYPE_CHECKING:
    from ..flows.fbp.client import FbpClient

__all__ = ["ACTIONS", "DEFAULT_URL", "add_parsers", "run"]

DEFAULT_URL = "ws://127.0.0.1:3569"


class Usage(Exception):
    """Bad usage found after parsing (exit 2)."""


#: action -> help
ACTIONS = {
    "runtimes": "the runner's language runtimes",
    "ls": "the flows the runner holds",
    "deploy": "hold a flow document (fbp-graph JSON), or update it (hot, if it runs)",
    "rm": "stop a flow and forget it",
    "start": "start a flow",
    "stop": "stop a flow",
    "break": "hold messages at a module's input (FLOW/MODULE)",
    "unbreak": "remove a module's breakpoints (FLOW/MODULE)",
    "step": "run one held invocation of every paused module, and show what each did",
    "send": "send a JSON message into a flow's exported input port",
    "tail": "print the messages of a flow's exported output port as they come",
    "deps": "a module's packages: list, install, remove, lock, gc",
}


def add_parsers(actions: Any) -> None:
    """The client actions, on the ``flows`` subparsers ``actions``."""
    from . import flows_deps

    for name, help_text in ACTIONS.items():
        sub = actions.add_parser(name, help=help_text, description=help_text)
        if name == "deps":
            flows_deps.add_arguments(sub, _connection_arguments)
            continue
        _connection_arguments(sub)
        if name in _POSITIONALS:
            _POSITIONALS[name](sub)


def _connection_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--url", default=DEFAULT_URL, help=f"the FBP endpoint ({DEFAULT_URL})")
    sub.add_argument("--secret", help="its secret (default: TRIO_LAUNCHER_FLOWS_SECRET)")
    sub.add_argument("--json", action="store_true", help="print the answer as JSON")


def _flow(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("flow", metavar="FLOW")


def _module(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("flow_module", metavar="FLOW/MODULE")


def _break_arguments(sub: argparse.ArgumentParser) -> None:
    _module(sub)
    sub.add_argument("--port", default="*", help="the input port (default: every one)")
    sub.add_argument(
        "--pause", choices=("module", "flow"), default="module", help="what a held message pauses"
    )


def _send_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("flow", metavar="FLOW")
    sub.add_argument("port", metavar="PORT")
    sub.add_argument("message", metavar="JSON")


def _tail_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("flow", metavar="FLOW")
    sub.add_argument("port", metavar="PORT")
    sub.add_argument("-n", "--count", type=int, help="stop after this many messages")


def _file(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("file", metavar="FILE")


_POSITIONALS = {
    "deploy": _file,
    "rm": _flow,
    "start": _flow,
    "stop": _flow,
    "break": _break_arguments,
    "unbreak": _module,
    "send": _send_arguments,
    "tail": _tail_arguments,
}


def run(args: argparse.Namespace) -> int:
    """Connect, run the action, print; the exit code."""
    import os

    import trio

    from ..flows.fbp.client import FbpRefused, open_fbp_client
    from ..transport.websocket import ConnectionClosed, HandshakeError

    secret = args.secret or os.environ.get("TRIO_LAUNCHER_FLOWS_SECRET") or None
    prog = f"trio-launcher flows {args.action}"
    try:
        _check(args)
    except Usage as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        try:
            async with open_fbp_client(args.url, secret=secret) as client:
                await _ACT[args.action](client, args)
        except FbpRefused as exc:
            print(f"{prog}: refused: {exc.reason}", file=sys.stderr)
            for problem in exc.payload.get("problems", ()):
                print(
                    f"  {problem.get('path') or '(document)'}: {problem.get('message')}",
                    file=sys.stderr,
                )
            return 1
        except (HandshakeError, ConnectionClosed, OSError) as exc:
            print(f"{prog}: cannot talk to {args.url}: {exc}", file=sys.stderr)
            return 1
        return 0

    return trio.run(main)


def _check(args: argparse.Namespace) -> None:
    """Read and check what the action needs, before connecting; :class:`Usage` if wrong."""
    import json
    from urllib.parse import urlsplit

    if urlsplit(args.url).scheme not in ("ws", "wss"):
        raise Usage(f"--url is ws://HOST:PORT or wss://HOST:PORT, not {args.url!r}")
    if args.action == "deploy":
        try:
            with open(args.file, encoding="utf-8") as file:
                args.document = json.load(file)
        except (OSError, ValueError) as exc:
            raise Usage(f"cannot read {args.file}: {exc}") from None
    elif args.action == "send":
        try:
            args.message = json.loads(args.message)
        except ValueError as exc:
            raise Usage(f"the message is not JSON: {exc}") from None
    elif args.action in ("break", "unbreak"):
        args.flow, args.node = _split_module(args.flow_module)
    elif args.action == "tail" and args.count is not None and args.count < 1:
        raise Usage("--count is 1 or more")
    elif args.action == "deps":
        from .flows_deps import check

        problem = check(args)
        if problem is not None:
            raise Usage(problem)


def _print(args: argparse.Namespace, payload: Any, text: str) -> None:
    import json

    print(json.dumps(payload, indent=2) if args.json else text, flush=True)


def _split_module(text: str) -> tuple[str, str]:
    flow, slash, module = text.partition("/")
    if not slash or not flow or not module:
        raise Usage(f"a module is named FLOW/MODULE, not {text!r}")
    return flow, module


async def _runtimes(client: FbpClient, args: argparse.Namespace) -> None:
    runtimes = (await client.request("runtime", "runtimes"))["runtimes"]
    rows = [["ID", "STATE", "VERSION", "PID", "COMMAND"]]
    for r in runtimes:
        rows.append(
            [r["id"], r["state"], r["version"] or "-", str(r["pid"] or "-"), " ".join(r["command"])]
        )
    _print(args, runtimes, table(rows))


async def _ls(client: FbpClient, args: argparse.Namespace) -> None:
    graphs = (await client.request("graph", "list"))["graphs"]
    rows = [["FLOW", "STATE", "REVISION", "DEPLOYED"]]
    for g in graphs:
        rows.append([g["id"], g["state"], str(g["revision"]), "yes" if g["deployed"] else "no"])
    _print(args, graphs, table(rows) if graphs else "no flows")


async def _deploy(client: FbpClient, args: argparse.Namespace) -> None:
    answer = await client.request("graph", "set", {"graph": args.document})
    _print(args, answer, f"deployed {answer['graph']} (revision {answer['revision']})")


#: action on one flow -> its protocol, command, and what is done
_ON_A_FLOW = {
    "rm": ("graph", "delete", "removed"),
    "start": ("network", "start", "started"),
    "stop": ("network", "stop", "stopped"),
}


async def _on_a_flow(client: FbpClient, args: argparse.Namespace) -> None:
    protocol, command, done = _ON_A_FLOW[args.action]
    answer = await client.request(protocol, command, {"graph": args.flow})
    _print(args, answer, f"{done} {args.flow}")


async def _break(client: FbpClient, args: argparse.Namespace) -> None:
    payload = {"graph": args.flow, "node": args.node, "port": args.port, "pause": args.pause}
    answer = await client.request("network", "setbreakpoint", payload)
    _print(
        args, answer, f"breakpoint on {args.flow_module} port {args.port} (pauses the {args.pause})"
    )


async def _unbreak(client: FbpClient, args: argparse.Namespace) -> None:
    payload = {"graph": args.flow, "node": args.node}
    answer = await client.request("network", "removebreakpoint", payload)
    _print(args, answer, f"no breakpoint on {args.flow_module}")


async def _step(client: FbpClient, args: argparse.Namespace) -> None:
    import json

    steps = (await client.request("network", "step"))["steps"]
    lines = [f"{module}: {json.dumps(step)}" for module, step in steps.items()]
    _print(args, steps, "\n".join(lines) if lines else "no module is paused")


async def _send(client: FbpClient, args: argparse.Namespace) -> None:
    payload = {"graph": args.flow, "port": args.port, "event": "data", "payload": args.message}
    answer = await client.request("runtime", "packet", payload)
    _print(args, answer, f"sent to {args.flow}.{args.port}")


async def _tail(client: FbpClient, args: argparse.Namespace) -> None:
    import json

    await client.request("network", "getstatus", {"graph": args.flow})
    print(f"tailing {args.flow}.{args.port}", file=sys.stderr, flush=True)
    seen = 0
    while args.count is None or seen < args.count:
        message = await client.next_message()
        payload = message.get("payload")
        if (message.get("protocol"), message.get("command")) != ("runtime", "packet"):
            continue
        if not isinstance(payload, dict) or (payload.get("graph"), payload.get("port")) != (
            args.flow,
            args.port,
        ):
            continue
        seen += 1
        print(json.dumps(payload if args.json else payload.get("payload")), flush=True)


async def _deps(client: FbpClient, args: argparse.Namespace) -> None:
    from .flows_deps import run_deps

    payload, text = await run_deps(client, args)
    _print(args, payload, text)


_ACT = {
    "runtimes": _runtimes,
    "ls": _ls,
    "deploy": _deploy,
    "rm": _on_a_flow,
    "start": _on_a_flow,
    "stop": _on_a_flow,
    "break": _break,
    "unbreak": _unbreak,
    "step": _step,
    "send": _send,
    "tail": _tail,
    "deps": _deps,
}
