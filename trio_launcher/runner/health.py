"""The runner's optional health endpoint (imported only when it is enabled)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import trio

from ..envconfig import ConfigError
from ..transport.http_server import Request, Response, serve_http_connection

if TYPE_CHECKING:
    from .task_runner import TaskRunner

__all__ = ["serve_health"]


async def serve_health(runner: TaskRunner, *, task_status: trio.TaskStatus[int]) -> None:
    """Serve ``GET /healthz`` -> 200 with a small JSON state; ``started(port)``.

    Raises :class:`ConfigError` naming the setting if it cannot listen.

    Any other path gets 404. The answer comes from the runner's event loop, so
    a runner whose loop is stuck does not answer, which is what the launcher's
    probe looks for.
    """
    health = runner.config.health_check
    try:
        listeners = await trio.open_tcp_listeners(health.port, host=health.host)
    except OSError as exc:
        raise ConfigError([cannot_listen(health.host, health.port, exc)]) from None
    task_status.started(listeners[0].socket.getsockname()[1])

    async def on_request(request: Request) -> Response:
        if request.path != "/healthz":
            return Response.json(404, {"message": "Not Found"})
        state = {"status": "ok", "connected": runner.connected, "tasks": runner.running_tasks}
        return Response.json(200, state)

    async def serve(stream: trio.SocketStream) -> None:
        await serve_http_connection(stream, on_request, max_body=4096)

    await trio.serve_listeners(serve, listeners)


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """The problem to report when the health endpoint cannot listen."""
    why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return (
        f"N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT: cannot listen on {host}:{port}: {why}; "
        "another process (another runner?) may hold it: choose a free port (under a "
        "launcher: health-check-server-port in n8n-task-runners.json)"
    )
