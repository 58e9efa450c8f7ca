"""``trio-launcher plugins``: control a running supervisor through its control socket.

``ls`` prints a status table like HiveOT's ``hubcli ls`` (``--json``: a JSON
array); ``start``/``stop``/``restart`` take plugin names or ``all``; ``logs``
prints the end of a plugin's log (``-f``: and what is added to it); ``events``
prints a ``snapshot`` of every plugin then events as JSON lines; ``rescan``
looks at the plugin folders now.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..supervisor.client import ControlClient

__all__ = ["add_arguments", "format_table", "run"]

_COLUMNS = ("NAME", "PID", "STARTS", "CPU%", "MEMORY", "STATUS", "READY", "SINCE", "LAST ERROR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options and actions."""
    parser.add_argument(
        "--socket", metavar="PATH", help="control socket (default: control_socket of --config)"
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="launcher.yaml to take control_socket from (default: ./launcher.yaml)",
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up waiting for an answer"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="status of every plugin")
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    for action, text in (
        ("start", "start plugins (or all) and wait until they are ready"),
        ("stop", "stop plugins (or all) and disable their restarts"),
        ("restart", "restart plugins (or all)"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("names", nargs="+", metavar="NAME|all", help="one after the other")
        sub.add_argument("--json", action="store_true", help="print a JSON array")
    logs = actions.add_parser("logs", help="the end of a plugin's log file")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (50)")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="then print lines as they come, until Ctrl-C"
    )
    actions.add_parser("events", help="print events as JSON lines until interrupted")
    actions.add_parser("rescan", help="look at the plugin folders now")


def run(args: argparse.Namespace) -> int:
    """Send the action to the supervisor and print the answer."""
    import sys

    from ..supervisor.client import ControlClient, ControlError

    socket = _socket_path(args)
    if socket is None:
        return 2
    try:
        with ControlClient(socket, timeout=args.timeout) as client:
            return _act(client, args)
    except ControlError as exc:
        print(f"trio-launcher plugins: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


def _socket_path(args: argparse.Namespace) -> str | None:
    import os
    import sys

    if args.socket:
        return str(args.socket)
    config_path = args.config or "launcher.yaml"
    if args.config is None and not os.path.exists(config_path):
        print(
            "trio-launcher plugins: no ./launcher.yaml here; give --socket or --config",
            file=sys.stderr,
        )
        return None
    from ..supervisor import ConfigError, load_config

    try:
        socket = load_config(config_path).control_socket
    except ConfigError as exc:
        print(f"trio-launcher plugins: bad configuration:\n{exc}", file=sys.stderr)
        return None
    if socket is None:
        print(f"trio-launcher plugins: {config_path} has no control_socket", file=sys.stderr)
    return None if socket is None else str(socket)


def _act(client: ControlClient, args: argparse.Namespace) -> int:
    import json

    if args.action == "logs":
        return _logs(client, args)
    if args.action == "events":
        snapshot, events = client.events()
        print(json.dumps({"event": "snapshot", "plugins": snapshot}), flush=True)
        for event in events:
            print(json.dumps(event), flush=True)
        return 0
    failed = False
    if args.action in ("ls", "rescan"):
        plugins = list(client.request(args.action)["plugins"])
    else:
        plugins, failed = _each(client, args.action, args.names)
    print(json.dumps(plugins, indent=2) if getattr(args, "json", False) else format_table(plugins))
    if args.action in ("start", "restart"):
        failed = failed or any(plugin["status"] != "running" for plugin in plugins)
    return 1 if failed else 0


def _each(
    client: ControlClient, action: str, names: Sequence[str]
) -> tuple[list[dict[str, Any]], bool]:
    """Send ``action`` for each name in turn; the statuses, and whether one was refused."""
    import sys

    from ..supervisor.client import ControlError

    plugins: list[dict[str, Any]] = []
    failed = False
    for name in names:
        try:
            plugins += getattr(client, action)(name)
        except ControlError as exc:
            print(f"trio-launcher plugins: {exc}", file=sys.stderr)
            failed = True
    return plugins, failed


def _logs(client: ControlClient, args: argparse.Namespace) -> int:
    import sys

    from ..supervisor.logfile import follow

    if not args.follow:
        for line in client.logs(args.name, args.lines):
            print(line)
        return 0
    path = client.request("logs", name=args.name, lines=0)["file"]
    if path is None:
        print(f"trio-launcher plugins: {args.name} logs to no file", file=sys.stderr)
        return 1
    client.close()  # the file is read from here on
    for line in follow(path, args.lines):
        print(line, flush=True)
    return 0


def format_table(plugins: Sequence[dict[str, Any]]) -> str:
    """The ``ls`` table: name, pid, starts, CPU%, memory, status, ready, since, last error."""
    rows = [_COLUMNS, *(_row(plugin) for plugin in plugins)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _row(plugin: dict[str, Any]) -> tuple[str, ...]:
    cpu = plugin.get("cpu_percent")
    return (
        str(plugin["name"]),
        "-" if plugin.get("pid") is None else str(plugin["pid"]),
        str(plugin.get("starts", 0)),
        "-" if cpu is None else f"{cpu:.1f}",
        _memory(plugin.get("memory_bytes")),
        str(plugin["status"]),
        _readiness(plugin),
        _since(plugin.get("since")),
        str(plugin.get("last_error") or ""),
    )


def _readiness(plugin: dict[str, Any]) -> str:
    if plugin.get("pid") is None:
        return "-"
    return "yes" if plugin.get("ready") else "no"


def _memory(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _since(value: str | None) -> str:
    from datetime import datetime

    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value
