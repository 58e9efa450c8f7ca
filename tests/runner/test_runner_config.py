"""RunnerConfig.from_env: every setting, the sandbox's included, parsed whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_launcher.config_error import ConfigError
from trio_launcher.runner import RunnerConfig
from trio_launcher.runner.sandbox.policy import DEFAULT_BUILTINS_DENY, SandboxPolicy

GRANT = {"N8N_RUNNERS_GRANT_TOKEN": "g"}


def problems_of(environ: dict[str, str]) -> list[str]:
    """Every problem ``RunnerConfig.from_env`` finds in ``environ``, in one error."""
    with pytest.raises(ConfigError) as raised:
        RunnerConfig.from_env(environ)
    return raised.value.problems


def test_config_reports_every_bad_variable() -> None:
    problems = problems_of(
        {
            "N8N_RUNNERS_MAX_CONCURRENCY": "many",
            "N8N_RUNNERS_TASK_TIMEOUT": "0",
            "N8N_RUNNERS_STDLIB_ALLOW": "json,*",
        }
    )
    assert {p.split(":")[0] for p in problems} == {
        "N8N_RUNNERS_MAX_CONCURRENCY",
        "N8N_RUNNERS_TASK_TIMEOUT",
        "N8N_RUNNERS_STDLIB_ALLOW",
        "N8N_RUNNERS_GRANT_TOKEN",
    }


def test_config_reads_name_file_variants(tmp_path: Path) -> None:
    token_file = tmp_path / "grant"
    token_file.write_text("from-file\n")
    config = RunnerConfig.from_env({"N8N_RUNNERS_GRANT_TOKEN_FILE": str(token_file)})
    assert config.grant_token == "from-file"


def test_the_sandbox_settings_are_read_with_the_others() -> None:
    config = RunnerConfig.from_env(
        {
            **GRANT,
            "N8N_RUNNERS_STDLIB_ALLOW": "json, math",
            "N8N_RUNNERS_EXTERNAL_ALLOW": "*",
            "N8N_RUNNERS_BUILTINS_DENY": "eval,exec",
            "N8N_BLOCK_RUNNER_ENV_ACCESS": "off",
            "N8N_RUNNER_ENV_ALLOW": "TZ",
            "N8N_RUNNERS_ALLOW_TRANSITIVE_IMPORTS": "1",
            "N8N_RUNNERS_SANDBOX": "Best-Effort",
            "N8N_RUNNERS_SANDBOX_DISABLE": "seccomp",
        }
    )
    assert config.sandbox == SandboxPolicy(
        stdlib_allow={"json", "math"},
        external_allow_all=True,
        builtins_deny={"eval", "exec"},
        block_env_access=False,
        env_allow={"TZ"},
        allow_transitive_imports=True,
        mode="best-effort",
        disabled_layers={"seccomp"},
    )


def test_without_sandbox_settings_the_policy_is_n8ns_default() -> None:
    config = RunnerConfig.from_env(GRANT)
    assert config.sandbox == SandboxPolicy() == RunnerConfig().sandbox
    assert config.sandbox.builtins_deny == frozenset(DEFAULT_BUILTINS_DENY.split(","))


def test_bad_sandbox_and_runner_variables_are_reported_in_one_error() -> None:
    problems = problems_of(
        {
            **GRANT,
            "N8N_RUNNERS_SANDBOX": "paranoid",
            "N8N_RUNNERS_EXTERNAL_ALLOW": "numpy,*",
            "N8N_RUNNERS_MAX_CONCURRENCY": "many",
        }
    )
    assert problems == [
        "N8N_RUNNERS_MAX_CONCURRENCY: expected an integer, got 'many'",
        "N8N_RUNNERS_EXTERNAL_ALLOW: '*' must stand alone, got 'numpy,*'",
        "N8N_RUNNERS_SANDBOX: expected one of strict, best-effort, off, got 'paranoid'",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("N8N_BLOCK_RUNNER_ENV_ACCESS", "maybe"),
        ("N8N_RUNNERS_ALLOW_TRANSITIVE_IMPORTS", "2"),
        ("N8N_RUNNERS_BUILTINS_DENY", "eval,not a name"),
        ("N8N_RUNNER_ENV_ALLOW", "A=B"),
        ("N8N_RUNNERS_SANDBOX_DISABLE", "apparmor"),
    ],
)
def test_each_bad_sandbox_variable_is_named(variable: str, value: str) -> None:
    [problem] = problems_of({**GRANT, variable: value})
    assert problem.startswith(f"{variable}: ")
