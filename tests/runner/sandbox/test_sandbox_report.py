"""The sandbox mode decides which missing kernel layer stops the runner."""

from __future__ import annotations

import pytest

from trio_launcher.config_error import ConfigError
from trio_launcher.runner.sandbox.confinement_check import ConfinementCheck, SandboxUnavailable
from trio_launcher.runner.sandbox.policy import SandboxConfigError, SandboxPolicy

ALL_ON = {
    "namespaces": "on (user, pid, net, mount, ipc)",
    "privileges": "on",
    "landlock": "on (ABI 7: files, tcp, signals)",
    "seccomp": "on",
    "cgroup": "on (a cgroup per task, in /sys/fs/cgroup/trio-launcher-1)",
}
NO_LANDLOCK = {**ALL_ON, "landlock": "unavailable: the kernel has no Landlock (Linux >= 5.13)"}


def check(mode: str, *reports: dict[str, str]) -> None:
    checker = ConfinementCheck(SandboxPolicy.from_strings(mode=mode))
    for report in reports:
        checker.check(report)


def test_strict_refuses_a_missing_layer_and_names_it() -> None:
    check("strict", ALL_ON)
    with pytest.raises(SandboxUnavailable) as info:
        check("strict", NO_LANDLOCK)
    assert set(info.value.missing) == {"landlock"}
    assert isinstance(info.value, ConfigError)  # exit code 2


def test_best_effort_runs_with_what_there_is() -> None:
    check("best-effort", NO_LANDLOCK, {})


def test_unset_requires_what_the_first_worker_had() -> None:
    check("", NO_LANDLOCK, NO_LANDLOCK)
    with pytest.raises(SandboxUnavailable):
        check("", ALL_ON, NO_LANDLOCK)


def test_a_disabled_layer_is_not_required_even_in_strict_mode() -> None:
    policy = SandboxPolicy.from_strings(mode="strict", disabled_layers="landlock")
    assert "landlock" not in policy.kernel_layers
    ConfinementCheck(policy).check({**NO_LANDLOCK, "landlock": "off (disabled)"})


def test_off_applies_no_layer() -> None:
    assert SandboxPolicy.from_strings(mode="off").kernel_layers == frozenset()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"mode": "paranoid"}, "N8N_RUNNERS_SANDBOX"),
        ({"disabled_layers": "seccomp,apparmor"}, "N8N_RUNNERS_SANDBOX_DISABLE"),
    ],
)
def test_bad_settings_name_the_variable(settings: dict[str, str], variable: str) -> None:
    with pytest.raises(SandboxConfigError, match=variable):
        SandboxPolicy.from_strings(**settings)
