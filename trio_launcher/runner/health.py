"""The runner's optional health endpoint (imported only when it is enabled)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..config_error import ConfigError
from ..ports import cannot_listen_message
from ..transport.json_server import serve_json
from .config import HealthCheckConfig

__all__ = ["start_health"]


async def start_health(
    nursery: trio.Nursery, health: HealthCheckConfig, state: Callable[[], Any]
) -> int:
    """Serve ``GET /healthz`` -> 200 with ``state()`` in ``nursery``; return the port.

    Raises :class:`ConfigError` naming the setting if it cannot listen.
    """
    try:
        port: int = await nursery.start(serve_json, {"/healthz": state}, health.host, health.port)
    except OSError as exc:
        problem = cannot_listen_message(
            exc,
            host=health.host,
            port=health.port,
            port_setting="N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT",
            host_setting="N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST",
            where_set="under a launcher: health-check-server-port in n8n-task-runners.json",
        )
        raise ConfigError([problem]) from None
    return port
