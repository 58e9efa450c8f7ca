"""The opt-in nox sessions (interop, fbp) skip with their reason when what they need is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_interop_session_skips_when_the_peer_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("nox")
    absent = tmp_path / "no-peer"
    env = {"N8N_PEER_DIR": str(absent), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "interop", "--no-venv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"skipped: no n8n peer at {absent}" in done.stderr


def test_fbp_session_skips_when_npm_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("nox")
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "fbp", "--no-venv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "skipped: npm is not on PATH" in done.stderr
