"""The launcher's configuration: n8n's environment, n8n-task-runners.json, the runner env."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from launcher_fakes import OutputLines, cli_command, cli_environment

from trio_launcher.config_error import ConfigError
from trio_launcher.launcher import LauncherConfig, RunnerSpec, load_launcher_config
from trio_launcher.launcher import config as config_module
from trio_launcher.launcher.config import raise_for_paths
from trio_launcher.launcher.environment import runner_environment
from trio_launcher.process import ExitStatus, run_child

BASE_ENV = {"N8N_RUNNERS_AUTH_TOKEN": "secret"}


def write_config(path: Path, *entries: Any) -> Path:
    path.write_text(json.dumps({"task-runners": list(entries)}))
    return path


def entry(runner_type: str = "python", /, **fields: Any) -> dict[str, Any]:
    return {"runner-type": runner_type, "command": sys.executable, **fields}


def problems_of(runner_types: list[str], environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_launcher_config(runner_types, environ)
    return caught.value.problems


def has_problem(problems: list[str], *parts: str) -> bool:
    """Whether one problem names every one of ``parts`` (file, key, variable...)."""
    return any(all(part in problem for part in parts) for problem in problems)


@pytest.fixture(autouse=True)
def no_default_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever this machine has in /etc, the default config path holds no file."""
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent.json"))


# --- n8n-task-runners.json --------------------------------------------------------------


