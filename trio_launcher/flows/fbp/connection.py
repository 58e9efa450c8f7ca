"""One FBP client's connection: its queue of messages out, and the graphs it follows.

A connection follows a graph from the first command that names it: it gets
the graph's ``runtime:packet`` messages (its exported outputs). It gets
``network:data`` once it edits or starts the graph, or asks with
``network:debug`` or ``network:edges`` (which also narrows it to some edges).
Answers wait for room in the queue; events that find it full are dropped for
this connection (``dropped`` counts them), so a slow client cannot hold up
the runner or grow its memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from ...transport.websocket import ConnectionClosed, WebSocket
from .messages import encode

__all__ = ["OUTBOX_SIZE", "Connection", "EdgeKey", "Watch"]

#: Messages a connection may have waiting to be written.
OUTBOX_SIZE = 10_000
#: An edge as a client names it: source node and port, target node and port.
EdgeKey = tuple[str, str, str, str]


@attrs.define
class Watch:
    """How a connection follows one graph: with its edges' data, and which edges (None: all)."""

    data: bool = False
    edges: frozenset[EdgeKey] | None = None


class Connection:
    """A client's WebSocket as the endpoint's commands and events see it."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._send, self._receive = trio.open_memory_channel[str](OUTBOX_SIZE)
        #: graph id -> how this connection follows it
        self.watches: dict[str, Watch] = {}
        #: whether it has used an extension (then it also gets their events)
        self.extended = False
        self.dropped = 0
        #: requestId -> the scope of a change still running (``deps:install``...)
        self.changes: dict[str, trio.CancelScope] = {}
        self._tasks: trio.Nursery | None = None

    def run_tasks_in(self, nursery: trio.Nursery) -> None:
        """Where :meth:`start_soon` runs tasks: a nursery that ends with the connection."""
        self._tasks = nursery

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``task`` beside the connection's commands; it is cancelled when the client leaves."""
        assert self._tasks is not None, "run_tasks_in first"
        self._tasks.start_soon(task, *args)

    def watch(self, graph: str, *, data: bool = False) -> None:
        """Follow ``graph`` (and its edges' data, if ``data``)."""
        watch = self.watches.setdefault(graph, Watch())
        watch.data = watch.data or data

    def wants_data(self, graph: str, edge: EdgeKey | None) -> bool:
        """Whether a message on ``edge`` (None: into the graph) of ``graph`` goes to this client."""
        watch = self.watches.get(graph)
        if watch is None or not watch.data:
            return False
        return watch.edges is None or edge in watch.edges

    async def answer(
        self,
        protocol: str,
        command: str,
        payload: object,
        response_to: str | None = None,
    ) -> None:
        """Queue an answer, waiting for room."""
        await self._send.send(encode(protocol, command, payload, response_to))

    def event(self, protocol: str, command: str, payload: object) -> None:
        """Queue an event; dropped if the queue is full."""
        try:
            self._send.send_nowait(encode(protocol, command, payload))
        except trio.WouldBlock:
            self.dropped += 1

    async def write(self) -> None:
        """Write what is queued, all that waits in one write, until the connection closes."""
        try:
            async for message in self._receive:
                batch = [message]
                while True:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._ws.send_messages(batch)
        except ConnectionClosed:
            pass
