"""The environment a runner child gets (reference 8.2), with one documented precedence rule."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..protocol.n8n_errors import format_seconds
from .config import ALWAYS_PASSED, PROTECTED_ENV, LauncherConfig, RunnerSpec

__all__ = ["runner_environment"]

log = logging.getLogger(__name__)


def runner_environment(
    config: LauncherConfig, spec: RunnerSpec, grant_token: str
) -> dict[str, str]:
    """The runner's environment: minimal, with the protected variables set by us.

    Order: the launcher's ``LANG``, ``PATH``, ``TZ``, ``TERM`` and
    ``allowed-env``; then ``default-env`` for the variables not passed through;
    then our ``N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT`` and
    ``N8N_RUNNERS_TASK_TIMEOUT`` unless set by then; then ``env-overrides``
    (or, with ``env_precedence="environment"``, overrides only for variables
    the launcher's environment does not pass through); the protected variables
    last, so nothing can change them.
    """
    source = config.environ
    passed = {
        name: source[name]
        for name in sorted({*ALWAYS_PASSED, *spec.allowed_env})
        if name in source and name not in PROTECTED_ENV
    }
    env = dict(passed)
    for name, value in _unprotected(spec.runner_type, "default-env", spec.default_env).items():
        env.setdefault(name, value)
    env.setdefault("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", str(config.auto_shutdown_timeout))
    env.setdefault("N8N_RUNNERS_TASK_TIMEOUT", format_seconds(config.task_timeout))
    env.update(_overrides(spec.runner_type, spec.env_overrides, passed, config.env_precedence))
    env.update(
        N8N_RUNNERS_TASK_BROKER_URI=config.task_broker_uri,
        N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED="true",
        N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT=str(spec.health_check_port),
        N8N_RUNNERS_GRANT_TOKEN=grant_token,
    )
    return env


def _overrides(
    runner_type: str, overrides: Mapping[str, str], passed: Mapping[str, str], precedence: str
) -> dict[str, str]:
    kept = _unprotected(runner_type, "env-overrides", overrides)
    if precedence == "environment":
        return {name: value for name, value in kept.items() if name not in passed}
    return kept


def _unprotected(runner_type: str, key: str, variables: Mapping[str, str]) -> dict[str, str]:
    """``variables`` without those the launcher sets itself (each dropped with a warning)."""
    kept = {}
    for name, value in variables.items():
        if name in PROTECTED_ENV:
            log.warning("[launcher:%s] %s cannot set %s; ignored", runner_type, key, name)
        else:
            kept[name] = value
    return kept
