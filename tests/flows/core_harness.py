"""An in-process harness for :class:`FlowCore`: the core driven with the real Python runtime.

Each runtime name gets its own sans-IO :class:`~trio_launcher.flows.runtime_py.Runtime`
object, no process and no Trio. Bytes the core sends wait in the runtime's *inbox*
until the runtime runs them; frames the runtime writes wait in its *outbox* until
they are delivered to the core. A test (or hypothesis, through a ``random.Random``)
chooses which runtime runs or delivers next, so frames of different runtimes arrive
in any interleaving, each runtime's own in order. Time is a number the harness
advances, to the core's next deadline, only when nothing else can happen.

A *crash* drops a runtime with what it had not sent; a module that raises
``SystemExit`` crashes its runtime the same way (the sans-IO runtime lets it out).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from trio_launcher.flows import core as flow_core
from trio_launcher.flows.components import builtin_components
from trio_launcher.flows.core import FlowCore, ModuleState
from trio_launcher.flows.graph import Flow
from trio_launcher.flows.runtime_py import Runtime
from trio_launcher.flows.validation import parse_flow
from trio_launcher.flows.wire import Frame, FrameReader, unpack_items

RUNTIMES = ("python", "other")

#: A counting module: one more in its context per message, the message sent on with its path.
COUNTER = """\
def handle(message, context, send):
    context['count'] = context.get('count', 0) + 1
    if message['id'] in {poison!r}:
        raise SystemExit(3)
    send('out', {{'id': message['id'], 'path': message['path'] + [{name!r}]}})
# version {version}
"""


def counter_source(name: str, version: int = 0, poison: tuple[int, ...] = ()) -> str:
    """The source of counting module ``name``, at ``version`` (a comment: a source change).

    The message ids in ``poison`` take its runtime down (``SystemExit``).
    """
    return COUNTER.format(name=name, version=version, poison=poison)


def flow_document(
    modules: dict[str, str],
    edges: Iterable[tuple[str, str]],
    *,
    entry: str,
    exit: str,
    revision: int = 0,
    versions: dict[str, int] | None = None,
    bound: int = 1000,
    timeout: float = 30,
    sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A flow of counting modules (id -> runtime), ``in`` into ``entry``, ``out`` of ``exit``."""
    versions = versions or {}
    sources = sources or {}
    processes = {
        name: {
            "component": "counter",
            "metadata": {
                "runtime": runtime,
                "source": sources.get(name, counter_source(name, versions.get(name, 0))),
                "timeout": timeout,
            },
        }
        for name, runtime in modules.items()
    }
    connections = [
        {
            "src": {"process": src, "port": "out"},
            "tgt": {"process": tgt, "port": "in"},
            "metadata": {"maxMessages": bound},
        }
        for src, tgt in edges
    ]
    return {
        "id": "f",
        "revision": revision,
        "inports": {"in": {"process": entry, "port": "in"}},
        "outports": {"out": {"process": exit, "port": "out"}},
        "processes": processes,
        "connections": connections,
    }


def parse(document: dict[str, Any]) -> Flow:
    """The flow of a document made by :func:`flow_document`."""
    return parse_flow(document, runtimes=RUNTIMES, components=builtin_components())


def message(number: int) -> bytes:
    """The body of message ``number`` entering the flow."""
    return orjson.dumps({"id": number, "path": []})


