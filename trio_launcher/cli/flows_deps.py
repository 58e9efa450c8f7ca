"""``trio-launcher flows deps list|install|remove|lock|gc``: a module's packages, through the
FBP endpoint's ``deps`` extension.

Changes stream their progress to stderr: a bar on a terminal, a line per step
otherwise (and with ``--json``). Ctrl-C leaves, which cancels the change: the
running version is left as it was.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from .text_table import table

if TYPE_CHECKING:
    from ..flows.fbp.client import FbpClient

__all__ = ["DEPS_ACTIONS", "ProgressBar", "add_arguments", "check", "run_deps"]

#: deps action -> help
DEPS_ACTIONS = {
    "list": "the packages locked for the runner's modules (--runtime, or one FLOW/MODULE)",
    "install": "declare packages for a module (tinypkg==2, tiny@^2) and run it with them",
    "remove": "declare packages no more for a module",
    "lock": "resolve a flow's (or a module's) declarations again, to the newest versions",
    "gc": "remove the installed packages no flow uses",
}
_BAR_WIDTH = 24


def add_arguments(
    sub: argparse.ArgumentParser, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The ``deps`` actions, on the ``flows deps`` parser ``sub``; ``common`` adds each its
    ``--url``, ``--secret`` and ``--json``."""
    actions = sub.add_subparsers(dest="deps_action", metavar="ACTION", required=True)
    for name, help_text in DEPS_ACTIONS.items():
        action = actions.add_parser(name, help=help_text, description=help_text)
        common(action)
        if name == "list":
            action.add_argument("target", nargs="?", metavar="FLOW/MODULE")
            action.add_argument("--runtime", help="only this runtime's modules")
        elif name in ("install", "remove"):
            action.add_argument("target", metavar="FLOW/MODULE")
            what = "SPEC" if name == "install" else "NAME"
            action.add_argument("packages", nargs="+", metavar=what)
        elif name == "lock":
            action.add_argument("target", metavar="FLOW[/MODULE]")


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, or None."""
    target = getattr(args, "target", None)
    if target is None or args.deps_action == "lock":
        return None
    flow, slash, module = target.partition("/")
    return None if slash and flow and module else f"a module is named FLOW/MODULE, not {target!r}"


class ProgressBar:
    """Progress of a change on ``stream``: redrawn in place on a terminal, else a line a step."""

    def __init__(self, stream: TextIO, *, lines: bool = False) -> None:
        self._stream = stream
        self._bar = not lines and stream.isatty()
        self._drawn = False

    def show(self, step: dict[str, Any]) -> None:
        """Show one ``deps:progress`` payload."""
        done, total = int(step.get("done") or 0), int(step.get("total") or 0)
        what = " ".join(str(step.get(k) or "") for k in ("step", "package")).strip()
        if not self._bar:
            count = f" ({done}/{total})" if total else ""
            print(f"{step.get('module')}: {what}{count}", file=self._stream, flush=True)
            return
        filled = _BAR_WIDTH * done // total if total else 0
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self._stream.write(f"\r\x1b[K[{bar}] {done}/{total} {step.get('module')}: {what}")
        self._stream.flush()
        self._drawn = True

    def end(self) -> None:
        """Leave the bar's line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


async def run_deps(client: FbpClient, args: argparse.Namespace) -> Any:
    """Run ``flows deps ACTION``; what to print (the answer's payload, and its text)."""
    action = args.deps_action
    if action == "list":
        return _listing(await client.request("deps", "list", _list_payload(args)))
    bar = ProgressBar(sys.stderr, lines=args.json)

    def progress(message: dict[str, Any]) -> None:
        if (message.get("protocol"), message.get("command")) == ("deps", "progress"):
            bar.show(message.get("payload") or {})

    try:
        answer = await client.request("deps", action, _change_payload(args), on_event=progress)
    finally:
        bar.end()
    return answer, _change_text(action, answer)


def _list_payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if args.runtime:
        payload["runtime"] = args.runtime
    if args.target:
        payload["graph"], _, payload["node"] = args.target.partition("/")
    return payload


def _change_payload(args: argparse.Namespace) -> dict[str, Any]:
    action = args.deps_action
    if action == "gc":
        return {}
    flow, _, module = args.target.partition("/")
    if action == "lock":
        return {"graph": flow, **({"nodes": [module]} if module else {})}
    return {"graph": flow, "node": module, "packages": args.packages}


def _listing(answer: dict[str, Any]) -> tuple[Any, str]:
    packages = answer["packages"]
    if not packages:
        return packages, "no packages"
    rows = [["PACKAGE", "VERSION", "RUNTIME", "MODULES"]]
    rows += [[p["name"], p["version"], p["runtime"], " ".join(p["modules"])] for p in packages]
    return packages, table(rows)


def _change_text(action: str, answer: dict[str, Any]) -> str:
    if action == "gc":
        removed = answer["removed"]
        return "\n".join(f"removed {path}" for path in removed) or "nothing to remove"
    locks = answer["locks"] if action == "lock" else {answer["node"]: answer["lock"]}
    lines = []
    for module, lock in locks.items():
        pins = [f"{p['name']} {p['version']}" for p in (lock or {}).get("packages", [])]
        lines.append(f"{answer['graph']}/{module}: {', '.join(pins) or 'no packages'}")
    return "\n".join(lines)
