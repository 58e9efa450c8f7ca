"""The ``trio-launcher`` command line: its shape, the same wherever an option is put."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher import __version__
from trio_launcher.cli import build_parser, main

LEVELS = st.sampled_from(["debug", "INFO", "Warn", "warning", "error"])
LONG_RUNNING = st.sampled_from([["broker"], ["launch", "python"], ["supervise"], ["runner"]])


def exit_code(*argv: str) -> object:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return exited.value.code


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code("--version") == 0
    assert capsys.readouterr().out.strip() == f"trio-launcher {__version__}"


def test_top_level_help_shows_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code("--help") == 0
    shown = capsys.readouterr().out
    assert "examples:" in shown
    assert "trio-launcher demo" in shown
    assert "thin subcommands" not in shown  # the module's docstring is for developers


@given(level=LEVELS, command=LONG_RUNNING, before=st.booleans())
def test_log_options_are_accepted_before_or_after_the_command(
    level: str, command: list[str], before: bool
) -> None:
    options = ["--log-level", level, "--log-format", "json"]
    argv = [*options, *command] if before else [*command, *options]
    args = build_parser().parse_args(argv)
    assert (args.log_level, args.log_format) == (level.lower(), "json")


@given(
    action=st.sampled_from([["ls"], ["start", "web"], ["logs", "web"], ["events"]]),
    where=st.sampled_from(["before", "after"]),
    path=st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1),
)
def test_plugins_options_are_accepted_after_the_action(
    action: list[str], where: str, path: str
) -> None:
    socket = ["--socket", f"/run/{path}", "--timeout", "2"]
    argv = ["plugins", *socket, *action] if where == "before" else ["plugins", *action, *socket]
    args = build_parser().parse_args(argv)
    assert (args.socket, args.timeout, args.action) == (f"/run/{path}", 2.0, action[0])


def test_an_option_left_out_after_the_command_keeps_the_value_given_before() -> None:
    args = build_parser().parse_args(["--log-level", "debug", "plugins", "--socket", "s", "ls"])
    assert (args.log_level, args.socket) == ("debug", "s")


@pytest.mark.parametrize("level", ["verbose", "5", ""])
def test_an_unknown_log_level_is_a_usage_error(level: str) -> None:
    assert exit_code("broker", "--log-level", level) == 2


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http"])
def test_broker_port_outside_1_to_65535_is_a_usage_error(port: str) -> None:
    assert exit_code("broker", "--port", port) == 2


@given(port=st.integers(1, 65535))
def test_broker_accepts_every_port_from_1_to_65535(port: int) -> None:
    assert build_parser().parse_args(["broker", "--port", str(port)]).port == port


@pytest.mark.parametrize("seconds", ["0", "-3", "1.5", "soon"])
def test_demo_idle_timeout_must_be_whole_seconds_above_zero(seconds: str) -> None:
    assert exit_code("demo", "--idle-timeout", seconds) == 2


def test_json_log_lines_carry_time_level_logger_message_and_any_traceback() -> None:
    import json
    import logging
    import sys
    from datetime import datetime

    from trio_launcher.logging_setup import JsonFormatter

    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("trio_launcher.x", logging.ERROR, "f", 1, "a %s", ("b",), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "ERROR",
        "trio_launcher.x",
        "a b",
    )
    assert datetime.fromisoformat(parsed["time"]).utcoffset() is not None
    assert "ValueError: bad" in parsed["exception"]
