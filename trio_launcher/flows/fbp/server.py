"""The FBP endpoint: a flow runner's Runner API as the FBP network protocol over WebSocket.

``await nursery.start(serve_fbp, runner, host, port, secret)`` listens and
gives back the :class:`FbpEndpoint` (its ``port``, its ``url``). Each client's
WebSocket (subprotocol ``noflo`` if it asks for it) is read one message at a
time: commands of one connection run in order, and their answers come in
that order; the runner's events come in between.
"""

from __future__ import annotations

import logging
from functools import partial

import attrs
import trio

from ...transport import websocket
from ..runner import FlowRunner
from .commands import Commands
from .connection import Connection
from .hub import Hub
from .messages import BadMessage, parse_request

__all__ = ["SUBPROTOCOL", "FbpEndpoint", "serve_fbp"]

log = logging.getLogger(__name__)

#: The WebSocket subprotocol FBP clients (noflo-ui, fbp-protocol's tests) ask for.
SUBPROTOCOL = "noflo"
#: The largest message a client may send (a flow document, a component's source).
MAX_MESSAGE = 16 * 1024 * 1024
#: Why an endpoint without a secret installs no package (anyone on the host could ask).
NO_SECRET_FOR_INSTALLS = "installing packages needs an endpoint with a secret (--secret)"


@attrs.frozen
class FbpEndpoint:
    """A listening FBP endpoint."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``ws://host:port/``, what a client connects to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"


async def serve_fbp(
    runner: FlowRunner,
    host: str = "127.0.0.1",
    port: int = 3569,
    secret: str | None = None,
    *,
    task_status: trio.TaskStatus[FbpEndpoint] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``runner`` over the FBP protocol on ``host:port`` until cancelled.

    ``task_status.started`` gives the :class:`FbpEndpoint` once it listens
    (port 0: the OS chooses). With a ``secret``, every message but
    ``runtime:getruntime`` must carry it.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()
    endpoint = FbpEndpoint(host, bound[1])
    async with trio.open_nursery() as nursery:
        hub = Hub(runner, nursery, refuse_installs=None if secret else NO_SECRET_FOR_INSTALLS)
        await nursery.start(hub.run_events)
        commands = Commands(hub, secret)
        await nursery.start(
            partial(trio.serve_listeners, partial(_serve, hub, commands), listeners)
        )
        log.info("FBP endpoint listening on %s", endpoint.url)
        task_status.started(endpoint)


async def _serve(hub: Hub, commands: Commands, stream: trio.SocketStream) -> None:
    try:
        async with websocket.accept(
            stream, subprotocols=(SUBPROTOCOL,), max_message_size=MAX_MESSAGE
        ) as ws:
            connection = Connection(ws)
            hub.connections.add(connection)
            try:
                async with trio.open_nursery() as nursery:
                    connection.run_tasks_in(nursery)
                    nursery.start_soon(_write_then_stop, connection, nursery.cancel_scope)
                    await _read(ws, connection, commands)
                    nursery.cancel_scope.cancel()
            finally:
                hub.connections.discard(connection)
                hub.sync()
    except websocket.HandshakeError as exc:
        log.debug("FBP client left during the handshake: %s", exc)


async def _write_then_stop(connection: Connection, done: trio.CancelScope) -> None:
    await connection.write()
    done.cancel()


async def _read(ws: websocket.WebSocket, connection: Connection, commands: Commands) -> None:
    while True:
        try:
            text = await ws.get_message()
        except websocket.ConnectionClosed:
            return
        try:
            request = parse_request(text)
        except BadMessage as exc:
            await connection.answer("runtime", "error", {"message": str(exc)})
            continue
        await commands.run(connection, request)