def test_every_key_of_a_runner_entry_is_read(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "runners.json",
        {
            "runner-type": "python",
            "workdir": "/home/runner",
            "command": "/opt/venv/bin/python",
            "args": ["-I", "-m", "src.main"],
            "health-check-server-port": "5682",
            "allowed-env": ["PATH", "N8N_RUNNERS_MAX_CONCURRENCY"],
            "env-overrides": {"N8N_RUNNERS_STDLIB_ALLOW": "json"},
        },
    )
    config = load_launcher_config(["python"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert config.runners == (
        RunnerSpec(
            runner_type="python",
            command="/opt/venv/bin/python",
            args=("-I", "-m", "src.main"),
            workdir="/home/runner",
            health_check_port=5682,
            allowed_env=("PATH", "N8N_RUNNERS_MAX_CONCURRENCY"),
            env_overrides={"N8N_RUNNERS_STDLIB_ALLOW": "json"},
        ),
    )


def test_runners_come_in_the_order_requested_and_others_are_ignored(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "runners.json",
        entry("javascript", **{"health-check-server-port": "5681"}),
        entry("python", **{"health-check-server-port": "5682"}),
        entry("ruby", **{"health-check-server-port": "5683"}),
    )
    environ = {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    config = load_launcher_config(["python", "javascript"], environ)
    assert [(s.runner_type, s.health_check_port) for s in config.runners] == [
        ("python", 5682),
        ("javascript", 5681),
    ]


def test_a_single_runner_may_omit_its_health_port_several_may_not(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry("python"), entry("javascript"))
    environ = {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    (only,) = load_launcher_config(["python"], environ).runners
    assert only.health_check_port == 5681  # n8n's default
    problems = problems_of(["python", "javascript"], environ)
    assert has_problem(problems, str(path), "task-runners[0]", "health-check-server-port")
    assert has_problem(problems, str(path), "task-runners[1]", "health-check-server-port")


def test_the_launcher_environment_is_read(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry())
    config = load_launcher_config(
        ["python"],
        {
            "N8N_RUNNERS_AUTH_TOKEN": "secret",
            "N8N_RUNNERS_TASK_BROKER_URI": "http://broker.internal:15679",
            "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "7",
            "N8N_RUNNERS_TASK_TIMEOUT": "120",
            "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT": "15680",
            "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_HOST": "0.0.0.0",
            "N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST": "10.0.0.2",
            "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT": "2.5",
            "N8N_RUNNERS_CONFIG_PATH": str(path),
        },
    )
    assert config.auth_token == "secret"
    assert config.task_broker_uri == "http://broker.internal:15679"
    assert config.broker_netloc == "broker.internal:15679"
    assert config.auto_shutdown_timeout == 7
    assert config.task_timeout == 120.0
    assert config.health_check_port == 15680
    assert config.health_check_host == "0.0.0.0"
    assert config.runner_health_host == "10.0.0.2"
    assert config.graceful_shutdown_timeout == 2.5
    assert config.env_precedence == "overrides"


def test_every_problem_is_reported_at_once_naming_file_and_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "runners.json",
        {"runner-type": "nocommand", "health-check-server-port": "5690"},
        entry("reserved", **{"health-check-server-port": "5679"}),
        entry("badargs", args="-m src.main", **{"health-check-server-port": "5691"}),
        entry("badenv", **{"env-overrides": {"X": 1}, "health-check-server-port": "5692"}),
        entry("twin1", **{"health-check-server-port": "5693"}),
        entry("twin2", **{"health-check-server-port": "5693"}),
    )
    types = ["nocommand", "reserved", "badargs", "badenv", "twin1", "twin2", "missing"]
    environ = {
        "N8N_RUNNERS_TASK_BROKER_URI": "http://127.0.0.1:5679/?x=1",
        "N8N_RUNNERS_CONFIG_PATH": str(path),
    }
    problems = problems_of(types, environ)
    where = str(path)
    assert has_problem(problems, where, "task-runners[0]", "command", "required")
    assert has_problem(problems, where, "task-runners[1]", "health-check-server-port", "5679")
    assert has_problem(problems, where, "task-runners[2]", "args")
    assert has_problem(problems, where, "task-runners[3]", "env-overrides")
    assert has_problem(problems, where, "health-check-server-port", "own port")
    assert has_problem(problems, where, "'missing'")
    assert has_problem(problems, "N8N_RUNNERS_AUTH_TOKEN", "required")
    assert has_problem(problems, "N8N_RUNNERS_TASK_BROKER_URI", "query")


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "runners.json"
    path.write_text('{"task-runners": [')
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert has_problem(problems, str(path), "JSON")


def test_an_empty_runner_list_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json")
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert has_problem(problems, str(path), "task-runners")


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert has_problem(problems, str(path))


def test_no_runner_type_is_an_error() -> None:
    assert problems_of([], BASE_ENV)


# --- NAME_FILE --------------------------------------------------------------------------


def test_settings_can_come_from_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    config_path = tmp_path / "config-path"
    config_path.write_text(str(write_config(tmp_path / "runners.json", entry("javascript"))))
    config = load_launcher_config(
        ["javascript"],
        {
            "N8N_RUNNERS_AUTH_TOKEN_FILE": str(token),
            "N8N_RUNNERS_CONFIG_PATH_FILE": str(config_path),
        },
    )
    assert config.auth_token == "from-a-file"
    assert [spec.runner_type for spec in config.runners] == ["javascript"]


def test_the_plain_variable_wins_over_its_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file")
    config = load_launcher_config(
        ["python"], {"N8N_RUNNERS_AUTH_TOKEN": "plain", "N8N_RUNNERS_AUTH_TOKEN_FILE": str(token)}
    )
    assert config.auth_token == "plain"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    problems = problems_of(["python"], {"N8N_RUNNERS_AUTH_TOKEN_FILE": str(tmp_path / "none")})
    assert has_problem(problems, "N8N_RUNNERS_AUTH_TOKEN_FILE", str(tmp_path / "none"))


# --- without a config file ---------------------------------------------------------------


def test_without_a_config_file_python_is_our_own_runner() -> None:
    (spec,) = load_launcher_config(["python"], BASE_ENV).runners
    assert spec.runner_type == "python"
    assert (spec.command, spec.args) == (sys.executable, ("-m", "trio_launcher.runner"))
    assert os.path.isdir(spec.workdir)


def test_without_a_config_file_javascript_needs_one() -> None:
    problems = problems_of(["python", "javascript"], BASE_ENV)
    assert has_problem(problems, "N8N_RUNNERS_CONFIG_PATH", "'javascript'")
    assert len(problems) == 1  # python is fine


# --- command and workdir -----------------------------------------------------------------


def test_raise_for_paths_names_a_bad_command_and_workdir(tmp_path: Path) -> None:
    good = RunnerSpec(runner_type="python", command=sys.executable, workdir=str(tmp_path))
    raise_for_paths([good])
    bad = RunnerSpec(
        runner_type="javascript", command=str(tmp_path / "node"), workdir=str(tmp_path / "gone")
    )
    with pytest.raises(ConfigError) as caught:
        raise_for_paths([good, bad])
    problems = caught.value.problems
    assert has_problem(problems, "javascript", "command", str(tmp_path / "node"))
    assert has_problem(problems, "javascript", "workdir", str(tmp_path / "gone"))
    assert not has_problem(problems, "python")


def test_raise_for_paths_refuses_a_file_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "runner.sh"
    script.write_text("#!/bin/sh\n")
    spec = RunnerSpec(runner_type="python", command=str(script), workdir=str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        raise_for_paths([spec])
    assert has_problem(caught.value.problems, "command", str(script))


def test_a_relative_command_is_found_in_the_workdir(tmp_path: Path) -> None:
    """The runner is started in its workdir, so that is where ``./runner.sh`` is."""
    script = tmp_path / "runner.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    spec = RunnerSpec(runner_type="python", command="./runner.sh", workdir=str(tmp_path))
    raise_for_paths([spec])
    (tmp_path / "elsewhere").mkdir()
    elsewhere = attrs.evolve(spec, workdir=str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError) as caught:
        raise_for_paths([elsewhere])
    assert has_problem(caught.value.problems, "command", "./runner.sh")


# --- the runner's environment --------------------------------------------------------------

LAUNCHER_ENV = {
    "LANG": "C.UTF-8",
    "PATH": "/usr/bin",
    "TZ": "Europe/Berlin",
    "TERM": "xterm",
    "HOME": "/home/launcher",
    "N8N_RUNNERS_AUTH_TOKEN": "the-auth-token",
    "PASSED": "from-launcher",
    "NOT_PASSED": "secret",
}


def make_config(environ: dict[str, str] = LAUNCHER_ENV, **overrides: Any) -> LauncherConfig:
    values: dict[str, Any] = {
        "auth_token": "the-auth-token",
        "runners": (),
        "task_broker_uri": "http://127.0.0.1:5679",
        "auto_shutdown_timeout": 15,
        "task_timeout": 60.0,
        "environ": environ,
    }
    values.update(overrides)
    return LauncherConfig(**values)


def make_spec(**overrides: Any) -> RunnerSpec:
    values: dict[str, Any] = {
        "runner_type": "python",
        "command": sys.executable,
        "health_check_port": 5682,
        "allowed_env": ("PASSED",),
    }
    values.update(overrides)
    return RunnerSpec(**values)


def test_only_the_basic_variables_and_allowed_env_pass() -> None:
    env = runner_environment(make_config(), make_spec(), "grant-1")
    assert env == {
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin",
        "TZ": "Europe/Berlin",
        "TERM": "xterm",
        "PASSED": "from-launcher",
        "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "15",
        "N8N_RUNNERS_TASK_TIMEOUT": "60",
        "N8N_RUNNERS_TASK_BROKER_URI": "http://127.0.0.1:5679",
        "N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED": "true",
        "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT": "5682",
        "N8N_RUNNERS_GRANT_TOKEN": "grant-1",
    }


def test_the_grant_token_is_the_one_given_for_this_launch() -> None:
    config, spec = make_config(), make_spec()
    assert runner_environment(config, spec, "first")["N8N_RUNNERS_GRANT_TOKEN"] == "first"
    assert runner_environment(config, spec, "second")["N8N_RUNNERS_GRANT_TOKEN"] == "second"


def test_protected_variables_cannot_be_passed_through_or_overridden() -> None:
    protected = {
        "N8N_RUNNERS_TASK_BROKER_URI": "http://evil:1",
        "N8N_RUNNERS_GRANT_TOKEN": "stolen",
        "N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED": "false",
        "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT": "1",
    }
    spec = make_spec(allowed_env=tuple(protected), env_overrides=protected)
    for precedence in ("overrides", "environment"):
        config = make_config({**LAUNCHER_ENV, **protected}, env_precedence=precedence)
        env = runner_environment(config, spec, "grant-1")
        assert env["N8N_RUNNERS_TASK_BROKER_URI"] == "http://127.0.0.1:5679"
        assert env["N8N_RUNNERS_GRANT_TOKEN"] == "grant-1"
        assert env["N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED"] == "true"
        assert env["N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT"] == "5682"


def test_timeouts_are_set_unless_passed_through() -> None:
    environ = {**LAUNCHER_ENV, "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "99"}
    allowed = ("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT",)
    env = runner_environment(make_config(environ), make_spec(allowed_env=allowed), "g")
    assert env["N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT"] == "99"
    assert env["N8N_RUNNERS_TASK_TIMEOUT"] == "60"


def test_env_overrides_win_by_default() -> None:
    spec = make_spec(
        env_overrides={
            "PASSED": "from-overrides",
            "EXTRA": "set",
            "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "3",
        }
    )
    env = runner_environment(make_config(), spec, "g")
    assert env["PASSED"] == "from-overrides"
    assert env["EXTRA"] == "set"
    assert env["N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT"] == "3"


def test_with_environment_precedence_a_passed_variable_wins() -> None:
    spec = make_spec(
        allowed_env=("PASSED", "UNSET_IN_LAUNCHER"),
        env_overrides={"PASSED": "from-overrides", "UNSET_IN_LAUNCHER": "o", "EXTRA": "set"},
    )
    env = runner_environment(make_config(env_precedence="environment"), spec, "g")
    assert env["PASSED"] == "from-launcher"
    assert env["UNSET_IN_LAUNCHER"] == "o"  # nothing to pass through: the override applies
    assert env["EXTRA"] == "set"


def test_env_precedence_comes_from_the_environment(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "runners.json",
        entry(**{"allowed-env": ["PASSED"], "env-overrides": {"PASSED": "from-overrides"}}),
    )
    environ = {**LAUNCHER_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    by_default = load_launcher_config(["python"], environ)
    environment_first = load_launcher_config(
        ["python"], {**environ, "TRIO_LAUNCHER_ENV_PRECEDENCE": "environment"}
    )
    (spec,) = by_default.runners
    assert runner_environment(by_default, spec, "g")["PASSED"] == "from-overrides"
    assert runner_environment(environment_first, spec, "g")["PASSED"] == "from-launcher"
    problems = problems_of(["python"], {**environ, "TRIO_LAUNCHER_ENV_PRECEDENCE": "launcher"})
    assert has_problem(problems, "TRIO_LAUNCHER_ENV_PRECEDENCE")


def test_the_environment_is_built_from_the_config_not_from_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSED", "from-os-environ")
    config = make_config()
    assert runner_environment(config, make_spec(), "g")["PASSED"] == "from-launcher"


# --- what the user is told, and default-env ----------------------------------------------


def ignored_keys_of(path: Path) -> tuple[str, ...]:
    """Load ``path`` for the python runner; what it ignored (it must load)."""
    environ = {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    return load_launcher_config(["python"], environ).ignored_keys


def test_an_unknown_key_is_named_with_the_nearest_known_key(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry(allowed_env=["PATH"]))
    ignored = list(ignored_keys_of(path))
    assert has_problem(ignored, str(path), "task-runners[0]", "allowed_env", "'allowed-env'")


def test_an_unknown_top_level_key_is_named_with_the_nearest(tmp_path: Path) -> None:
    path = tmp_path / "runners.json"
    path.write_text(json.dumps({"task-runners": [entry()], "task_runner": []}))
    assert has_problem(list(ignored_keys_of(path)), str(path), "task_runner", "'task-runners'")


def test_a_file_without_unknown_keys_ignores_nothing(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry(**{"default-env": {"A": "1"}}))
    assert ignored_keys_of(path) == ()


@given(key=st.text(min_size=1).filter(lambda key: key not in config_module.ENTRY_KEYS))
def test_every_unknown_key_is_reported_and_the_rest_is_used(key: str) -> None:
    """Like n8n's launcher, a key it does not know stops nothing (a newer n8n may add one)."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_config(Path(folder) / "runners.json", entry(**{key: 1}))
        environ = {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
        config = load_launcher_config(["python"], environ)
    assert has_problem(list(config.ignored_keys), f"{path}: task-runners[0]: {key}: unknown key")
    assert [spec.runner_type for spec in config.runners] == ["python"]


def test_a_missing_runner_type_lists_the_types_the_file_has(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "runners.json",
        entry("javascript", **{"health-check-server-port": "5682"}),
        entry("python", **{"health-check-server-port": "5683"}),
    )
    problems = problems_of(["pyhton"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert has_problem(problems, str(path), "'pyhton'", "javascript, python")


def test_default_env_applies_unless_the_launcher_passes_the_variable(tmp_path: Path) -> None:
    defaults = {"PASSED": "default", "ONLY_DEFAULT": "default", "N8N_RUNNERS_TASK_TIMEOUT": "7"}
    path = write_config(
        tmp_path / "runners.json",
        entry(**{"allowed-env": ["PASSED"], "default-env": defaults}),
    )
    config = load_launcher_config(
        ["python"], {**LAUNCHER_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    )
    (spec,) = config.runners
    env = runner_environment(config, spec, "g")
    assert (env["PASSED"], env["ONLY_DEFAULT"]) == ("from-launcher", "default")
    assert env["N8N_RUNNERS_TASK_TIMEOUT"] == "7"


def test_env_overrides_win_over_default_env() -> None:
    spec = make_spec(default_env={"EXTRA": "default"}, env_overrides={"EXTRA": "override"})
    assert runner_environment(make_config(), spec, "g")["EXTRA"] == "override"


def test_default_env_cannot_set_protected_variables() -> None:
    spec = make_spec(default_env={"N8N_RUNNERS_GRANT_TOKEN": "stolen"})
    assert (
        runner_environment(make_config(), spec, "grant-1")["N8N_RUNNERS_GRANT_TOKEN"] == "grant-1"
    )


def test_default_env_values_must_be_strings(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry(**{"default-env": {"N": 1}}))
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)})
    assert has_problem(problems, str(path), "task-runners[0]", "default-env")


@pytest.mark.parametrize("value", ["soon", "0", "-5", "1m"])
def test_a_task_timeout_that_is_not_positive_seconds_is_refused(value: str) -> None:
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_TASK_TIMEOUT": value})
    assert has_problem(problems, "N8N_RUNNERS_TASK_TIMEOUT")


def test_a_valid_task_timeout_reaches_the_runner_as_given() -> None:
    config = load_launcher_config(["python"], {**BASE_ENV, "N8N_RUNNERS_TASK_TIMEOUT": "90.5"})
    (spec,) = config.runners
    assert runner_environment(config, spec, "g")["N8N_RUNNERS_TASK_TIMEOUT"] == "90.5"


@pytest.mark.parametrize("level", ["verbose", "trace", "5"])
def test_an_unknown_launcher_log_level_is_refused(level: str) -> None:
    problems = problems_of(["python"], {**BASE_ENV, "N8N_RUNNERS_LAUNCHER_LOG_LEVEL": level})
    assert has_problem(problems, "N8N_RUNNERS_LAUNCHER_LOG_LEVEL", repr(level))


@pytest.mark.parametrize("level", ["debug", "INFO", "warn", "Warning", "error"])
def test_known_log_levels_are_accepted_in_any_case(level: str) -> None:
    load_launcher_config(["python"], {**BASE_ENV, "N8N_RUNNERS_LAUNCHER_LOG_LEVEL": level})


async def test_launch_refuses_a_bad_task_timeout_at_start_and_starts_no_runner() -> None:
    env = cli_environment(N8N_RUNNERS_AUTH_TOKEN="secret", N8N_RUNNERS_TASK_TIMEOUT="soon")
    output = OutputLines()
    command = cli_command("launch", "python", "--log-format", "json")
    with trio.fail_after(60):
        status = await run_child(command, env=env, on_output=output)
    assert status == ExitStatus(returncode=2)
    (record,) = [json.loads(line) for line in output.of("stderr")]  # every problem, one line
    assert record["level"] == "ERROR"
    assert "N8N_RUNNERS_TASK_TIMEOUT: expected a number, got 'soon'" in record["message"]


# --- numbers for timeouts, and the environment runners may get -----------------------------


@given(
    seconds=st.floats(min_value=0.001, max_value=1e9, allow_nan=False)
    | st.integers(min_value=1, max_value=10**9).map(float)
)
def test_a_task_timeout_reaches_the_runner_as_the_same_number(seconds: float) -> None:
    config = load_launcher_config(
        ["python"], {**BASE_ENV, "N8N_RUNNERS_TASK_TIMEOUT": str(seconds)}
    )
    assert config.task_timeout == seconds
    (spec,) = config.runners
    passed = runner_environment(config, spec, "g")["N8N_RUNNERS_TASK_TIMEOUT"]
    assert float(passed) == seconds
    assert passed == (str(int(seconds)) if seconds.is_integer() else repr(seconds))


def test_the_timeouts_are_numbers_and_reach_the_runner_as_n8n_writes_them() -> None:
    environ = {
        **BASE_ENV,
        "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT": "7",
        "N8N_RUNNERS_TASK_TIMEOUT": "120",
    }
    config = load_launcher_config(["python"], environ)
    assert (config.auto_shutdown_timeout, config.task_timeout) == (7, 120.0)
    (spec,) = config.runners
    env = runner_environment(config, spec, "g")
    assert env["N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT"] == "7"
    assert env["N8N_RUNNERS_TASK_TIMEOUT"] == "120"
    defaults = runner_environment(make_config(), make_spec(), "g")
    assert defaults["N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT"] == "15"
    assert defaults["N8N_RUNNERS_TASK_TIMEOUT"] == "60"


def test_by_default_environ_is_what_some_runner_may_get_of_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in LAUNCHER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("N8N_RUNNERS_GRANT_TOKEN", "stolen")
    monkeypatch.delenv("TERM")
    config = LauncherConfig(
        auth_token="a", runners=(make_spec(), make_spec(allowed_env=("HOME",), runner_type="js"))
    )
    assert config.environ == {
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin",
        "TZ": "Europe/Berlin",
        "PASSED": "from-launcher",
        "HOME": "/home/launcher",
    }
    env = runner_environment(config, make_spec(), "grant-1")
    assert (env["PASSED"], env["N8N_RUNNERS_GRANT_TOKEN"]) == ("from-launcher", "grant-1")


def test_the_loaded_environ_holds_only_what_runners_may_get(tmp_path: Path) -> None:
    path = write_config(tmp_path / "runners.json", entry(**{"allowed-env": ["PASSED"]}))
    config = load_launcher_config(
        ["python"], {**LAUNCHER_ENV, "N8N_RUNNERS_CONFIG_PATH": str(path)}
    )
    assert "N8N_RUNNERS_AUTH_TOKEN" not in config.environ
    assert "NOT_PASSED" not in config.environ
    assert config.environ["PASSED"] == "from-launcher"