class FakeRuntime:
    """One runtime "process": a sans-IO Python runtime, its inbox and its outbox."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inbox: deque[bytes] = deque()
        self.outbox: deque[Frame] = deque()
        self.hung = False  #: it stopped running frames: a module that never returns
        self._in = FrameReader()
        self._out = FrameReader()
        self.runtime = Runtime(self._written, lambda: None)
        self.runtime.hello()

    def _written(self, data: bytes) -> None:
        self.outbox.extend(self._out.feed(data))

    def run(self, chunks: int, hang: Callable[[Frame], bool]) -> None:
        """Read ``chunks`` of the inbox and run their frames, one by one.

        Stops (``hung``) at the first frame ``hang`` says never ends.
        Raises ``SystemExit`` where a module does.
        """
        for _ in range(min(chunks, len(self.inbox))):
            for frame in singles(self._in.feed(self.inbox.popleft())):
                if self.hung or hang(frame):
                    self.hung = True
                    continue
                self.runtime.queue([frame])
                self.runtime.run()


def singles(frames: list[Frame]) -> list[Frame]:
    """The frames, a batched ``invoke`` as one ``invoke`` per message (to stop at any one)."""
    result: list[Frame] = []
    for frame in frames:
        if frame.type != "invoke" or "n" not in frame.header:
            result.append(frame)
            continue
        header = {key: value for key, value in frame.header.items() if key != "n"}
        first = int(frame.header["id"])
        for offset, body in enumerate(unpack_items(frame.body)):
            result.append(Frame({**header, "id": str(first + offset)}, body))
    return result


class Harness:
    """A :class:`FlowCore` and its runtimes, carried out in process; see the module's docstring."""

    def __init__(self, *, sync_window: int = 4, hang: Callable[[Frame], bool] | None = None):
        self.core = FlowCore(sync_window=sync_window)
        self.now = 0.0
        self.runtimes: dict[str, FakeRuntime] = {}
        self.stopping: dict[str, FakeRuntime] = {}  #: asked to stop; their exit comes later
        self.events: list[flow_core.Output] = []
        self.outputs: list[Any] = []  #: messages of the exported outputs, decoded
        self.invoked: dict[int, tuple[str, Any]] = {}  #: message id -> (module, message)
        self.heard: set[int] = set()  #: invocations whose emit reached the core
        self.loaded: dict[tuple[str, str], str] = {}  #: (runtime, module) -> last source sent
        self.starts: dict[str, int] = {}
        self.kills: list[flow_core.StopRuntime] = []
        self.crashes = 0
        self.hang = hang or (lambda frame: False)
        self.slow: dict[str, int] = {}  #: runtime -> deliver only every Nth chance
        self._chances: dict[str, int] = {}

    # -- carrying out what the core returns ------------------------------------------

    def apply(self, outputs: list[flow_core.Output]) -> list[flow_core.Output]:
        """Carry out ``outputs``; return them."""
        for output in outputs:
            if isinstance(output, flow_core.ToRuntime):
                self._to_runtime(output)
            elif isinstance(output, flow_core.StartRuntime):
                self._start(output.runtime)
            elif isinstance(output, flow_core.StopRuntime):
                self._stop(output)
            elif isinstance(output, flow_core.PortOutput):
                self.outputs.append(orjson.loads(output.body))
                taken = self.core.output_taken(output.flow, output.port, len(output.body))
                self.apply(taken)  # read at once: the port never holds the producers
            else:
                self.events.append(output)
        return outputs

    def _to_runtime(self, output: flow_core.ToRuntime) -> None:
        runtime = self.runtimes.get(output.runtime)
        if runtime is None:
            return  # not running: the keeper drops it, as the core knows
        for frame in singles(FrameReader().feed(output.data)):
            if frame.type == "invoke":
                body = orjson.loads(frame.body) if frame.body else None
                self.invoked[int(frame.header["id"])] = (frame.header["module"], body)
            elif frame.type == "load":
                source = orjson.loads(frame.body)["source"]
                self.loaded[(output.runtime, frame.header["module"])] = source
        runtime.inbox.append(output.data)

    def _start(self, name: str) -> None:
        assert name not in self.runtimes, f"runtime {name!r} started twice"
        self.starts[name] = self.starts.get(name, 0) + 1
        self.runtimes[name] = FakeRuntime(name)

    def _stop(self, output: flow_core.StopRuntime) -> None:
        if output.kill:
            self.kills.append(output)
        runtime = self.runtimes.pop(output.runtime, None)
        if runtime is not None:
            self.stopping[output.runtime] = runtime

    # -- what can happen next ---------------------------------------------------------

    def actions(self) -> list[tuple[str, str]]:
        """What may happen now: a runtime runs its inbox, delivers its outbox, or exits."""
        found: list[tuple[str, str]] = []
        for name, runtime in self.runtimes.items():
            if runtime.inbox and not runtime.hung:
                found.append(("run", name))
            if runtime.outbox:
                found.append(("deliver", name))
        found.extend(("exit", name) for name in self.stopping)
        return found

    def act(self, action: tuple[str, str], count: int = 1 << 30) -> None:
        """Do ``action`` (as :meth:`actions` lists it), with up to ``count`` chunks or frames."""
        kind, name = action
        if kind == "run":
            try:
                self.runtimes[name].run(count, self.hang)
            except SystemExit:
                self.crash(name)
        elif kind == "deliver":
            self.deliver(name, count)
        else:
            del self.stopping[name]
            self.apply(self.core.runtime_exited(name, "stopped", self.now))

    def deliver(self, name: str, count: int) -> None:
        """Up to ``count`` frames of runtime ``name``'s outbox to the core (its hello first)."""
        runtime = self.runtimes[name]
        limit = self.slow.get(name)
        if limit is not None:
            self._chances[name] = self._chances.get(name, 0) + 1
            if self._chances[name] % limit:
                return
        frames = [runtime.outbox.popleft() for _ in range(min(count, len(runtime.outbox)))]
        if frames and frames[0].type == "hello":
            capabilities = orjson.loads(frames.pop(0).body)["capabilities"]
            self.apply(self.core.runtime_started(name, capabilities, self.now))
        self.heard.update(int(f.header["id"]) for f in frames if f.type == "emit")
        if frames:
            self.apply(self.core.receive(name, frames, self.now))

    def crash(self, name: str) -> None:
        """Runtime ``name`` dies: what it had not run or sent is lost."""
        self.crashes += 1
        del self.runtimes[name]
        self.apply(self.core.runtime_exited(name, "crashed", self.now))

    def step_randomly(self, rng: random.Random) -> bool:
        """Do one random action; False if none is possible."""
        actions = self.actions()
        if not actions:
            return False
        self.act(rng.choice(actions), rng.choice((1, 1, 2, 3, 1 << 30)))
        return True

    def settle(self, rng: random.Random | None = None, *, limit: int = 100_000) -> None:
        """Act until nothing can happen, then advance time to the next deadline, and so on."""
        rng = rng or random.Random(0)
        for _ in range(limit):
            if self.step_randomly(rng):
                continue
            deadline = self.core.next_deadline()
            if deadline is None or not any(r.hung for r in self.runtimes.values()):
                return
            self.now = max(self.now, deadline)
            self.apply(self.core.advance_time(self.now))
        raise AssertionError(f"still busy after {limit} actions")

    # -- looking at the core ----------------------------------------------------------

    def module_states(self, flow: str = "f") -> dict[str, ModuleState]:
        """Each module's state."""
        return {m.id: m.state for m in self.core.flow(flow).modules.values()}

    def context(self, module: str, flow: str = "f") -> dict[str, Any]:
        """A module's context, as the core holds it."""
        return self.core.flow(flow).modules[module].context

    def edge_counts(self, flow: str = "f") -> dict[tuple[str | None, str, str, str], int]:
        """What is on each edge (and exported input) of the flow."""
        record = self.core.flow(flow)
        edges = [*record.edges.values(), *record.inports.values()]
        return {edge.key: edge.count for edge in edges}

    def check_versions(self, document: dict[str, Any]) -> None:
        """Each module runs, in the runtime the document names, the source it gives."""
        for name, process in document["processes"].items():
            metadata = process["metadata"]
            module = self.core.flow(document["id"]).modules[name]
            assert (module.runtime_id, module.source) == (metadata["runtime"], metadata["source"])
            key = (metadata["runtime"], module.runtime_module)
            assert self.loaded.get(key) == metadata["source"], f"{name} runs an older version"

    def failures(self) -> list[flow_core.InvocationFailed]:
        """The invocation failures reported."""
        return [e for e in self.events if isinstance(e, flow_core.InvocationFailed)]

    def of_type(self, kind: type[Any]) -> list[Any]:
        """The events of one type."""
        return [e for e in self.events if isinstance(e, kind)]

    def start(self, document: dict[str, Any]) -> None:
        """Add the flow and start it, until it runs."""
        self.apply(self.core.add_flow(parse(document)))
        self.apply(self.core.start_flow(document["id"], self.now))
        self.settle()
        assert self.of_type(flow_core.FlowStarted), self.events


