"""Sessions: tests, lint, typecheck, interop (the real n8n peer), fbp (fbp-test), bench."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
PEER = ROOT.parent / "shared" / "peers" / "n8n"
#: The FBP protocol's conformance suite (its command fbp-test), from npm.
FBP_PROTOCOL = "fbp-protocol@0.9.8"


@nox.session
def tests(session: nox.Session) -> None:
    """The unit and socket-level tests (interop tests skip without the peer)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def interop(session: nox.Session) -> None:
    """Install and start the real n8n peer, then run the tests that need it.

    Without the peer the session is skipped (exit 0), saying where it looked.
    """
    peer = Path(os.environ.get("N8N_PEER_DIR", PEER))
    if not (peer / "setup.sh").exists():
        session.skip(f"no n8n peer at {peer} (no setup.sh there); set N8N_PEER_DIR to its folder")
    session.install("-e", ".[test]")
    session.run(str(peer / "setup.sh"), external=True)
    session.run(
        "pytest",
        "-m",
        "interop",
        "tests/interop",
        *session.posargs,
        env={"N8N_PEER_DIR": str(peer), "TRIO_LAUNCHER_INTEROP": "1"},
    )


@nox.session
def fbp(session: nox.Session) -> None:
    """Run fbp-test, the FBP protocol's conformance suite, against ``trio-launcher flows serve``.

    fbp-protocol 0.9.8 is installed with npm into a cache folder (FBP_PROTOCOL_DIR, else
    ~/.cache/trio-launcher/fbp-protocol-0.9.8), configured there as ``fbp-init`` does it,
    and run; then the opt-in test that runs it on a free port. Without npm the session is
    skipped (exit 0), saying so.
    """
    npm = shutil.which("npm")
    if npm is None:
        session.skip("npm is not on PATH (fbp-test comes from the npm package fbp-protocol)")
    default = Path.home() / ".cache" / "trio-launcher" / "fbp-protocol-0.9.8"
    cache = Path(os.environ.get("FBP_PROTOCOL_DIR", default))
    session.install("-e", ".[test]")
    package = cache / "node_modules" / "fbp-protocol"
    if not (package / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        session.run(
            npm,
            "install",
            "--prefix",
            str(cache),
            "--no-audit",
            "--no-fund",
            FBP_PROTOCOL,
            external=True,
        )
    with session.chdir(cache):
        command = "trio-launcher flows serve --port 3569"
        init = [
            "--name",
            "trio-launcher",
            "--port",
            "3569",
            "--command",
            command,
            "--collection",
            "core",
        ]
        session.run("node", str(package / "bin" / "fbp-init"), *init, external=True)
        session.run("node", str(package / "bin" / "fbp-test"), external=True)
    session.run(
        "pytest",
        "-m",
        "fbp",
        "tests/flows/test_fbp_suite.py",
        *session.posargs,
        env={"FBP_PROTOCOL_DIR": str(cache)},
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the generated parts of the docs (message catalogue, state diagrams)."""
    session.install("-e", ".")
    session.run("python", "-m", "trio_launcher.diagrams")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each prints one JSON line."""
    session.install("-e", ".[test]")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
