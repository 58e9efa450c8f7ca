"""The ``trio-launcher`` command: thin subcommands over the library.

Each subcommand lives in its own module, imported only when it runs, so that
``trio-launcher runner`` pays for nothing but the runner. The shared parser
set-up here gives every command ``--log-level`` and ``--log-format``, and
accepts every option after the subcommands below it as well as before.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import sys
from collections.abc import Iterator, Sequence
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
    "flows": ("flows", "the flow runner: serve flows over FBP, control them, check a runtime"),
}

DESCRIPTION = """\
On-demand task runners for n8n: an embedded task broker, a Python task runner,
a launcher that starts runners only while tasks wait, and a plugin supervisor.
"""

EPILOG = """\
examples:
  trio-launcher demo                      see the whole lifecycle on this machine
  trio-launcher broker                    serve a task broker on 127.0.0.1:5679
  trio-launcher launch python             start Python runners when the broker has tasks
  trio-launcher task --code 'return []'   submit one Python task and print its result
  trio-launcher supervise                 run the plugins of ./launcher.yaml
  trio-launcher plugins ls                show the status of the supervisor's plugins

Every option may come before or after the command. Run
'trio-launcher COMMAND --help' for the options and settings of a command.

exit codes: 0 done, 1 failed, 2 bad configuration or usage, 130 interrupted (Ctrl-C)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-launcher`` console script; returns the exit code."""
    from ..logging_setup import use_command_line_logging

    args = build_parser().parse_args(argv)
    use_command_line_logging(args.log_level, args.log_format)
    try:
        code: int = args.module.run(args)
    except BaseException as exc:
        if _only_interrupts(exc):
            print("trio-launcher: interrupted", file=sys.stderr)
            return 130
        raise
    return code


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand, then the shared options spread down."""
    from .. import __version__
    from ..logging_setup import LOG_FORMATS, LOG_LEVELS

    parser = argparse.ArgumentParser(
        prog="trio-launcher",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trio-launcher {__version__}")
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        help="how much the long-running commands log (default: "
        "N8N_RUNNERS_LAUNCHER_LOG_LEVEL, or info)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text (default), or json: one object per line with time, level, logger, message",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(module=module)
    _accept_options_after_subcommands(parser)
    return parser


def _accept_options_after_subcommands(parser: argparse.ArgumentParser) -> None:
    """Give each subcommand (recursively) its parents' options, unless it has its own.

    A copy leaves the namespace untouched when not given (``SUPPRESS``), so a
    value given before the subcommand is kept.
    """
    shared = [
        action
        for action in parser._actions
        if action.option_strings
        and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
    ]
    for child in _subparsers(parser):
        for action in shared:
            if not any(option in child._option_string_actions for option in action.option_strings):
                inherited = copy.copy(action)
                inherited.default = argparse.SUPPRESS
                child._add_action(inherited)
        _accept_options_after_subcommands(child)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield child


def _only_interrupts(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C, alone or in exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_interrupts(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt)


def _load(module_name: str) -> Any:
    try:
        return importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module_name}":
            return None
        raise


if __name__ == "__main__":
    sys.exit(main())
