"""Requests to their handlers by method and path, as every server here routes them."""

from __future__ import annotations

from collections.abc import Mapping

from .http_messages import Request, Response
from .http_server import HttpHandler

__all__ = ["Routes", "answer"]

#: ``(method, path)`` -> the handler of such requests.
Routes = Mapping[tuple[str, str], HttpHandler]

_NOT_FOUND = Response.json(404, {"message": "Not Found"})
_METHOD_NOT_ALLOWED = Response.json(405, {"message": "Method Not Allowed"})


async def answer(routes: Routes, request: Request) -> Response:
    """The route's answer; 404 for a path no route has, 405 for a method its path lacks."""
    handler = routes.get((request.method, request.path))
    if handler is not None:
        return await handler(request)
    if any(path == request.path for _, path in routes):
        return _METHOD_NOT_ALLOWED
    return _NOT_FOUND
