"""The docs' generated parts: the message catalogue and every machine's state diagram.

``python -m trio_launcher.diagrams`` rewrites, in each page of :data:`PAGES`,
the part between the markers; a test checks that every page matches the code,
so the docs cannot drift from the message classes or the transition tables.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import attrs

from .flows.core.states import MODULE_TRANSITIONS, RUNTIME_TRANSITIONS
from .launcher.phases import PHASE_TRANSITIONS
from .protocol import broker, handshake, runner
from .protocol.codec import wire_name
from .protocol.messages import (
    ABSENT,
    BROKER_TO_REQUESTER,
    BROKER_TO_RUNNER,
    REQUESTER_TO_BROKER,
    RUNNER_TO_BROKER,
)
from .protocol.transitions import TransitionTable
from .supervisor.lifecycle import LIFECYCLE_TRANSITIONS

__all__ = ["BEGIN", "END", "MACHINES", "PAGES", "render", "update_page"]

BEGIN = "<!-- generated:begin (from the message classes and transition tables; do not edit) -->"
END = "<!-- generated:end -->"

#: Page -> (heading, table) of every machine it shows, in the order it shows them.
MACHINES: Final[dict[str, tuple[tuple[str, TransitionTable[Any]], ...]]] = {
    "docs/protocol.md": (
        ("Runner connection: `runner.RUNNER_TRANSITIONS`", runner.RUNNER_TRANSITIONS),
        ("A task in the runner: `runner.TASK_TRANSITIONS`", runner.TASK_TRANSITIONS),
        ("Launcher handshake: `handshake.HANDSHAKE_TRANSITIONS`", handshake.HANDSHAKE_TRANSITIONS),
        ("A runner in the broker: `broker.RUNNER_TRANSITIONS`", broker.RUNNER_TRANSITIONS),
        ("A request in the broker: `broker.REQUEST_TRANSITIONS`", broker.REQUEST_TRANSITIONS),
    ),
    "docs/launcher.md": (("A runner type's loop: `phases.PHASE_TRANSITIONS`", PHASE_TRANSITIONS),),
    "docs/supervisor.md": (
        ("A plugin's life: `lifecycle.LIFECYCLE_TRANSITIONS`", LIFECYCLE_TRANSITIONS),
    ),
    "docs/flows.md": (
        ("A module in the runner: `states.MODULE_TRANSITIONS`", MODULE_TRANSITIONS),
        ("A runtime process in the runner: `states.RUNTIME_TRANSITIONS`", RUNTIME_TRANSITIONS),
    ),
}

DIRECTIONS = (
    ("Broker to runner", BROKER_TO_RUNNER),
    ("Runner to broker", RUNNER_TO_BROKER),
    ("Requester to broker", REQUESTER_TO_BROKER),
    ("Broker to requester", BROKER_TO_REQUESTER),
)


def _catalogue() -> list[str]:
    parts = ["## Message catalogue"]
    for title, classes in DIRECTIONS:
        parts += ["", f"### {title}", "", "| class | wire `type` | fields (wire names) |"]
        parts += ["| --- | --- | --- |", *(_catalogue_row(cls) for cls in classes)]
    return [*parts, ""]


def _catalogue_row(cls: Any) -> str:
    fields = [
        f"`{wire_name(f.name)}`" + (" (optional)" if f.default is ABSENT else "")
        for f in attrs.fields(cls)
    ]
    return f"| `{cls.__name__}` | `{cls.TYPE}` | {', '.join(fields) or '(none)'} |"


#: Page -> what its generated part shows before the state diagrams.
_PREAMBLES: Final[dict[str, Callable[[], list[str]]]] = {"docs/protocol.md": _catalogue}


def render(page: str) -> str:
    """The generated part of ``page`` (a key of :data:`MACHINES`), markers included."""
    parts = [BEGIN, ""]
    preamble = _PREAMBLES.get(page)
    if preamble is not None:
        parts += preamble()
    parts += ["## State machines"]
    for heading, table in MACHINES[page]:
        parts += ["", f"### {heading}", "", "```mermaid", table.mermaid(), "```"]
    parts += ["", END]
    return "\n".join(parts)


def update_page(text: str, page: str) -> str:
    """``text`` (the contents of ``page``) with its generated part replaced by :func:`render`."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + render(page) + tail


#: Every page with a generated part.
PAGES: Final = tuple(MACHINES)


def main(argv: list[str]) -> int:
    """Rewrite the pages named in ``argv`` (default: every page), relative to the working folder."""
    for page in argv or PAGES:
        path = Path(page)
        path.write_text(update_page(path.read_text(), page))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
