"""The embedded task broker's state: runner connections, requesters and timers.

A :class:`Broker` feeds the sans-IO :class:`~trio_launcher.protocol.broker.BrokerCore`
with what its runners and requesters send and the time, and carries out what
the core returns. Its HTTP routes are in :mod:`.routes`; :func:`~.serve.serve_broker`
and :func:`~.serve.open_broker` run it.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
from collections.abc import Sequence
from typing import Any

import attrs
import trio

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
from ..pulse import Pulse
from ..transport.websocket import WebSocket
from .config import BrokerConfig
from .grants import GrantTokens
from .requester import RpcHandler, TaskResult, run_task
from .runner_socket import RunnerSocket

__all__ = ["Broker", "BrokerStatus"]

log = logging.getLogger(__name__)

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

    Get one from :func:`~.serve.open_broker` or :func:`~.serve.serve_broker`;
    ``port`` is the one it listens on (the OS chose it if ``config.port`` is 0).
    """

    def __init__(self, config: BrokerConfig, *, port: int) -> None:
        self.config = config
        self.auth_token = config.auth_token or secrets.token_hex(16)
        self.port = port
        self._core = BrokerCore(
            BrokerTimeouts(
                accept=config.task_accept_timeout,
                request=config.task_request_timeout,
                task=config.task_timeout,
            )
        )
        self._grants = GrantTokens(config.grant_token_ttl)
        self._sockets: dict[int, RunnerSocket] = {}
        self._requesters: dict[str, Mailbox[Message]] = {}
        self._connection_ids = itertools.count(1)
        self._requester_ids = itertools.count(1)
        self._timer_scope = trio.CancelScope()
        self._shutting_down = False
        self._idle = Pulse()
        self._socket_gone = Pulse()

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

    def take_grant_token(self, token: str) -> bool:
        """Use ``token`` up: whether it was a grant token issued and neither used nor expired."""
        return self._grants.take(token, trio.current_time())

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` was called: no runner may connect any more."""
        return self._shutting_down

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
                await self._idle.wait()
        # Tasks past the bound are cancelled (their timers fall due now) before closing.
        self._apply(self._core.advance_time(trio.current_time()))
        for sock in list(self._sockets.values()):
            sock.close(CLOSE_GOING_AWAY, "broker shutting down", DisconnectCause.SHUTDOWN)
        with trio.move_on_after(CLOSE_TIMEOUT):
            while self._sockets:
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
            self._idle.fire()

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

    # --- runners ---------------------------------------------------------------------

    async def run_heartbeats(self) -> None:
        """As n8n's broker: ping every runner each interval; one missing its pong is closed."""
        while True:
            await trio.sleep(self.config.heartbeat_interval)
            for sock in list(self._sockets.values()):
                sock.heartbeat()

    async def serve_runner(self, ws: WebSocket, runner_id: str) -> None:
        """Carry messages between the core and runner ``runner_id`` until ``ws`` closes."""
        connection = next(self._connection_ids)
        sock = RunnerSocket(connection, ws, on_message=self._feed_runner)
        self._sockets[connection] = sock
        cause = DisconnectCause.CLOSED
        try:
            self._apply(self._core.connect_runner(connection, runner_id, trio.current_time()))
            cause = await sock.run()
        finally:
            del self._sockets[connection]
            self._socket_gone.fire()
            now = trio.current_time()
            self._apply(self._core.disconnect_runner(connection, now, cause=cause))
