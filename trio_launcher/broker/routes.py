"""The broker's HTTP side: its routes, the runner WebSocket's admission, connection slots.

One TCP port serves plain HTTP and runner WebSockets, as n8n's broker does.
The h11 front end parses every request; a WebSocket upgrade is checked here
before anything is answered, then refused (n8n's statuses: 400, 401, 403,
404, 503, each with its body) or accepted by trio-websocket, which reads the
request again from the bytes the front end replays.
"""

from __future__ import annotations

import logging
from functools import partial

import attrs
import trio

from ..transport import websocket
from ..transport.connection_slots import ConnectionSlots, Slot, raise_open_files_limit, slots_for
from ..transport.http_messages import Request, Response
from ..transport.http_server import serve_http_connection
from ..transport.routes import Routes, answer
from ..transport.websocket import HandshakeError
from .grants import RateLimiter, tokens_equal
from .network_requester import admit_task_request, handle_task_request
from .server import Broker

__all__ = ["RUNNERS_PATH", "BrokerHttp"]

log = logging.getLogger(__name__)

RUNNERS_PATH = "/runners"
#: The most bytes of a request body taken before authentication (the auth body is a token).
SMALL_BODY_LIMIT = 4096
_TOO_MANY = Response.json(429, {"message": "Too many requests"})
_FORBIDDEN = {"code": 403, "message": "Forbidden"}


class BrokerHttp:
    """Serves the broker's TCP connections: HTTP requests and runner WebSockets.

    Each connection takes a slot: when all are taken, the oldest connection
    not yet authenticated is closed for it (see
    :mod:`trio_launcher.transport.connection_slots`).
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._config = broker.config
        self._auth_limiter = RateLimiter(self._config.auth_rate_limit)
        self._refused_limiter = RateLimiter(self._config.refused_rate_limit)
        self._slots = ConnectionSlots(slots_for(raise_open_files_limit()))
        self._routes: Routes = {
            ("POST", f"{RUNNERS_PATH}/auth"): self._auth,
            ("GET", "/healthz"): self._healthz,
            ("GET", "/status"): self._status,
            ("POST", "/tasks"): partial(handle_task_request, broker),
        }

    async def handle_connection(self, stream: trio.SocketStream) -> None:
        """Serve one TCP connection (plain HTTP, or a runner's WebSocket)."""
        slot = self._slots.take()
        if slot is None:
            log.warning(
                "refused a connection: all %d slots hold runners and requesters", len(self._slots)
            )
            await stream.aclose()
            return
        try:
            with slot.cancel_scope:
                await serve_http_connection(
                    stream,
                    partial(answer, self._routes),
                    partial(self._on_upgrade, slot),
                    max_body=SMALL_BODY_LIMIT,
                    admit=partial(self._admit, slot),
                    request_timeout=self._config.http_request_timeout,
                    keepalive_timeout=self._config.http_keepalive_timeout,
                )
        finally:
            self._slots.release(slot)

    def _admit(self, slot: Slot, request: Request) -> Response | int:
        """Before a body is read: only an authenticated ``POST /tasks`` may send a large one."""
        if (request.method, request.path) == ("POST", "/tasks"):
            admission = admit_task_request(self._config, request, self._refuse_token)
            if not isinstance(admission, Response):
                self._slots.trust(slot)
            return admission
        return SMALL_BODY_LIMIT

    def _refuse_token(
        self, request: Request, refusal: Response, too_many: Response = _TOO_MANY
    ) -> Response:
        """``refusal`` for a wrong token, or ``too_many`` if its client tried too many of late.

        Wrong tokens have a bucket of their own, so they never hold up a right one.
        """
        if not self._refused_limiter.allow(request.client, trio.current_time()):
            return too_many
        return refusal

    async def _auth(self, request: Request) -> Response:
        try:
            token = request.json().get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str):
            return Response.json(400, {"code": 400, "message": "invalid_type"})
        if token == "":
            return Response.json(400, {"code": 400, "message": "too_small"})
        if not tokens_equal(token, self._broker.auth_token):
            return self._refuse_token(request, Response.json(403, _FORBIDDEN))
        if not self._auth_limiter.allow(request.client, trio.current_time()):
            return _TOO_MANY
        return Response.json(200, {"data": {"token": self._broker.issue_grant_token()}})

    async def _healthz(self, request: Request) -> Response:
        return Response.json(200, {"status": "ok"})

    async def _status(self, request: Request) -> Response:
        return Response.json(200, attrs.asdict(self._broker.status()))

    async def _on_upgrade(
        self, slot: Slot, request: Request, stream: trio.abc.Stream
    ) -> Response | None:
        refusal = self._check_upgrade(request)
        try:
            if refusal is not None:
                await websocket.reject(stream, refusal.status, body=refusal.body)
                return None
            self._slots.trust(slot)
            max_size = self._config.max_payload
            async with websocket.accept(stream, max_message_size=max_size) as ws:
                await self._broker.serve_runner(ws, request.query["id"][0])
        except HandshakeError as exc:
            log.info("a WebSocket upgrade from %s failed: %s", request.client, exc)
        return None

    def _check_upgrade(self, request: Request) -> Response | None:
        if request.path != f"{RUNNERS_PATH}/_ws":
            return Response.json(404, {"message": "Not Found"})
        if self._broker.shutting_down:
            return Response.json(503, {"message": "Service Unavailable"})
        if not request.query.get("id", [""])[0]:
            return Response.json(400, {"message": "Missing runner id"})
        token = request.bearer_token()
        if token is None:
            return Response.json(401, {"message": "Unauthorized"})
        if not self._broker.take_grant_token(token):
            return Response.json(403, {"message": "Forbidden"})
        return None
