"""Settings from the environment: NAME_FILE, types, bounds, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.config_error import ConfigError, ConfigIssue
from trio_launcher.envconfig import EnvReader, parse_bool


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


# --- one boolean parser ------------------------------------------------------------------

BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
BOOLEANS |= {"yes": True, "no": False, "on": True, "off": False}


def any_case(word: str) -> st.SearchStrategy[str]:
    """``word`` with each letter in either case."""
    return st.tuples(*(st.sampled_from(sorted({c.lower(), c.upper()})) for c in word)).map("".join)


@given(
    st.sampled_from(sorted(BOOLEANS)).flatmap(
        lambda word: st.tuples(st.just(word), any_case(word), st.sampled_from(["", " ", "\t"]))
    )
)
def test_every_boolean_word_is_read_in_any_case(case: tuple[str, str, str]) -> None:
    word, written, blank = case
    assert parse_bool(f"{blank}{written}{blank}") is BOOLEANS[word]
    assert EnvReader({"B": written}).boolean("B", not BOOLEANS[word]) is BOOLEANS[word]


@given(st.text().filter(lambda text: text.strip().lower() not in BOOLEANS))
def test_anything_else_is_no_boolean(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bool(text)
    env = EnvReader({"B": text})
    assert env.boolean("B", True) is True
    expected = [f"B: expected true or false, got {text!r}"] if text.strip() else []
    assert env.problems == expected


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_must_be_finite(value: str) -> None:
    env = EnvReader({"N": value})
    assert env.number("N", 1.5) == 1.5
    assert env.problems == [f"N: expected a number, got {value!r}"]


# --- one ConfigError ------------------------------------------------------------------------


def test_an_issue_names_what_it_knows_of_file_line_and_key() -> None:
    rendered = [
        ConfigIssue(message="bad", file="a.yaml", line=3, key="plugins.web"),
        ConfigIssue(message="bad", file="a.json", key="task-runners[0]: command"),
        ConfigIssue(message="bad", file="a.json"),
        ConfigIssue(message="bad", key="N8N_RUNNERS_ID"),
        ConfigIssue(message="bad"),
    ]
    assert [str(issue) for issue in rendered] == [
        "a.yaml:3: plugins.web: bad",
        "a.json: task-runners[0]: command: bad",
        "a.json: bad",
        "N8N_RUNNERS_ID: bad",
        "bad",
    ]


def test_an_error_is_headed_by_its_source_unless_its_issues_name_their_files() -> None:
    issues = [ConfigIssue(message="required", key="A"), "B: plain text"]
    assert str(ConfigError(issues)) == (
        "invalid configuration (environment):\n  - A: required\n  - B: plain text"
    )
    assert ConfigError(issues).problems == ["A: required", "B: plain text"]
    in_file = [ConfigIssue(message="unknown key", file="l.yaml", line=2, key="colour")]
    assert str(ConfigError(in_file, source=None)) == "l.yaml:2: colour: unknown key"


def test_every_config_error_of_the_package_is_the_one_config_error() -> None:
    from trio_launcher import ConfigError as exported
    from trio_launcher import supervisor
    from trio_launcher.envconfig import ConfigError as from_env
    from trio_launcher.runner import NoIdleTimeoutHandlerError
    from trio_launcher.runner.sandbox.confinement_check import SandboxUnavailable
    from trio_launcher.runner.sandbox.policy import SandboxConfigError

    assert exported is from_env is supervisor.ConfigError is ConfigError
    assert supervisor.ConfigIssue is ConfigIssue
    for subclass in (NoIdleTimeoutHandlerError, SandboxUnavailable, SandboxConfigError):
        assert issubclass(subclass, ConfigError)
