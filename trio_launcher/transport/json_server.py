"""A server of JSON ``GET`` endpoints, such as the runner's and the launcher's ``/healthz``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import trio

from .http_messages import Request, Response
from .http_server import HttpHandler, serve_http_connection
from .routes import Routes, answer

__all__ = ["JsonRoutes", "serve_json"]

#: Path -> the function whose result ``GET`` on it answers, as JSON, with 200.
JsonRoutes = Mapping[str, Callable[[], Any]]
#: A ``GET`` carries no body worth reading.
MAX_BODY = 4096


async def serve_json(
    routes: JsonRoutes,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``routes`` on ``host:port`` until cancelled; ``task_status.started(port)``.

    ``started`` gives the port listened on (the OS chooses it for port 0).
    Raises :class:`OSError` before it starts if it cannot listen. Another
    path is answered 404, another method 405. The answers come from the
    caller's event loop: a process whose loop is stuck does not answer,
    which is what a health probe looks for.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    handlers: Routes = {("GET", path): _handler(state) for path, state in routes.items()}
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(partial(_serve, handlers), listeners)


def _handler(state: Callable[[], Any]) -> HttpHandler:
    async def handle(request: Request) -> Response:
        return Response.json(200, state())

    return handle


async def _serve(routes: Routes, stream: trio.SocketStream) -> None:
    await serve_http_connection(stream, partial(answer, routes), max_body=MAX_BODY)
