"""``trio-launcher flows serve``: a flow runner and its FBP endpoint, until SIGTERM or SIGINT.

It prints one line to standard output once it listens (``fbp-test`` waits
for it). When standard output is a pipe or a socket, the program reading it started it:
then it also stops when that process ends (``fbp-test`` starts it through a
shell, and stops only the shell). Off loopback it needs a secret (``--secret`` or
TRIO_LAUNCHER_FLOWS_SECRET): every message but ``runtime:getruntime`` must
carry it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..flows.config import FlowRunnerConfig

__all__ = ["SECRET_VARIABLE", "add_arguments", "is_loopback", "run"]

SECRET_VARIABLE = "TRIO_LAUNCHER_FLOWS_SECRET"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--secret``, ``--packages``, ``--python-installer``."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    parser.add_argument(
        "--port", type=_port_or_zero, default=3569, help="listen port (3569; 0: any free one)"
    )
    parser.add_argument(
        "--secret", help=f"the secret clients must send (default: {SECRET_VARIABLE})"
    )
    parser.add_argument(
        "--packages",
        metavar="DIR",
        help="where modules' packages are installed (default: ~/.cache/trio-launcher/packages)",
    )
    parser.add_argument(
        "--python-installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="what installs Python packages (auto: uv if it is on PATH, else pip)",
    )


def _port_or_zero(text: str) -> int:
    from .broker import port_number

    return 0 if text == "0" else port_number(text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve until a stop signal; 1 if it cannot listen, 2 without a secret off loopback."""
    import logging
    import os
    import signal

    import trio

    from ..flows.fbp import serve_fbp
    from ..flows.runner import open_flow_runner
    from ..logging_setup import setup_logging
    from ..prctl import set_parent_death_signal
    from .listening import run_listening

    setup_logging()
    log = logging.getLogger("trio_launcher")
    if _stdout_is_read_by_a_program():
        set_parent_death_signal(signal.SIGTERM)
    secret = args.secret or os.environ.get(SECRET_VARIABLE) or None
    if secret is None and not is_loopback(args.host):
        log.error(
            "refusing to listen on %s without a secret: give --secret or set %s",
            args.host,
            SECRET_VARIABLE,
        )
        return 2

    async def main(listened: Callable[[], None]) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with open_flow_runner(_config(args)) as runner, trio.open_nursery() as nursery:
                endpoint = await nursery.start(serve_fbp, runner, args.host, args.port, secret)
                listened()
                print(f"FBP endpoint listening on {endpoint.url}", flush=True)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    where = {
        "host": args.host,
        "port": args.port,
        "port_setting": "--port",
        "host_setting": "--host",
    }
    return run_listening(main, log, **where)


def _config(args: argparse.Namespace) -> FlowRunnerConfig:
    from ..flows.config import FlowRunnerConfig
    from ..flows.deps.settings import DependencySettings

    settings = {"python_installer": args.python_installer}
    if args.packages:
        settings["store"] = args.packages
    return FlowRunnerConfig(dependencies=DependencySettings(**settings))


def _stdout_is_read_by_a_program() -> bool:
    import os
    import stat
    import sys

    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
