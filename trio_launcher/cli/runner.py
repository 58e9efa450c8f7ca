"""``trio-launcher runner``: the n8n-compatible Python task runner (also ``python -m``)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]

EPILOG = """\
configuration (environment; each also as NAME_FILE, read from that file):
  N8N_RUNNERS_TASK_BROKER_URI      the broker (default http://127.0.0.1:5679)
  N8N_RUNNERS_GRANT_TOKEN          single-use token to connect with
  N8N_RUNNERS_AUTH_TOKEN           lets the runner fetch a new grant to reconnect
  N8N_RUNNERS_MAX_CONCURRENCY      tasks at once (5)
  N8N_RUNNERS_TASK_TIMEOUT         seconds a task may run (60)
  N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT
                                   exit after this many idle seconds (0: never)
  N8N_RUNNERS_STDLIB_ALLOW, N8N_RUNNERS_EXTERNAL_ALLOW, N8N_RUNNERS_BUILTINS_DENY,
  N8N_BLOCK_RUNNER_ENV_ACCESS      the sandbox
  TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB
                                   address-space limit of each task process (1024; 0: off)
  and the others listed in docs/runner.md.

exit codes:
  0  stopped cleanly (idle timeout, SIGTERM with every task finished, broker drain)
  1  SIGTERM, and running tasks were killed after the graceful-shutdown timeout
  2  bad configuration (every problem is printed)
  3  the broker refused the grant or auth token
  4  the connection was lost and the grant token is spent: start a fresh runner
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner is configured by n8n's ``N8N_RUNNERS_*`` environment variables only."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def run(args: argparse.Namespace) -> int:
    """Run the runner; see :func:`trio_launcher.runner.main.main`."""
    from ..runner.main import main

    return main()
