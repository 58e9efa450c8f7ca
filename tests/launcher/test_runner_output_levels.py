"""A runner's output reaches the launcher's log at the level the runner gave each line."""

from __future__ import annotations

import logging
import os

import pytest
from launcher_fakes import python_runner, script_runner

from trio_launcher.launcher import HealthProbe
from trio_launcher.launcher.runner_child import OutputLevels, run_runner_process
from trio_launcher.process import ExitStatus

#: No probe while these short runs last.
NO_PROBE = HealthProbe(initial_delay=3600)
OUTPUT_LOGGER = "trio_launcher.runner_output"


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == OUTPUT_LOGGER]


async def test_a_runner_config_error_is_logged_at_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=OUTPUT_LOGGER)
    env = {
        "PATH": os.environ["PATH"],
        "N8N_RUNNERS_GRANT_TOKEN": "grant",
        "N8N_RUNNERS_MAX_CONCURRENCY": "many",
    }
    status = await run_runner_process(
        python_runner(), env, probe=NO_PROBE, grace_period=1.0, on_started=lambda child: None
    )
    assert status == ExitStatus(returncode=2)
    # The error and each problem it lists, on lines of their own.
    assert [level for level, _ in logged(caplog)] == [logging.ERROR] * 2


async def test_each_line_keeps_the_level_the_runner_gave_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=OUTPUT_LOGGER)
    script = script_runner(
        "import sys\n"
        "print('plain output', flush=True)\n"
        "for line in ['DEBUG detail', 'INFO registered', 'WARNING slow', 'ERROR broken',\n"
        "             '  continued', 'Traceback (most recent call last):', '  File x']:\n"
        "    print(line, file=sys.stderr, flush=True)\n"
    )
    status = await run_runner_process(
        script,
        {"PATH": os.environ["PATH"]},
        probe=NO_PROBE,
        grace_period=1.0,
        on_started=lambda child: None,
    )
    assert status.ok
    levels = {message.split(" ", 1)[1]: level for level, message in logged(caplog)}
    assert levels == {
        "plain output": logging.INFO,
        "detail": logging.DEBUG,
        "registered": logging.INFO,
        "slow": logging.WARNING,
        "broken": logging.ERROR,
        "  continued": logging.ERROR,
        "Traceback (most recent call last):": logging.ERROR,
        "  File x": logging.ERROR,
    }


def test_an_indented_line_after_an_info_line_stays_info() -> None:
    levels = OutputLevels()
    assert levels.of("stderr", "INFO two lines:") == (logging.INFO, "two lines:")
    assert levels.of("stderr", "  the second") == (logging.INFO, "  the second")
    assert levels.of("stderr", "unprefixed") == (logging.ERROR, "unprefixed")
