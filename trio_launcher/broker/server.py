"""The embedded task broker: n8n's broker protocol over HTTP and WebSocket on one port.

:func:`open_broker` (an async context manager) and :func:`serve_broker` (for
``nursery.start``) run a :class:`Broker`. The broker's decisions all live in
the sans-IO :class:`~trio_launcher.protocol.broker.BrokerCore`; this module
only moves bytes and time in and out of it.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio
from wsproto.utilities import RemoteProtocolError

from ..transport.connection_slots import ConnectionSlots, Slot, raise_open_files_limit, slots_for
from ..transport.http_server import Request, Response, serve_http_connection
from ..mailbox import Mailbox
from ..protocol import Message, RequesterTaskRequest
from ..protocol.broker import (
    BrokerCore,
    BrokerTimeouts,
    CloseRunner,
    DisconnectCause,
    Output,
    SendToRequester,
    SendToRunner,
)
from ..protocol.reasons import CLOSE_GOING_AWAY
from ..websocket import WebSocketConnection, accept
from .config import BrokerConfig
from .grants import GrantTokens, RateLimiter, tokens_equal
from .requester import RpcHandler, TaskResult, run_task
from .runner_socket import RunnerSocket

__all__ = ["Broker", "BrokerStatus", "open_broker", "serve_broker"]

log = logging.getLogger(__name__)

RUNNERS_PATH = "/runners"
#: The most bytes of a request body taken before authentication (the auth body is a token).
SMALL_BODY_LIMIT = 4096
_TOO_MANY = Response.json(429, {"message": "Too many requests"})
#: How long shutdown waits for runners to receive their close frames.
CLOSE_TIMEOUT = 5.0


@attrs.frozen
class BrokerStatus:
    """A snapshot of the broker, as served by ``GET /status``."""

    runners: int
    offers: int
    pending_requests: int
    tasks_in_flight: int
    draining: bool
    connections: int
    grant_tokens_outstanding: int


class Broker:
    """A running task broker: its address, the requester API and its state.

    Get one from :func:`open_broker` or :func:`serve_broker`.
    """

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.auth_token = config.auth_token or secrets.token_hex(16)
        self.port = config.port
        self._core = BrokerCore(
            BrokerTimeouts(
                accept=config.task_accept_timeout,
                request=config.task_request_timeout,
                task=config.task_timeout,
            )
        )
        self._grants = GrantTokens(config.grant_token_ttl)
        self._auth_limiter = RateLimiter(config.auth_rate_limit)
        self._refused_limiter = RateLimiter(config.refused_rate_limit)
        self._slots = ConnectionSlots(slots_for(raise_open_files_limit()))
        self._sockets: dict[int, RunnerSocket] = {}
        self._requesters: dict[str, Mailbox[Message]] = {}
        self._connection_ids = itertools.count(1)
        self._requester_ids = itertools.count(1)
        self._timer_scope = trio.CancelScope()
        self._shutting_down = False
        self._idle = trio.Event()
        self._socket_gone = trio.Event()

    # --- public API ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The broker's base URL, e.g. ``http://127.0.0.1:5679``."""
        return f"http://{self.config.host}:{self.port}"

    async def run_task(
        self,
        task_type: str,
        settings: Any,
        *,
        items: Sequence[Any] = (),
        on_rpc: RpcHandler | None = None,
    ) -> TaskResult:
        """Run one task on a runner of ``task_type`` and return its result.

        ``settings`` go to the runner as they are (for the Python runner:
        ``code``, ``nodeMode``, ``items``...). ``items`` answer the data
        requests of n8n's JS runner. ``on_rpc(name, params)`` answers the
        runner's RPC calls (``logNodeOutput``...); without it they succeed
        and are logged at debug level.

        Raises a :class:`~trio_launcher.broker.errors.TaskError` subclass:
        :class:`TaskRequestTimedOut`, :class:`TaskTimedOut`,
        :class:`RunnerDisconnected`, :class:`TaskFailed` (carrying the
        runner's error object) or :class:`BrokerDraining`. Cancelling the
        caller cancels the task on its runner.
        """
        requester = f"local-{next(self._requester_ids)}"
        inbox: Mailbox[Message] = Mailbox()
        self._requesters[requester] = inbox
        try:
            # A local requester makes one request: its name serves as the request id.
            self._feed_requester(requester, RequesterTaskRequest(requester, task_type))
            return await run_task(
                inbox,
                lambda message: self._feed_requester(requester, message),
                settings=settings,
                items=items,
                on_rpc=on_rpc,
            )
        finally:
            del self._requesters[requester]
            self._apply(self._core.forget_requester(requester, trio.current_time()))

    def status(self) -> BrokerStatus:
        """What the broker holds right now."""
        stats = self._core.statistics()
        return BrokerStatus(
            runners=stats.runners,
            offers=stats.offers,
            pending_requests=stats.pending_requests,
            tasks_in_flight=stats.tasks_in_flight,
            draining=stats.draining,
            connections=len(self._sockets),
            grant_tokens_outstanding=len(self._grants),
        )

    def issue_grant_token(self) -> str:
        """A single-use grant token, as ``POST /runners/auth`` would give."""
        return self._grants.issue(trio.current_time())

    async def shutdown(self) -> None:
        """Drain: tell every runner, wait (bounded) for tasks in flight, close with 1001."""
        if self._shutting_down:
            return
        self._shutting_down = True
        log.info("draining: %d runner(s), %d task(s) in flight", *self._drain_counts())
        now = trio.current_time()
        self._apply(self._core.drain(now, task_deadline=now + self.config.drain_timeout))
        with trio.move_on_after(self.config.drain_timeout):
            while self._core.tasks_in_flight:
                self._idle = trio.Event()
                await self._idle.wait()
        # Tasks past the bound are cancelled (their timers fall due now) before closing.
        self._apply(self._core.advance_time(trio.current_time()))
        for sock in list(self._sockets.values()):
            sock.close(CLOSE_GOING_AWAY, "broker shutting down", DisconnectCause.SHUTDOWN)
        with trio.move_on_after(CLOSE_TIMEOUT):
            while self._sockets:
                self._socket_gone = trio.Event()
                await self._socket_gone.wait()

    def _drain_counts(self) -> tuple[int, int]:
        stats = self._core.statistics()
        return stats.runners, stats.tasks_in_flight

    # --- core plumbing -----------------------------------------------------------

    def _feed_requester(self, requester: str, message: Message) -> None:
        self._apply(self._core.receive_from_requester(requester, message, trio.current_time()))

    def _feed_runner(self, connection: int, message: Message) -> None:
        # RemoteProtocolError propagates to the socket, which closes itself.
        self._apply(self._core.receive_from_runner(connection, message, trio.current_time()))

    def _apply(self, outputs: Sequence[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendToRunner):
                sock = self._sockets.get(output.connection)
                if sock is not None:
                    sock.send(output.message)
            elif isinstance(output, SendToRequester):
                inbox = self._requesters.get(output.requester)
                if inbox is not None:
                    inbox.put(output.message)
            elif isinstance(output, CloseRunner):
                self._close_runner(output)
        # Only an earlier deadline moves the timer: a later one would cost a
        # reschedule per message, and waking early merely finds nothing due.
        deadline = self._core.next_deadline()
        if deadline is not None and deadline < self._timer_scope.deadline:
            self._timer_scope.deadline = deadline
        if self._shutting_down and not self._core.tasks_in_flight:
            self._idle.set()

    def _close_runner(self, close: CloseRunner) -> None:
        """The core closed a connection (eviction, unresponsive, a foreign task id).

        The core has already failed the connection's tasks, so the cause the
        socket reports when it ends no longer matters.
        """
        sock = self._sockets.get(close.connection)
        if sock is not None:
            log.warning(
                "closing runner connection %d (%d): %s", close.connection, close.code, close.reason
            )
            sock.close(close.code, close.reason)

    async def run_timers(self) -> None:
        """Fire the core's timers when they fall due (runs for the broker's life)."""
        while True:
            with trio.CancelScope() as self._timer_scope:
                deadline = self._core.next_deadline()
                self._timer_scope.deadline = math.inf if deadline is None else deadline
                await trio.sleep_forever()
            self._apply(self._core.advance_time(trio.current_time()))

    # --- HTTP ------------------------------------------------------------------------

    async def handle_connection(self, stream: trio.SocketStream) -> None:
        """Serve one TCP connection (plain HTTP, or a runner's WebSocket).

        It takes a connection slot: when all are taken, the oldest connection
        not yet authenticated is closed for it (see :mod:`trio_launcher.transport.connection_slots`).
        """
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
                    self._on_request,
                    partial(self._on_upgrade, slot),
                    max_body=SMALL_BODY_LIMIT,
                    admit=partial(self._admit, slot),
                    request_timeout=self.config.http_request_timeout,
                    keepalive_timeout=self.config.http_keepalive_timeout,
                )
        finally:
            self._slots.release(slot)

    def _admit(self, slot: Slot, request: Request) -> Response | int:
        """Before a body is read: only an authenticated ``POST /tasks`` may send a large one."""
        if (request.method, request.path) == ("POST", "/tasks"):
            from .network_requester import admit_task_request

            admission = admit_task_request(self, request)
            if not isinstance(admission, Response):
                self._slots.trust(slot)
            return admission
        return SMALL_BODY_LIMIT

    def refuse_token(
        self, request: Request, refusal: Response, too_many: Response = _TOO_MANY
    ) -> Response:
        """``refusal`` for a wrong token, or ``too_many`` if its client tried too many of late.

        Wrong tokens have a bucket of their own, so they never hold up a right one.
        """
        if not self._refused_limiter.allow(request.client, trio.current_time()):
            return too_many
        return refusal

    async def _on_request(self, request: Request) -> Response:
        route = _ROUTES.get((request.method, request.path))
        if route is None:
            known_path = any(path == request.path for _, path in _ROUTES)
            return Response.json(405 if known_path else 404, {"message": "Not Found"})
        return await route(self, request)

    async def _auth(self, request: Request) -> Response:
        try:
            token = request.json().get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str):
            return Response.json(400, {"code": 400, "message": "invalid_type"})
        if token == "":
            return Response.json(400, {"code": 400, "message": "too_small"})
        if not tokens_equal(token, self.auth_token):
            return self.refuse_token(request, Response.json(403, _FORBIDDEN))
        if not self._auth_limiter.allow(request.client, trio.current_time()):
            return _TOO_MANY
        return Response.json(200, {"data": {"token": self.issue_grant_token()}})

    async def _healthz(self, request: Request) -> Response:
        return Response.json(200, {"status": "ok"})

    async def _status(self, request: Request) -> Response:
        return Response.json(200, attrs.asdict(self.status()))

    async def _tasks(self, request: Request) -> Response:
        from .network_requester import handle_task_request

        return await handle_task_request(self, request)

    async def _on_upgrade(
        self, slot: Slot, request: Request, stream: trio.abc.Stream
    ) -> Response | None:
        refusal = self._check_upgrade(request)
        if refusal is not None:
            return refusal
        self._slots.trust(slot)
        runner_id = request.query["id"][0]
        try:
            async with accept(stream, max_message_size=self.config.max_payload) as ws:
                await self._serve_runner(ws, runner_id)
        except RemoteProtocolError as exc:
            log.info("refused a malformed WebSocket upgrade: %s", exc)
        return None

    def _check_upgrade(self, request: Request) -> Response | None:
        if request.path != f"{RUNNERS_PATH}/_ws":
            return Response.json(404, {"message": "Not Found"})
        if self._shutting_down:
            return Response.json(503, {"message": "Service Unavailable"})
        if not request.query.get("id", [""])[0]:
            return Response.json(400, {"message": "Missing runner id"})
        token = request.bearer_token()
        if token is None:
            return Response.json(401, {"message": "Unauthorized"})
        if not self._grants.take(token, trio.current_time()):
            return Response.json(403, {"message": "Forbidden"})
        return None

    async def _serve_runner(self, ws: WebSocketConnection, runner_id: str) -> None:
        connection = next(self._connection_ids)
        sock = RunnerSocket(
            connection,
            ws,
            on_message=self._feed_runner,
            heartbeat_interval=self.config.heartbeat_interval,
        )
        self._sockets[connection] = sock
        cause = DisconnectCause.CLOSED
        try:
            self._apply(self._core.connect_runner(connection, runner_id, trio.current_time()))
            cause = await sock.run()
        finally:
            del self._sockets[connection]
            self._socket_gone.set()
            now = trio.current_time()
            self._apply(self._core.disconnect_runner(connection, now, cause=cause))


