"""The message catalogue and every machine's state diagram, rendered from the code.

``python -m trio_launcher.protocol.diagrams docs/protocol.md`` rewrites the
part of that page between the markers; a test checks that the page matches
the code, so the docs cannot drift from the message classes or the tables.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs

from . import broker, handshake, runner
from .codec import wire_name
from .messages import (
    ABSENT,
    BROKER_TO_REQUESTER,
    BROKER_TO_RUNNER,
    REQUESTER_TO_BROKER,
    RUNNER_TO_BROKER,
)
from .transitions import TransitionTable

__all__ = ["BEGIN", "END", "MACHINES", "render", "update_page"]

BEGIN = "<!-- generated:begin (from the message classes and transition tables; do not edit) -->"
END = "<!-- generated:end -->"

#: (heading, table) for every machine, in the order the page shows them.
MACHINES: tuple[tuple[str, TransitionTable[Any]], ...] = (
    ("Runner connection: `runner.RUNNER_TRANSITIONS`", runner.RUNNER_TRANSITIONS),
    ("A task in the runner: `runner.TASK_TRANSITIONS`", runner.TASK_TRANSITIONS),
    ("Launcher handshake: `handshake.HANDSHAKE_TRANSITIONS`", handshake.HANDSHAKE_TRANSITIONS),
    ("A runner in the broker: `broker.RUNNER_TRANSITIONS`", broker.RUNNER_TRANSITIONS),
    ("A request in the broker: `broker.REQUEST_TRANSITIONS`", broker.REQUEST_TRANSITIONS),
)

DIRECTIONS = (
    ("Broker to runner", BROKER_TO_RUNNER),
    ("Runner to broker", RUNNER_TO_BROKER),
    ("Requester to broker", REQUESTER_TO_BROKER),
    ("Broker to requester", BROKER_TO_REQUESTER),
)


def render() -> str:
    """The catalogue and every machine's diagram as Markdown, between the markers."""
    parts = [BEGIN, "", "## Message catalogue"]
    for title, classes in DIRECTIONS:
        parts += ["", f"### {title}", "", "| class | wire `type` | fields (wire names) |"]
        parts += ["| --- | --- | --- |", *(_catalogue_row(cls) for cls in classes)]
    parts += ["", "## State machines"]
    for heading, table in MACHINES:
        parts += ["", f"### {heading}", "", "```mermaid", table.mermaid(), "```"]
    parts += ["", END]
    return "\n".join(parts)


def _catalogue_row(cls: Any) -> str:
    fields = [
        f"`{wire_name(f.name)}`" + (" (optional)" if f.default is ABSENT else "")
        for f in attrs.fields(cls)
    ]
    return f"| `{cls.__name__}` | `{cls.TYPE}` | {', '.join(fields) or '(none)'} |"


def update_page(text: str) -> str:
    """``text`` with its generated part replaced by :func:`render`."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + render() + tail


def main(argv: list[str]) -> int:
    """Rewrite the page named in ``argv`` (default ``docs/protocol.md``)."""
    page = Path(argv[0] if argv else "docs/protocol.md")
    page.write_text(update_page(page.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
