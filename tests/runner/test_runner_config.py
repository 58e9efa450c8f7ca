"""RunnerConfig.from_env: every setting, the sandbox's included, parsed whole."""

from __future__ import annotations

import pytest

from trio_launcher.config_error import ConfigError
from trio_launcher.runner import RunnerConfig
from trio_launcher.runner.sandbox.policy import DEFAULT_BUILTINS_DENY, SandboxPolicy

GRANT = {"N8N_RUNNERS_GRANT_TOKEN": "g"}


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
    with pytest.raises(ConfigError) as raised:
        RunnerConfig.from_env(
            {
                **GRANT,
                "N8N_RUNNERS_SANDBOX": "paranoid",
                "N8N_RUNNERS_EXTERNAL_ALLOW": "numpy,*",
                "N8N_RUNNERS_MAX_CONCURRENCY": "many",
            }
        )
    assert [issue.key for issue in raised.value.issues] == [
        "N8N_RUNNERS_MAX_CONCURRENCY",
        "N8N_RUNNERS_EXTERNAL_ALLOW",
        "N8N_RUNNERS_SANDBOX",
    ]
    assert (
        raised.value.problems[1]
        == "N8N_RUNNERS_EXTERNAL_ALLOW: '*' must stand alone, got 'numpy,*'"
    )


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
    with pytest.raises(ConfigError) as raised:
        RunnerConfig.from_env({**GRANT, variable: value})
    assert [issue.key for issue in raised.value.issues] == [variable]
