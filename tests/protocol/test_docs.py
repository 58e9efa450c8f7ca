"""docs/protocol.md shows the message classes and transition tables as they are."""

from __future__ import annotations

from pathlib import Path

from trio_launcher.protocol.diagrams import BEGIN, render, update_page

PAGE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_protocol_page_is_generated_from_the_code() -> None:
    text = PAGE.read_text()
    assert BEGIN in text
    assert update_page(text) == text, "run: python -m trio_launcher.protocol.diagrams"


def test_every_table_appears_as_a_diagram() -> None:
    rendered = render()
    assert rendered.count("stateDiagram-v2") == 5
    assert "| `RunnerTaskOffer` | `runner:taskoffer` |" in rendered