_FORBIDDEN = {"code": 403, "message": "Forbidden"}
_Route = Callable[[Broker, Request], Awaitable[Response]]
_ROUTES: dict[tuple[str, str], _Route] = {
    ("POST", f"{RUNNERS_PATH}/auth"): Broker._auth,
    ("GET", "/healthz"): Broker._healthz,
    ("GET", "/status"): Broker._status,
    ("POST", "/tasks"): Broker._tasks,
}


async def serve_broker(
    config: BrokerConfig | None = None,
    *,
    task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a broker until cancelled; ``task_status.started(broker)`` once it listens.

    On cancellation the broker closes its connections at once; call
    :meth:`Broker.shutdown` first for a graceful drain.
    """
    config = config or BrokerConfig()
    async with trio.open_nursery() as nursery:
        broker = Broker(config)
        listeners = await nursery.start(
            partial(trio.serve_tcp, broker.handle_connection, config.port, host=config.host)
        )
        broker.port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(broker.run_timers)
        if not config.requester_token:
            log.info("network requester endpoint POST /tasks is off (no requester token set)")
        log.info("task broker listening on %s", broker.url)
        task_status.started(broker)


@asynccontextmanager
async def open_broker(config: BrokerConfig | None = None) -> AsyncIterator[Broker]:
    """Run a broker for the duration of the ``async with`` block, then drain it.

    >>> async with open_broker(BrokerConfig(port=0)) as broker:  # doctest: +SKIP
    ...     result = await broker.run_task("python", settings)
    """
    async with trio.open_nursery() as nursery:
        broker = await nursery.start(serve_broker, config)
        try:
            yield broker
        finally:
            with trio.CancelScope(shield=True):
                await broker.shutdown()
            nursery.cancel_scope.cancel()
