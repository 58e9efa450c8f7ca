"""The opt-in nox sessions (interop, fbp) skip with their reason when what they need is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_session(session: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``nox -s session --no-venv`` in ``cwd``, with this Python's folder as the only PATH."""
    pytest.importorskip("nox")
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", session, "--no-venv"],
        cwd=cwd,
        env={"PATH": str(Path(sys.executable).parent), **env},
        capture_output=True,
        text=True,
    )


def test_interop_session_skips_when_the_peer_is_missing(tmp_path: Path) -> None:
    absent = tmp_path / "no-peer"
    done = run_session("interop", tmp_path, N8N_PEER_DIR=str(absent))
    assert done.returncode == 0, done.stderr
    assert f"skipped: no n8n peer at {absent}" in done.stderr


def test_fbp_session_skips_when_npm_is_missing(tmp_path: Path) -> None:
    done = run_session("fbp", tmp_path, HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "skipped: npm is not on PATH" in done.stderr