class Dag:
    """A flow of counting modules ``m0``..``mN`` (edges go from lower to higher), and its oracle.

    Messages enter ``m0`` and leave ``mN``: each message that enters leaves once per
    path from ``m0`` to ``mN``, unless it was dropped on the way.
    """

    def __init__(self, runtimes: list[str], edges: list[tuple[int, int]], bound: int) -> None:
        self.names = [f"m{i}" for i in range(len(runtimes))]
        self.runtimes = dict(zip(self.names, runtimes, strict=True))
        self.edges = [(self.names[i], self.names[j]) for i, j in edges]
        self.bound = bound
        self.versions = dict.fromkeys(self.names, 0)
        self.revision = 0
        self.paths = self._paths()
        self.killed: set[tuple[int, tuple[str, ...]]] = set()

    def __repr__(self) -> str:
        runtimes = [self.runtimes[name] for name in self.names]
        return f"Dag({runtimes!r}, {self.edges!r}, bound={self.bound})"

    def document(self) -> dict[str, Any]:
        """The flow's document at its current revision."""
        return flow_document(
            self.runtimes,
            self.edges,
            entry=self.names[0],
            exit=self.names[-1],
            revision=self.revision,
            versions=self.versions,
            bound=self.bound,
        )

    def _paths(self) -> dict[str, list[tuple[str, ...]]]:
        paths: dict[str, list[tuple[str, ...]]] = {self.names[0]: [(self.names[0],)]}
        for name in self.names[1:]:
            paths[name] = [(*p, name) for src, tgt in self.edges if tgt == name for p in paths[src]]
        return paths

    def paths_between(self, source: str, target: str) -> int:
        """How many paths lead from ``source`` to ``target`` (1 if they are the same)."""
        if source == target:
            return 1
        return sum(self.paths_between(tgt, target) for src, tgt in self.edges if src == source)

    def overshoot(self, source: str, window: int) -> int:
        """How far over its bound an edge out of ``source`` may go: what was in flight."""
        return window * sum(self.paths_between(name, source) for name in self.names)

    def dropped(self, module: str, body: bytes) -> None:
        """The message ``body`` held at ``module`` was dropped."""
        held = orjson.loads(body)
        self.killed.add((held["id"], (*held["path"], module)))

    def expected(self, module: str, entered: Iterable[int]) -> set[tuple[int, tuple[str, ...]]]:
        """The (message, path) pairs ``module`` must have handled."""
        return {
            (number, path)
            for number in entered
            for path in self.paths[module]
            if not any((number, path[:k]) in self.killed for k in range(1, len(path) + 1))
        }


