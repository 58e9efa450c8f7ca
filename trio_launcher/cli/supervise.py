"""``trio-launcher supervise``: run the plugin supervisor in the foreground.

SIGTERM or SIGINT stops every plugin in reverse start order, then exits.
SIGHUP reloads ``launcher.yaml`` (see :meth:`Supervisor.reload`); a file with
problems is reported and changes nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

    from ..supervisor import Supervisor, SupervisorConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options."""
    parser.add_argument(
        "--config",
        default="launcher.yaml",
        metavar="PATH",
        help="the supervisor's configuration (default: launcher.yaml)",
    )
    parser.add_argument(
        "--socket", metavar="PATH", help="control socket (overrides control_socket)"
    )
    parser.add_argument(
        "--no-autostart",
        action="store_true",
        help="start no plugin until told to (trio-launcher plugins start ...)",
    )


def run(args: argparse.Namespace) -> int:
    """Load the configuration and supervise until a stop signal."""
    import logging
    import signal
    from pathlib import Path

    import attrs
    import trio

    from ..logging_setup import setup_logging
    from ..process.owned import child_cgroups
    from ..supervisor import ConfigError, load_config, run_supervisor

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        setup_logging(args.log_level)
        logging.getLogger("trio_launcher.supervisor").error("bad configuration:\n%s", exc)
        return 2
    if args.socket:
        config = attrs.evolve(config, control_socket=Path(args.socket).absolute())
    setup_logging(args.log_level or config.log_level)
    logger = logging.getLogger("trio_launcher.supervisor")
    if config.log_to_file:
        _log_to_file(config)
    for issue in config.issues:
        logger.error("plugin refused: %s", issue)
    logger.info("%s", child_cgroups().describe())

    async def main(config: SupervisorConfig) -> None:
        # The receiver is open before any plugin starts and until all have stopped,
        # so no TERM can kill us half way and leave plugins behind.
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                supervisor: Supervisor = await nursery.start(
                    lambda task_status: run_supervisor(
                        config, autostart=not args.no_autostart, task_status=task_status
                    )
                )
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        _reload(supervisor, args.config, logger)
                        continue
                    logger.info("%s: stopping every plugin", signal.Signals(signum).name)
                    break
                nursery.cancel_scope.cancel()

    errors: list[BaseException] = []
    try:
        trio.run(main, config)
    except* OSError as group:  # e.g. the control socket is in use
        errors.extend(group.exceptions)
    for error in errors:
        logger.error("%s", error)
    return 1 if errors else 0


def _reload(supervisor: Supervisor, path: str, logger: logging.Logger) -> None:
    """SIGHUP: read ``path`` again and apply it, or say why not and change nothing."""
    from ..supervisor import ConfigError, load_config

    try:
        config = load_config(path)
        if config.issues:
            raise ConfigError(config.issues, source=None)
    except ConfigError as exc:
        logger.error("SIGHUP: %s not reloaded, the plugins run on as they were:\n%s", path, exc)
        return
    logger.info("SIGHUP: reloading %s", path)
    supervisor.reload(config)


def _log_to_file(config: SupervisorConfig) -> None:
    """HiveOT's ``logtofile``: also log to ``logs_dir/launcher.log``."""
    import logging

    logs_dir = config.base_dir / config.logs_dir
    logs_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs_dir / "launcher.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
