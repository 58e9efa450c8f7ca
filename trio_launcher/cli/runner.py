"""``trio-launcher runner``: the n8n-compatible Python task runner (also ``python -m``)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner is configured by n8n's ``N8N_RUNNERS_*`` environment variables only."""


def run(args: argparse.Namespace) -> int:
    """Run the runner; see :func:`main`."""
    return main()


def main() -> int:
    """Run until idle, drained or signalled; return the exit code (docs/runner.md)."""
    import logging

    import trio

    from .._groups import unwrap_lone_exception
    from ..envconfig import ConfigError
    from ..runner.config import RunnerConfig
    from ..runner.errors import (
        EXIT_AUTH_REFUSED,
        EXIT_CONFIG,
        EXIT_NEEDS_NEW_GRANT,
        AuthenticationRefused,
        GrantTokenSpent,
    )
    from ..runner.task_runner import TaskRunner
    from ._common import setup_logging, wait_for_stop_signal

    log = logging.getLogger("trio_launcher.runner")
    try:
        config = RunnerConfig.from_env()
    except ConfigError as exc:
        setup_logging()
        log.error("%s", exc)
        return EXIT_CONFIG
    setup_logging(config.log_level, bare_when_piped=True)

    async def serve() -> int:
        with unwrap_lone_exception():
            return await _serve()

    async def _serve() -> int:
        async with trio.open_nursery() as nursery:
            runner = TaskRunner(config, on_idle_timeout=lambda: nursery.start_soon(runner.stop))

            async def stop_on_signal() -> None:
                await wait_for_stop_signal()
                log.info("stop signal received: finishing running tasks")
                await runner.stop()

            nursery.start_soon(stop_on_signal)
            await runner.start()
            nursery.cancel_scope.cancel()
        return runner.exit_code

    try:
        return trio.run(serve)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except AuthenticationRefused as exc:
        log.error("%s", exc)
        return EXIT_AUTH_REFUSED
    except GrantTokenSpent as exc:
        log.error("%s", exc)
        return EXIT_NEEDS_NEW_GRANT
