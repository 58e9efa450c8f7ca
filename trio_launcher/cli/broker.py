"""``trio-launcher broker``: run the embedded task broker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options; each defaults to n8n's environment variable."""
    parser.add_argument("--host", help="listen address (N8N_RUNNERS_BROKER_LISTEN_ADDRESS)")
    parser.add_argument("--port", type=int, help="listen port (N8N_RUNNERS_BROKER_PORT)")
    parser.add_argument(
        "--requester-token",
        help="enable POST /tasks with this token (TRIO_LAUNCHER_REQUESTER_TOKEN)",
    )
    parser.add_argument("--log-level", help="debug, info, warning or error")


def run(args: argparse.Namespace) -> int:
    """Serve until a stop signal, then drain."""
    import logging

    import trio

    from ..broker import BrokerConfig, serve_broker
    from ..commands import setup_logging, wait_for_stop_signal
    from ..envconfig import ConfigError

    setup_logging(args.log_level)
    try:
        config = BrokerConfig.from_env(
            host=args.host, port=args.port, requester_token=args.requester_token
        )
    except ConfigError as exc:
        logging.getLogger("trio_launcher").error("%s", exc)
        return 2

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            broker = await nursery.start(serve_broker, config)
            if not config.auth_token:
                logging.getLogger("trio_launcher").warning(
                    "N8N_RUNNERS_AUTH_TOKEN is not set: runners cannot authenticate "
                    "(a random token was made for this run)"
                )
            await wait_for_stop_signal()
            await broker.shutdown()
            nursery.cancel_scope.cancel()

    trio.run(main)
    return 0
