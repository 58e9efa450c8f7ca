"""The runner's optional health endpoint (imported only when it is enabled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..httpserver import Request, Response, serve_http_connection

if TYPE_CHECKING:
    from .task_runner import TaskRunner

__all__ = ["serve_health"]


async def serve_health(runner: TaskRunner, *, task_status: trio.TaskStatus[int]) -> None:
    """Serve ``GET /healthz`` -> 200 with a small JSON state; ``started(port)``.

    Any other path gets 404. The answer comes from the runner's event loop, so
    a runner whose loop is stuck does not answer, which is what the launcher's
    probe looks for.
    """
    health = runner.config.health_check
    listeners = await trio.open_tcp_listeners(health.port, host=health.host)
    task_status.started(listeners[0].socket.getsockname()[1])

    async def on_request(request: Request) -> Response:
        if request.path != "/healthz":
            return Response.json(404, {"message": "Not Found"})
        state = {"status": "ok", "connected": runner.connected, "tasks": runner.running_tasks}
        return Response.json(200, state)

    async def serve(stream: trio.SocketStream) -> None:
        await serve_http_connection(stream, on_request, max_body=4096)

    await trio.serve_listeners(serve, listeners)
