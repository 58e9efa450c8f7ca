"""Fixtures for the tests against the real n8n peer (opt-in: ``nox -s interop``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_peer import PEER_HOME, Peer, peer_dir

WORKFLOWS = Path(__file__).parent / "workflows" / "py-workflows.json"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.interop)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _skip_reason() -> str | None:
    if os.environ.get("TRIO_LAUNCHER_INTEROP") != "1":
        return "needs the real n8n peer: run `nox -s interop` (or set TRIO_LAUNCHER_INTEROP=1)"
    if not (peer_dir() / "start.sh").exists():
        return f"the n8n peer scripts are not at {peer_dir()} (set N8N_PEER_DIR)"
    if not (PEER_HOME / "node_modules" / "n8n").exists():
        return f"the n8n peer is not installed in {PEER_HOME}: run {peer_dir()}/setup.sh"
    return None


@pytest.fixture(scope="session")
def n8n() -> Iterator[Peer]:
    """The real n8n (broker in external mode) with our extra workflows, for the session."""
    peer = Peer(peer_dir())
    workflows = f"{peer.dir}/workflows/peer-workflows.json:{WORKFLOWS}"
    env = {**os.environ, "N8N_PEER_WORKFLOWS": workflows}
    subprocess.run([str(peer.dir / "start.sh")], env=env, check=True, capture_output=True)
    yield peer
    subprocess.run([str(peer.dir / "stop.sh")], check=False, capture_output=True)
