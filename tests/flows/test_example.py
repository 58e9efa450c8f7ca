"""The worked example of docs/flows.md runs as it is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runner_flows import needs_node

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flows_two_languages.py"


@needs_node
def test_the_two_language_example_prints_what_the_docs_say() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [
        "{'value': 1, 'seen': 1}",
        "{'value': 3, 'seen': 2}",
        "{'value': 5, 'seen': 3}",
    ]
    docs = (EXAMPLE.parents[1] / "docs" / "flows.md").read_text()
    assert EXAMPLE.read_text() in docs
