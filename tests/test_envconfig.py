"""Settings from the environment: NAME_FILE, types, bounds, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_launcher.config_error import ConfigError
from trio_launcher.envconfig import EnvReader


def test_values_parse_and_blank_means_default() -> None:
    env = EnvReader({"I": " 5 ", "N": "2.5", "B": "TRUE", "Z": "0", "BLANK": " "})
    assert env.integer("I", 1) == 5
    assert env.number("N", 0.0) == 2.5
    assert (env.boolean("B", False), env.boolean("Z", True)) == (True, False)
    assert env.integer("BLANK", 7) == 7
    assert env.string("MISSING", "d") == "d"
    env.check()


def test_every_problem_is_reported_at_once() -> None:
    env = EnvReader({"I": "x", "N": "y", "B": "maybe", "LOW": "-1", "HIGH": "70000"})
    assert env.integer("I", 1) == 1  # the default stands in for a bad value
    env.number("N", 0.0)
    env.boolean("B", True)
    env.integer("LOW", 0, minimum=0)
    env.integer("HIGH", 0, maximum=65535)
    with pytest.raises(ConfigError) as raised:
        env.check()
    assert [p.split(":")[0] for p in raised.value.problems] == ["I", "N", "B", "LOW", "HIGH"]


def test_name_file_is_read_and_the_plain_name_wins(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert EnvReader({"T_FILE": str(secret)}).string("T", "") == "from-file"
    assert EnvReader({"T": "plain", "T_FILE": str(secret)}).string("T", "") == "plain"
    unreadable = EnvReader({"T_FILE": str(tmp_path / "missing")})
    assert unreadable.string("T", "default") == "default"
    assert unreadable.problems[0].startswith("T_FILE: cannot read")


def test_a_choice_is_read_in_any_case_and_an_unknown_one_is_named() -> None:
    env = EnvReader({"LEVEL": " Warn ", "BAD": "loud", "BLANK": ""})
    assert env.choice("LEVEL", "info", ("info", "warn")) == "warn"
    assert env.choice("BLANK", "info", ("info", "warn")) == "info"
    assert env.choice("BAD", "info", ("info", "warn")) == "info"
    with pytest.raises(ConfigError) as raised:
        env.check()
    assert raised.value.problems == ["BAD: expected one of info, warn, got 'loud'"]


def test_the_runner_refuses_an_unknown_log_level_naming_the_variable() -> None:
    from trio_launcher.runner.config import RunnerConfig

    environ = {"N8N_RUNNERS_GRANT_TOKEN": "g", "N8N_RUNNERS_LAUNCHER_LOG_LEVEL": "verbose"}
    with pytest.raises(ConfigError) as raised:
        RunnerConfig.from_env(environ)
    assert any("N8N_RUNNERS_LAUNCHER_LOG_LEVEL" in problem for problem in raised.value.problems)
    environ["N8N_RUNNERS_LAUNCHER_LOG_LEVEL"] = "warn"
    assert RunnerConfig.from_env(environ).log_level == "WARN"
