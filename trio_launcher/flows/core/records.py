"""The core's records: edges with their bounds, modules with their queues, runtimes.

Plain mutable objects with slots: the core changes them on every message, so
they carry no behaviour beyond bookkeeping of their own counters.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs

from ..wire import items_of, unpack_items
from .states import ModuleState, RuntimeState

if TYPE_CHECKING:
    from ..graph import Module

__all__ = [
    "EdgeKey",
    "EdgeRecord",
    "Invocation",
    "ModuleRecord",
    "Pending",
    "Route",
    "RuntimeRecord",
    "runtime_module_id",
    "split_head",
]

#: ``(source module or None for an exported input, source port, target module, target port)``.
EdgeKey = tuple[str | None, str, str, str]


def runtime_module_id(flow: str, module: str) -> str:
    """The id a module has in its runtime: its flow's id and its own, joined by ``/``."""
    return f"{flow}/{module}"


class Route(enum.Enum):
    """Who carries an edge's messages."""

    RUNNER = enum.auto()  #: the runner: ``emit`` in, ``invoke`` out
    LOCAL = enum.auto()  #: the runtime, inside itself (both ends in one runtime)
    TO_LOCAL = enum.auto()  #: a ``wire`` made it local, its ``wired`` has not come back
    TO_RUNNER = enum.auto()  #: a ``wire`` gave it back to the runner, no ``wired`` yet


@attrs.define(eq=False, slots=True)
class EdgeRecord:
    """One edge of a flow: its bound and what is on it (queued at the runner or in flight)."""

    flow: str
    key: EdgeKey
    max_messages: int
    max_bytes: int
    count: int = 0
    size: int = 0
    route: Route = Route.RUNNER
    #: whether the runtime carries it now, as its last ``wired`` said: what its emits mean
    runtime_local: bool = False
    removed: bool = False  #: gone from the flow; kept until what is on it is delivered

    @property
    def full(self) -> bool:
        """Whether the edge holds as much as its bound allows."""
        return self.count >= self.max_messages or self.size >= self.max_bytes

    def add(self, size: int, count: int = 1) -> None:
        self.count += count
        self.size += size

    def release(self, size: int, count: int = 1) -> bool:
        """Take messages off; whether that made a full edge not full."""
        was_full = self.full
        self.count -= count
        self.size -= size
        return was_full and not self.full


@attrs.define(eq=False, slots=True)
class Pending:
    """A message waiting at the runner for its module: the invocation it will be.

    Or ``count`` messages of one batch (ids ``message_id`` on), their bodies
    packed in ``body`` (:func:`~trio_launcher.flows.wire.pack_items`).
    """

    message_id: int
    port: str
    body: bytes
    edge: EdgeRecord | None  #: None for an initial packet
    count: int = 1

    def bodies(self) -> list[bytes]:
        """The body of each message."""
        return items_of(self.body, self.count)

    def split(self, skip: int = 0) -> list[Pending]:
        """One pending per message (after the first ``skip``), the edge's load moved onto them."""
        if self.count == 1:
            return [self] if not skip else []
        singles = [
            Pending(self.message_id + n, self.port, body, self.edge)
            for n, body in enumerate(unpack_items(self.body))
        ][skip:]
        if self.edge is not None:
            self.edge.release(len(self.body), self.count)
            self.edge.add(sum(len(p.body) for p in singles), len(singles))
        return singles


def split_head(queue: deque[Pending]) -> None:
    """Put the head of ``queue`` back as one pending per message (a batch split up)."""
    queue.extendleft(reversed(queue.popleft().split()))


@attrs.define(eq=False, slots=True)
class Invocation:
    """An ``invoke`` sent to a runtime, until its ``done``."""

    pending: Pending
    module: ModuleRecord
    sent_at: float
    is_async: bool
    timed_out: bool = False
    heard: bool = False  #: an ``emit`` or ``error`` of it came back
    done: int = 0  #: of a batch: how many of its messages are done


@attrs.define(eq=False, slots=True)
class ModuleRecord:
    """One module of a flow in the runner: its definition, state, queue and context."""

    flow: str
    spec: Module
    source: str
    runtime_id: str
    state: ModuleState = ModuleState.STOPPED
    queue: deque[Pending] = attrs.field(factory=deque)
    in_flight: int = 0
    context: dict[str, Any] = attrs.field(factory=dict)
    is_async: bool = False
    #: output port -> the edges out of it (not removed ones)
    out_edges: dict[str, list[EdgeRecord]] = attrs.field(factory=dict)
    #: the version an update will load, with its source and runtime
    next_spec: tuple[Module, str] | None = None
    #: while it moves to another runtime: the one its old version still runs in
    leaving: str | None = None
    #: the version whose ``load`` is out (SWAPPING), with its source
    loading: tuple[Module, str] | None = None
    breakpoints: set[str] = attrs.field(factory=set)
    #: output ports whose messages are held (``*``: every one), and what they hold, in order
    out_breakpoints: set[str] = attrs.field(factory=set)
    held_out: deque[tuple[str, bytes]] = attrs.field(factory=deque)
    step_credit: int = 0
    blocked: bool = False
    #: its runtime said ``drained`` while a cascade rooted at it still ran (fenced)
    drain_answered: bool = False
    #: ``wire`` frames sent and not yet answered, oldest first: the edges each changed,
    #: each with whether that ``wire`` made it local
    wires_out: deque[list[tuple[EdgeRecord, bool]]] = attrs.field(factory=deque)
    #: output port -> (local targets, runner too) as the runtime was last told
    wiring: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = attrs.field(factory=dict)
    #: the id it has in its runtime (an update keeps the module's id)
    runtime_module: str = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: runtime_module_id(self.flow, self.spec.id), takes_self=True
        ),
    )

    @property
    def id(self) -> str:
        return self.spec.id


@attrs.define(eq=False, slots=True)
class RuntimeRecord:
    """One runtime process as the core sees it."""

    name: str
    state: RuntimeState = RuntimeState.DOWN
    capabilities: frozenset[str] = frozenset()
    #: invocation id -> invocation, in the order the ``invoke`` frames were sent
    in_flight: dict[str, Invocation] = attrs.field(factory=dict)
    last_done_at: float = 0.0
    outgoing: bytearray = attrs.field(factory=bytearray)
    stop_reason: str | None = None
    #: ids of the synchronous invocations in flight, in the order sent (ended ones are
    #: dropped from the front lazily)
    sync_order: deque[str] = attrs.field(factory=deque)
    #: (deadline, message id, invocation id) of the asynchronous ones, a heap (lazily pruned)
    async_deadlines: list[tuple[float, int, str]] = attrs.field(factory=list)
    #: the id a partly done batch answers to next -> the id it is held under
    aliases: dict[str, str] = attrs.field(factory=dict)
    #: the highest invocation id an ``emit`` or ``error`` came back for, in a batch
    heard_upto: int = -1
    #: after a crash: invocations run one at a time until what was in doubt has run again
    isolating: bool = False
