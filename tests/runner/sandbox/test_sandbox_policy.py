"""SandboxPolicy.from_strings: the env-string rules n8n uses."""

from __future__ import annotations

import pytest

from trio_launcher.config_error import ConfigIssue
from trio_launcher.runner.sandbox.policy import (
    DEFAULT_BUILTINS_DENY,
    SandboxConfigError,
    SandboxPolicy,
)


def test_defaults_allow_no_imports_and_deny_n8ns_builtins() -> None:
    policy = SandboxPolicy.from_strings()
    assert policy.stdlib_allow == frozenset()
    assert not policy.stdlib_allow_all
    assert policy.external_allow == frozenset()
    assert policy.builtins_deny == frozenset(DEFAULT_BUILTINS_DENY.split(","))
    assert {"eval", "exec", "open", "__build_class__", "getattr"} <= policy.builtins_deny
    assert policy.block_env_access
    assert not policy.allow_transitive_imports
    assert policy == SandboxPolicy()


def test_lists_are_comma_separated_and_blanks_ignored() -> None:
    policy = SandboxPolicy.from_strings(
        stdlib_allow=" json, math ,,xml.etree", external_allow="numpy", env_allow="HOME, TZ"
    )
    assert policy.stdlib_allow == {"json", "math", "xml.etree"}
    assert policy.external_allow == {"numpy"}
    assert policy.env_allow == {"HOME", "TZ"}


def test_star_allows_everything_on_its_side() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="*")
    assert policy.stdlib_allow_all
    assert not policy.external_allow_all
    assert policy.import_rules().allows("os.path")
    assert not policy.import_rules().allows("numpy")


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"stdlib_allow": "json,*"}, "N8N_RUNNERS_STDLIB_ALLOW"),
        ({"external_allow": "*, numpy"}, "N8N_RUNNERS_EXTERNAL_ALLOW"),
        ({"stdlib_allow": "json;os"}, "N8N_RUNNERS_STDLIB_ALLOW"),
        ({"builtins_deny": "eval,not a name"}, "N8N_RUNNERS_BUILTINS_DENY"),
        ({"env_allow": "A=B"}, "N8N_RUNNER_ENV_ALLOW"),
    ],
)
def test_malformed_values_are_rejected_naming_the_variable(
    kwargs: dict[str, str], variable: str
) -> None:
    with pytest.raises(SandboxConfigError, match=variable):
        SandboxPolicy.from_strings(**kwargs)


def test_empty_deny_list_denies_nothing() -> None:
    assert SandboxPolicy.from_strings(builtins_deny="").builtins_deny == frozenset()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("true", True), ("TRUE", True), (" True ", True), ("1", True), ("on", True)],
        *[("false", False), ("0", False), ("No", False), ("off", False)],
    ],
)
def test_booleans_are_read_as_every_boolean_setting_is(raw: str, expected: bool) -> None:
    policy = SandboxPolicy.from_strings(block_env_access=raw, allow_transitive_imports=raw)
    assert policy.block_env_access is expected
    assert policy.allow_transitive_imports is expected


def test_a_blank_boolean_keeps_its_default() -> None:
    policy = SandboxPolicy.from_strings(block_env_access=" ", allow_transitive_imports="")
    assert policy.block_env_access
    assert not policy.allow_transitive_imports


def test_a_boolean_that_is_no_boolean_is_rejected_naming_the_variable() -> None:
    with pytest.raises(SandboxConfigError, match="N8N_BLOCK_RUNNER_ENV_ACCESS"):
        SandboxPolicy.from_strings(block_env_access="maybe")


def test_every_malformed_setting_is_reported_at_once() -> None:
    with pytest.raises(SandboxConfigError) as raised:
        SandboxPolicy.from_strings(
            stdlib_allow="json,*", mode="paranoid", disabled_layers="apparmor"
        )
    assert [issue.key for issue in raised.value.issues] == [
        "N8N_RUNNERS_STDLIB_ALLOW",
        "N8N_RUNNERS_SANDBOX",
        "N8N_RUNNERS_SANDBOX_DISABLE",
    ]


def test_a_malformed_setting_recorded_in_issues_keeps_its_default() -> None:
    issues: list[ConfigIssue] = []
    policy = SandboxPolicy.from_strings(stdlib_allow="json,*", mode="strict", issues=issues)
    assert [str(issue) for issue in issues] == [
        "N8N_RUNNERS_STDLIB_ALLOW: '*' must stand alone, got 'json,*'"
    ]
    assert (policy.stdlib_allow, policy.stdlib_allow_all, policy.mode) == (
        frozenset(),
        False,
        "strict",
    )


def test_booleans_may_also_be_given_as_bools() -> None:
    policy = SandboxPolicy.from_strings(block_env_access=False, allow_transitive_imports=True)
    assert not policy.block_env_access
    assert policy.allow_transitive_imports
