"""The runner's optional health endpoint (imported only when it is enabled)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import trio

from ..config_error import ConfigError
from ..transport.json_server import serve_json
from .config import HealthCheckConfig

__all__ = ["cannot_listen", "start_health"]


async def start_health(
    nursery: trio.Nursery, health: HealthCheckConfig, state: Callable[[], Any]
) -> int:
    """Serve ``GET /healthz`` -> 200 with ``state()`` in ``nursery``; return the port.

    Raises :class:`ConfigError` naming the setting if it cannot listen.
    """
    try:
        port: int = await nursery.start(serve_json, {"/healthz": state}, health.host, health.port)
    except OSError as exc:
        raise ConfigError([cannot_listen(health.host, health.port, exc)]) from None
    return port


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """The problem to report when the health endpoint cannot listen."""
    why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return (
        f"N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT: cannot listen on {host}:{port}: {why}; "
        "another process (another runner?) may hold it: choose a free port (under a "
        "launcher: health-check-server-port in n8n-task-runners.json)"
    )
