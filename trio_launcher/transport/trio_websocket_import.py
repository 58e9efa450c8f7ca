"""trio-websocket, imported without :mod:`importlib.metadata`.

trio-websocket 0.12 calls ``importlib.metadata.version("trio")`` when it is
imported, only to learn whether Trio is older than 0.22 (this project needs
0.25 or newer). Loading :mod:`importlib.metadata` pulls in ``email``, ``csv``
and ``zipfile``: about 11 ms and 1.8 MB of every runner's start-up, which is
on the path to its first offer (``benchmarks/bench_runner_startup.py``). Until
trio-websocket reads ``trio.__version__`` instead, it is imported here with a
stand-in for that one function, present only while trio-websocket loads.
Every module of this project gets trio-websocket through here
(:mod:`trio_launcher.transport.websocket`).
"""

from __future__ import annotations

import sys
import types

import trio

__all__ = ["trio_websocket"]


def _load_without_metadata() -> None:
    """Load trio-websocket with a stand-in ``importlib.metadata`` (unless that is loaded)."""
    if "importlib.metadata" in sys.modules or "trio_websocket" in sys.modules:
        return
    stand_in = types.ModuleType("importlib.metadata", "trio's version, for trio-websocket")
    stand_in.version = _trio_version  # type: ignore[attr-defined]
    sys.modules["importlib.metadata"] = stand_in
    try:
        import trio_websocket  # noqa: F401 - loaded for the import below
    finally:
        del sys.modules["importlib.metadata"]


def _trio_version(distribution: str) -> str:
    if distribution != "trio":
        raise LookupError(f"only trio's version is known here, not {distribution!r}")
    return trio.__version__


_load_without_metadata()
import trio_websocket  # noqa: E402 - after the load above, which it reuses
