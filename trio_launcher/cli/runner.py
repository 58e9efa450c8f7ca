"""``trio-launcher runner``: the n8n-compatible Python task runner (also ``python -m``)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner is configured by n8n's ``N8N_RUNNERS_*`` environment variables only."""


def run(args: argparse.Namespace) -> int:
    """Run the runner; see :func:`trio_launcher.runner.main.main`."""
    from ..runner.main import main

    return main()
