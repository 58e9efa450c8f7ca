"""``trio-launcher launch``: a drop-in for n8n's task-runner-launcher."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Runner types; everything else comes from n8n's launcher environment."""
    parser.add_argument(
        "runner_types", nargs="*", metavar="RUNNER_TYPE", help="e.g. python javascript"
    )


def run(args: argparse.Namespace) -> int:
    """Launch until SIGTERM, SIGINT or SIGHUP, then stop every runner; exit 0.

    A bad configuration exits 2 before anything starts; a failure at run time
    (the health port in use) exits 1.

    SIGHUP is a stop like SIGTERM (the launcher's settings come from its
    environment, which a running process cannot re-read).
    """
    import logging
    import signal

    import trio

    from ..config_error import ConfigError
    from ..exception_groups import unwrap_lone_exception
    from ..launcher import Launcher, load_launcher_config, run_launcher
    from ..launcher.config import raise_for_paths
    from ..logging_setup import setup_logging
    from ..prctl import set_dumpable
    from ..process.owned import child_cgroups

    set_dumpable(False)  # the auth token is in our environment: no /proc/PID/environ
    setup_logging()
    log = logging.getLogger("trio_launcher.launcher")
    try:
        config = load_launcher_config(args.runner_types)
        raise_for_paths(config.runners)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    log.info("%s", child_cgroups().describe())

    async def announce_ready(launcher: Launcher) -> None:
        await launcher.wait_until_ready()
        types = ", ".join(spec.runner_type for spec in config.runners)
        log.info("launcher ready for %s, broker %s", types, config.task_broker_uri)

    async def main() -> None:
        # Open before the first runner starts: no stop signal can kill us half way.
        stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with unwrap_lone_exception(), trio.open_signal_receiver(*stops) as signals:
            async with trio.open_nursery() as nursery:
                launcher = await nursery.start(run_launcher, config)
                nursery.start_soon(announce_ready, launcher)
                async for signum in signals:
                    log.info("%s: stopping runners", signal.Signals(signum).name)
                    break
                nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    except ConfigError as exc:  # e.g. the health port is in use
        log.error("%s", exc)
        return 1
    return 0
