"""``POST /tasks``: submit a task to the broker from another process.

Request (``Authorization: Bearer <requester token>``)::

    {"taskType": "python", "settings": {...}, "items": [...], "timeout": 30}

``items`` (optional) answer the data requests of n8n's JS runner; ``timeout``
(optional, seconds) bounds the whole call. Answers: ``200`` with
``{"result": ..., "customData": ..., "staticData": ...}``, or an error status
with ``{"error": {"kind": ..., "message": ..., "details": ...}}`` (see
``docs/broker.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..transport.http_messages import Request, Response
from .config import BrokerConfig
from .errors import TaskError
from .grants import tokens_equal
from .server import Broker

__all__ = ["ERROR_STATUS", "RefuseToken", "admit_task_request", "handle_task_request"]

#: Given a request with a wrong token, its refusal and the answer when its
#: client tried too many of late: which one to send.
RefuseToken = Callable[[Request, Response, Response], Response]


#: TaskError.kind -> HTTP status of the answer.
ERROR_STATUS: dict[str, int] = {
    "task_failed": 422,
    "request_timeout": 504,
    "task_timeout": 504,
    "timeout": 504,
    "runner_disconnected": 502,
    "draining": 503,
}


def _error(status: int, kind: str, message: str, details: Any = None) -> Response:
    return Response.json(status, {"error": {"kind": kind, "message": message, "details": details}})


def admit_task_request(
    config: BrokerConfig, request: Request, refuse_token: RefuseToken
) -> Response | int:
    """From the request's head: a refusal (body unread), or the most bytes its body may have."""
    expected = config.requester_token
    if not expected:
        return _error(404, "disabled", "the requester endpoint is off: no requester token is set")
    token = request.bearer_token()
    if token is None or not tokens_equal(token, expected):
        refusal = _error(401, "unauthorized", "missing or wrong requester token")
        too_many = _error(429, "rate_limited", "too many wrong requester tokens; try again later")
        return refuse_token(request, refusal, too_many)
    return config.max_payload


async def handle_task_request(broker: Broker, request: Request) -> Response:
    """Validate and run one task admitted by :func:`admit_task_request`; answer its outcome."""
    parsed = _parse(request)
    if isinstance(parsed, Response):
        return parsed
    task_type, settings, items, timeout = parsed
    with trio.move_on_after(timeout) as scope:
        try:
            result = await broker.run_task(task_type, settings, items=items)
        except TaskError as exc:
            return _error(ERROR_STATUS.get(exc.kind, 500), exc.kind, exc.message, exc.error)
    if scope.cancelled_caught:
        return _error(504, "timeout", f"the task took longer than {timeout} s and was cancelled")
    body = {"result": result.result}
    if result.custom_data is not None:
        body["customData"] = result.custom_data
    if result.static_data is not None:
        body["staticData"] = result.static_data
    return Response.json(200, body)


def _parse(request: Request) -> tuple[str, Any, list[Any], float] | Response:
    try:
        body = request.json()
    except ValueError:
        return _error(400, "bad_request", "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "bad_request", "the body must be a JSON object")
    task_type, items, timeout = body.get("taskType"), body.get("items", []), body.get("timeout")
    if not isinstance(task_type, str) or not task_type:
        return _error(400, "bad_request", "'taskType' must be a non-empty string")
    if "settings" not in body:
        return _error(400, "bad_request", "'settings' is required")
    if not isinstance(items, list):
        return _error(400, "bad_request", "'items' must be an array")
    if timeout is None:
        timeout = float("inf")
    elif isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        return _error(400, "bad_request", "'timeout' must be a positive number of seconds")
    return task_type, body["settings"], items, float(timeout)
