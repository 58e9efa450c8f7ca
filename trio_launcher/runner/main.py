"""The runner as a process: configuration from the environment, signals, exit codes.

``python -m trio_launcher.runner`` and ``trio-launcher runner`` both call
:func:`main`; it imports nothing of the command-line package, so a runner
started by a launcher pays only for the runner.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import trio

from ..config_error import ConfigError
from ..exception_groups import unwrap_lone_exception
from ..logging_setup import setup_logging
from ..prctl import set_dumpable
from .config import RunnerConfig
from .connection import TaskRunner
from .errors import (
    EXIT_AUTH_REFUSED,
    EXIT_CONFIG,
    EXIT_NEEDS_NEW_GRANT,
    AuthenticationRefused,
    GrantTokenSpent,
)

__all__ = ["main"]

log = logging.getLogger("trio_launcher.runner")


def main() -> int:
    """Run until idle, drained or signalled; return the exit code (docs/runner.md)."""
    set_dumpable(False)  # the grant token is in our environment: no /proc/PID/environ
    try:
        config = RunnerConfig.from_env()
    except ConfigError as exc:
        setup_logging(bare_when_piped=True)
        log.error("%s", exc)
        return EXIT_CONFIG
    setup_logging(config.log_level, bare_when_piped=True)
    try:
        return trio.run(_serve, config)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except AuthenticationRefused as exc:
        log.error("%s", exc)
        return EXIT_AUTH_REFUSED
    except GrantTokenSpent as exc:
        log.error("%s", exc)
        return EXIT_NEEDS_NEW_GRANT


async def _serve(config: RunnerConfig) -> int:
    with unwrap_lone_exception():
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


async def wait_for_stop_signal(on_signal: Callable[[int], None] | None = None) -> int:
    """Return the first SIGTERM or SIGINT received (calling ``on_signal`` with it)."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if on_signal is not None:
                on_signal(signum)
            return signum
    raise AssertionError("unreachable")  # pragma: no cover
