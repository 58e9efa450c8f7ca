"""The FBP endpoint walk-through of docs/flows.md runs as written and prints what it says."""

from __future__ import annotations

import sys
from pathlib import Path

from test_readme import (
    ROOT,
    code_blocks,
    documented_output,
    needs_private_network,
    run_privately,
    section,
)

FLOWS = (ROOT / "docs" / "flows.md").read_text()


def walk_through() -> list[str]:
    """The server's, the follower's and the sender's block."""
    blocks = code_blocks(section(FLOWS, "The FBP endpoint"), "sh")[-3:]
    commands = ("flows serve", "flows tail", "flows send")
    assert all(command in block for command, block in zip(commands, blocks, strict=True))
    return blocks


@needs_private_network
async def test_the_fbp_walk_through_deploys_starts_sends_and_tails() -> None:
    server, follower, sender = walk_through()
    driver = str(Path(__file__).with_name("flows_walkthrough.py"))
    done = await run_privately(sys.executable, driver, server, follower, sender)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == documented_output(follower)
