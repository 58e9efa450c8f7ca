"""``trio-launcher broker``: run the embedded task broker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_arguments", "port_number", "run"]

EPILOG = """\
Launchers and runners authenticate with N8N_RUNNERS_AUTH_TOKEN: give the broker
and them the same value. `trio-launcher task` needs TRIO_LAUNCHER_REQUESTER_TOKEN
(or --requester-token) set to the same value for both.

exit codes: 0 stopped, 1 cannot listen (the port is in use, the address is not this
machine's), 2 bad configuration
"""


def port_number(text: str) -> int:
    """A TCP port, 1..65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {port}")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options; each defaults to n8n's environment variable."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", help="listen address (N8N_RUNNERS_BROKER_LISTEN_ADDRESS)")
    parser.add_argument("--port", type=port_number, help="listen port (N8N_RUNNERS_BROKER_PORT)")
    parser.add_argument(
        "--requester-token",
        help="enable POST /tasks with this token (TRIO_LAUNCHER_REQUESTER_TOKEN)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until a stop signal, then drain."""
    import logging
    import signal

    import trio

    from ..broker import BrokerConfig, serve_broker
    from ..config_error import ConfigError
    from ..logging_setup import setup_logging
    from .listening import run_listening

    setup_logging()
    log = logging.getLogger("trio_launcher")
    try:
        config = BrokerConfig.from_env(
            host=args.host, port=args.port, requester_token=args.requester_token
        )
    except ConfigError as exc:
        log.error("%s", exc)
        return 2

    async def main(listened: Callable[[], None]) -> None:
        # Signals are caught before the broker listens, so a stop right after
        # "listening" still drains it.
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                broker = await nursery.start(serve_broker, config)
                listened()
                if not config.auth_token:
                    log.warning(
                        "N8N_RUNNERS_AUTH_TOKEN is not set, so no launcher or runner can "
                        "authenticate: restart with it set to a secret, and give launchers "
                        "and runners the same value"
                    )
                async for _ in signals:
                    break
                await broker.shutdown()
                nursery.cancel_scope.cancel()

    where = {
        "host": config.host,
        "port": config.port,
        "port_setting": "--port" if args.port else "N8N_RUNNERS_BROKER_PORT",
        "host_setting": "--host" if args.host else "N8N_RUNNERS_BROKER_LISTEN_ADDRESS",
    }
    return run_listening(main, log, **where)
