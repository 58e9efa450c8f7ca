"""The docs show the message classes and transition tables as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_launcher.diagrams import BEGIN, MACHINES, PAGES, render, update_page

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_is_generated_from_the_code(page: str) -> None:
    text = (ROOT / page).read_text()
    assert BEGIN in text
    assert update_page(text, page) == text, "run: python -m trio_launcher.diagrams"


def test_every_table_appears_as_a_diagram() -> None:
    assert {page: render(page).count("stateDiagram-v2") for page in PAGES} == {
        page: len(machines) for page, machines in MACHINES.items()
    }
    assert render("docs/protocol.md").count("stateDiagram-v2") == 5
    assert "| `RunnerTaskOffer` | `runner:taskoffer` |" in render("docs/protocol.md")
    assert "FETCHING_GRANT --> HANDSHAKING: granted" in render("docs/launcher.md")
    assert "BACKOFF --> SPAWNING: retry" in render("docs/supervisor.md")
