"""What the FBP endpoint's connections share: the runner, the graphs, who follows what.

The :class:`Hub` sends each of the runner's events to the connections it
concerns (:mod:`.network`) and to the graph's trace (:mod:`.traces`), keeps
the flows that some connection follows the data of, or that are traced,
tapped (their edges report each message), and relays the messages of the
exported outputs of followed flows as ``runtime:packet``. Call
:meth:`Hub.sync` after anything that may change who follows what, or which
flows the runner holds.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import trio

from .. import core as flow_core
from ..errors import FlowRunnerError
from ..runner import FlowRunner
from .connection import Connection
from .graphs import GraphStore
from .network import Audience, Message, event_message
from .traces import Trace

__all__ = ["Hub"]

log = logging.getLogger(__name__)


class Hub:
    """The shared state of one FBP endpoint; see the module docstring."""

    def __init__(
        self, runner: FlowRunner, nursery: trio.Nursery, *, refuse_installs: str | None = None
    ) -> None:
        self.runner = runner
        #: why packages may not be installed through this endpoint (None: they may)
        self.refuse_installs = refuse_installs
        self.runtime_id = str(uuid.uuid4())
        self.graphs = GraphStore()
        self.connections: set[Connection] = set()
        #: graph id -> its flowtrace, from its first ``trace:start``
        self.traces: dict[str, Trace] = {}
        self._nursery = nursery
        self._tapped: set[str] = set()
        self._relays: dict[tuple[str, str], trio.CancelScope] = {}
        self._started_at: dict[str, float] = {}

    def knows(self, graph: str) -> bool:
        """Whether ``graph`` is a flow the runner holds or a graph a client edited."""
        return graph in self.graphs or graph in self.runner.list_flows()

    def uptime(self, graph: str) -> float | None:
        """Seconds since ``graph`` started, if it runs."""
        started = self._started_at.get(graph)
        return None if started is None else trio.current_time() - started

    async def run_events(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Send the runner's events to the connections, until cancelled."""
        async with self.runner.events() as events:
            task_status.started()
            async for event in events:
                self._on_event(event)

    def _on_event(self, event: flow_core.FlowEvent) -> None:
        if isinstance(event, flow_core.FlowStarted):
            self._started_at[event.flow] = trio.current_time()
        uptime = self.uptime(event.flow) if isinstance(event, flow_core.FlowStopped) else None
        if isinstance(event, flow_core.FlowStopped):
            self._started_at.pop(event.flow, None)
        running = isinstance(event, flow_core.FlowStarted) and self._busy(event.flow)
        message = event_message(event, running=running, uptime=uptime)
        if message is not None:
            self.publish(message)
        if isinstance(event, flow_core.FlowStarted | flow_core.FlowUpdated):
            self.sync()

    def _busy(self, graph: str) -> bool:
        try:
            return self.runner.flow_busy(graph)
        except FlowRunnerError:
            return False

    def publish(self, message: Message) -> None:
        """Queue a ``network:`` message for each connection it concerns, and trace it."""
        trace = self.traces.get(message.graph)
        if trace is not None:
            trace.record(message.command, message.payload)
        for connection in self.connections:
            if message.audience is Audience.EXTENDED and not connection.extended:
                continue
            if message.audience is Audience.DATA and not connection.wants_data(
                message.graph, message.edge
            ):
                continue
            connection.event("network", message.command, message.payload)

    # ------------------------------------------------------------ following

    def sync(self) -> None:
        """Tap the flows whose data is followed, relay the outputs of the followed flows."""
        held = set(self.runner.list_flows())
        followed = {g for c in self.connections for g in c.watches} & held
        watched = {g for c in self.connections for g, watch in c.watches.items() if watch.data}
        traced = {g for g, trace in self.traces.items() if trace.recording}
        with_data = (watched | traced) & held
        for graph in (with_data ^ self._tapped) & held:
            self.runner.set_tap(graph, graph in with_data)
        self._tapped = with_data
        wanted = {(g, port) for g in followed for port in self.runner.get_flow(g).outports}
        for key in set(self._relays) - wanted:
            self._relays.pop(key).cancel()
        for key in wanted - set(self._relays):
            scope = self._relays[key] = trio.CancelScope()
            self._nursery.start_soon(self._relay, *key, scope)

    async def _relay(self, graph: str, port: str, scope: trio.CancelScope) -> None:
        with scope:
            try:
                async with self.runner.output(graph, port) as messages:
                    async for message in messages:
                        self._packet(graph, port, message)
            except FlowRunnerError as exc:
                log.debug("no relay of %s.%s: %s", graph, port, exc)
        if self._relays.get((graph, port)) is scope:
            del self._relays[(graph, port)]

    def _packet(self, graph: str, port: str, message: Any) -> None:
        payload = {"port": port, "event": "data", "payload": message, "graph": graph}
        for connection in self.connections:
            if graph in connection.watches:
                connection.event("runtime", "packet", payload)