def check_outputs(outputs: list[Any], expected: set[tuple[int, tuple[str, ...]]]) -> None:
    """Each expected (message, path) came out once, and, per path, in the order they entered."""
    seen = [(o["id"], tuple(o["path"])) for o in outputs]
    doubled = sorted(pair for pair, times in Counter(seen).items() if times > 1)
    assert not doubled, f"doubled: {doubled}"
    assert set(seen) == expected, (
        f"lost: {sorted(expected - set(seen))}, unexpected: {sorted(set(seen) - expected)}"
    )
    per_path: dict[tuple[str, ...], list[int]] = {}
    for number, path in seen:
        per_path.setdefault(path, []).append(number)
    for path, numbers in per_path.items():
        assert numbers == sorted(numbers), f"reordered on {path}: {numbers}"


def delivered_and_reported(harness: Harness) -> tuple[Counter[int], Counter[int]]:
    """Per message number: how often it left the flow, and how often it was reported failed.

    Reports of invocations the core had heard an emit of are left out: the core
    reports those and never runs them again, though what they emitted goes on
    (``docs/flows.md``, "A runtime that dies").
    """
    delivered = Counter(output["id"] for output in harness.outputs)
    reported: Counter[int] = Counter()
    for failure in harness.failures():
        assert failure.message_id is not None, failure
        _, body = harness.invoked[failure.message_id]
        if failure.message_id not in harness.heard:
            reported[body["id"]] += 1
    return delivered, reported


def chain(
    runtimes: list[str], *, poison: dict[str, tuple[int, ...]] | None = None, **options: Any
) -> dict[str, Any]:
    """The document of a chain of counting modules ``m0 -> m1 -> ...`` on ``runtimes``."""
    names = [f"m{i}" for i in range(len(runtimes))]
    sources = {name: counter_source(name, poison=ids) for name, ids in (poison or {}).items()}
    return flow_document(
        dict(zip(names, runtimes, strict=True)),
        list(itertools.pairwise(names)),
        entry=names[0],
        exit=names[-1],
        sources=sources,
        **options,
    )
