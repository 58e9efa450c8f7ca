"""The ``trio-launcher`` command: thin subcommands over the library.

Each subcommand lives in its own module, imported only when it runs, so that
``trio-launcher runner`` pays for nothing but the runner.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run the embedded broker and a launcher, and show tasks on demand"),
    "broker": ("broker", "run the embedded task broker"),
    "task": ("task", "submit one task to a broker and print its result"),
    "runner": ("runner", "run the Python task runner (n8n-compatible)"),
    "launch": ("launch", "launch runners on demand (drop-in for n8n's task-runner-launcher)"),
    "supervise": ("supervise", "run the plugin supervisor from launcher.yaml"),
    "plugins": ("plugins", "control a running plugin supervisor"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-launcher`` console script; returns the exit code."""
    parser = argparse.ArgumentParser(prog="trio-launcher", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(module=module)
    args = parser.parse_args(argv)
    code: int = args.module.run(args)
    return code


def _load(module_name: str) -> Any:
    try:
        return importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module_name}":
            return None
        raise


if __name__ == "__main__":
    sys.exit(main())
