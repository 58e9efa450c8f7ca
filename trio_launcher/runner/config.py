"""Configuration of the Python task runner, from n8n's environment variables (reference 6.2)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from ..broker_uri import broker_netloc, broker_uri_issues, broker_websocket_url
from ..config_error import ConfigError, ConfigIssue
from ..envconfig import EnvReader
from ..logging_setup import LOG_LEVELS
from .sandbox.policy import DEFAULT_BUILTINS_DENY, SandboxPolicy

__all__ = ["HealthCheckConfig", "RunnerConfig"]

MAX_PIPE_PAYLOAD = 2**32 - 1


@attrs.frozen(kw_only=True)
class HealthCheckConfig:
    """The runner's optional ``GET /healthz`` server."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5681


@attrs.frozen(kw_only=True)
class RunnerConfig:
    """Everything the Python task runner needs. Defaults are n8n's Python runner's.

    Our own settings (not in n8n): ``auth_token`` lets the runner fetch a fresh
    grant token itself when it must reconnect; ``reconnect_delay``;
    ``settings_timeout`` releases a task slot whose settings never came;
    ``task_memory_limit_mb`` caps each task process's address space (0 = off).
    ``sandbox`` is what user code may do: n8n's allow and deny lists, and our
    kernel layers (``N8N_RUNNERS_SANDBOX``: strict, best-effort or off;
    ``N8N_RUNNERS_SANDBOX_DISABLE``, layer names; ``docs/runner-sandbox.md``).
    """

    grant_token: str = attrs.field(default="", repr=False)
    auth_token: str = attrs.field(default="", repr=False)
    task_broker_uri: str = "http://127.0.0.1:5679"
    runner_id: str = ""
    name: str = "Python Task Runner"
    max_concurrency: int = 5
    max_payload: int = 1024 * 1024 * 1024
    task_timeout: float = 60.0
    auto_shutdown_timeout: float = 0.0
    graceful_shutdown_timeout: float = 10.0
    reconnect_delay: float = 5.0
    settings_timeout: float = 10.0
    task_memory_limit_mb: int = 1024
    sandbox: SandboxPolicy = attrs.field(factory=SandboxPolicy)
    health_check: HealthCheckConfig = HealthCheckConfig()
    log_level: str = "INFO"

    @property
    def broker_netloc(self) -> str:
        """``host:port`` of the broker URI (the only part runners use)."""
        return broker_netloc(self.task_broker_uri)

    @property
    def websocket_url(self) -> str:
        """Where the runner connects: ``ws://`` (``wss://`` for a broker behind TLS), no path."""
        return broker_websocket_url(self.task_broker_uri)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunnerConfig:
        """Read every ``N8N_RUNNERS_*`` variable (and ``NAME_FILE``).

        Raises :class:`~trio_launcher.config_error.ConfigError` naming every bad variable.
        """
        env = EnvReader(os.environ if environ is None else environ)
        config = cls(
            grant_token=env.string("N8N_RUNNERS_GRANT_TOKEN", ""),
            auth_token=env.string("N8N_RUNNERS_AUTH_TOKEN", ""),
            task_broker_uri=env.string("N8N_RUNNERS_TASK_BROKER_URI", "http://127.0.0.1:5679"),
            runner_id=env.string("N8N_RUNNERS_ID", ""),
            max_concurrency=env.integer("N8N_RUNNERS_MAX_CONCURRENCY", 5, minimum=1),
            max_payload=env.integer(
                "N8N_RUNNERS_MAX_PAYLOAD", 1024**3, minimum=1024, maximum=MAX_PIPE_PAYLOAD
            ),
            task_timeout=env.number("N8N_RUNNERS_TASK_TIMEOUT", 60.0, minimum=0.001),
            auto_shutdown_timeout=env.number("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", 0.0, minimum=0.0),
            graceful_shutdown_timeout=env.number(
                "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT", 10.0, minimum=0.001
            ),
            reconnect_delay=env.number("TRIO_LAUNCHER_RECONNECT_DELAY", 5.0, minimum=0.0),
            settings_timeout=env.number("TRIO_LAUNCHER_SETTINGS_TIMEOUT", 10.0, minimum=0.001),
            task_memory_limit_mb=env.integer("TRIO_LAUNCHER_TASK_MEMORY_LIMIT_MB", 1024, minimum=0),
            sandbox=_sandbox_from_env(env),
            health_check=HealthCheckConfig(
                enabled=env.boolean("N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED", False),
                host=env.string("N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST", "127.0.0.1"),
                port=env.integer(
                    "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT", 5681, minimum=0, maximum=65535
                ),
            ),
            log_level=env.choice("N8N_RUNNERS_LAUNCHER_LOG_LEVEL", "info", LOG_LEVELS).upper(),
        )
        env.issues.extend(config.issues())
        env.check()
        return config

    def issues(self) -> list[ConfigIssue]:
        """What is wrong with this configuration, one issue per variable at fault.

        The sandbox policy needs no check here: it cannot be built malformed.
        """
        found = []
        if not self.grant_token and not self.auth_token:
            message = (
                "required (or set N8N_RUNNERS_AUTH_TOKEN so the runner can fetch its own "
                "grant token)"
            )
            found.append(ConfigIssue(key="N8N_RUNNERS_GRANT_TOKEN", message=message))
        return found + broker_uri_issues(self.task_broker_uri)

    def validate(self) -> None:
        """Raise :class:`ConfigError` if :meth:`issues` finds anything."""
        found = self.issues()
        if found:
            raise ConfigError(found)


def _sandbox_from_env(env: EnvReader) -> SandboxPolicy:
    """The sandbox policy from its variables; a bad one is recorded in ``env``."""
    return SandboxPolicy.from_strings(
        stdlib_allow=env.string("N8N_RUNNERS_STDLIB_ALLOW", ""),
        external_allow=env.string("N8N_RUNNERS_EXTERNAL_ALLOW", ""),
        builtins_deny=env.string("N8N_RUNNERS_BUILTINS_DENY", DEFAULT_BUILTINS_DENY),
        block_env_access=env.boolean("N8N_BLOCK_RUNNER_ENV_ACCESS", True),
        env_allow=env.string("N8N_RUNNER_ENV_ALLOW", ""),
        allow_transitive_imports=env.boolean("N8N_RUNNERS_ALLOW_TRANSITIVE_IMPORTS", False),
        mode=env.string("N8N_RUNNERS_SANDBOX", ""),
        disabled_layers=env.string("N8N_RUNNERS_SANDBOX_DISABLE", ""),
        issues=env.issues,
    )
