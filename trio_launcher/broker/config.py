"""Settings of the embedded task broker, from n8n's environment variables or arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from ..envconfig import EnvReader
from ..transport.http_server import DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT

__all__ = ["BrokerConfig"]

DEFAULT_MAX_PAYLOAD = 1024 * 1024 * 1024


@attrs.frozen(kw_only=True)
class BrokerConfig:
    """Everything the broker server needs; defaults are n8n 2.41's (reference 4.11).

    ``auth_token`` is the shared secret runners and launchers trade for grant
    tokens; when empty, a random one is made at start (as n8n does) and can be
    read from :attr:`Broker.auth_token`. ``requester_token`` enables the network
    requester endpoint (``POST /tasks``); when empty the endpoint is off.

    ``auth_rate_limit`` bounds the grant tokens one client address gets per
    second; ``refused_rate_limit`` bounds, apart from it, the wrong auth or
    requester tokens one address may try per second (then 429), so that a
    flood of wrong tokens never delays a caller holding the right one.
    ``http_request_timeout`` is how long a request may take to arrive whole,
    ``http_keepalive_timeout`` how long a connection may stay idle between
    requests.
    """

    host: str = "127.0.0.1"
    port: int = 5679
    auth_token: str = attrs.field(default="", repr=False)
    requester_token: str = attrs.field(default="", repr=False)
    max_payload: int = DEFAULT_MAX_PAYLOAD
    task_timeout: float = 300.0
    task_request_timeout: float = 60.0
    task_accept_timeout: float = 2.0
    heartbeat_interval: float = 30.0
    grant_token_ttl: float = 30.0
    drain_timeout: float = 24.0
    auth_rate_limit: int = 5
    refused_rate_limit: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    http_request_timeout: float = attrs.field(
        default=DEFAULT_REQUEST_TIMEOUT, validator=attrs.validators.gt(0)
    )
    http_keepalive_timeout: float = attrs.field(
        default=DEFAULT_KEEPALIVE_TIMEOUT, validator=attrs.validators.gt(0)
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> BrokerConfig:
        """Read the ``N8N_RUNNERS_*`` variables (and ``NAME_FILE``); ``overrides`` win.

        Raises :class:`~trio_launcher.envconfig.ConfigError` naming every bad variable.
        """
        env = EnvReader(os.environ if environ is None else environ)
        values: dict[str, object] = {
            "host": env.string("N8N_RUNNERS_BROKER_LISTEN_ADDRESS", "127.0.0.1"),
            "port": env.integer("N8N_RUNNERS_BROKER_PORT", 5679, minimum=0, maximum=65535),
            "auth_token": env.string("N8N_RUNNERS_AUTH_TOKEN", ""),
            "requester_token": env.string("TRIO_LAUNCHER_REQUESTER_TOKEN", ""),
            "max_payload": env.integer(
                "N8N_RUNNERS_MAX_PAYLOAD", DEFAULT_MAX_PAYLOAD, minimum=1024
            ),
            "task_timeout": env.number("N8N_RUNNERS_TASK_TIMEOUT", 300.0, minimum=0.001),
            "task_request_timeout": env.number(
                "N8N_RUNNERS_TASK_REQUEST_TIMEOUT", 60.0, minimum=0.001
            ),
            "task_accept_timeout": env.number(
                "N8N_RUNNERS_TASK_ACCEPT_TIMEOUT", 2.0, minimum=0.001
            ),
            "heartbeat_interval": env.number("N8N_RUNNERS_HEARTBEAT_INTERVAL", 30.0, minimum=0.001),
            "grant_token_ttl": env.number("N8N_RUNNERS_GRANT_TOKEN_TTL", 30.0, minimum=0.001),
            "drain_timeout": 0.8 * env.number("N8N_GRACEFUL_SHUTDOWN_TIMEOUT", 30.0, minimum=0.0),
        }
        env.check()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
