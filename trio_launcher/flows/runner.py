"""The Runner API: flows run on runtime processes, from a Trio program.

``async with open_flow_runner(config) as runner:`` (or ``await
nursery.start(run_flow_runner, config)``) gives a :class:`FlowRunner`. It
holds a :class:`~.core.FlowCore` and carries out what the core returns: the
runtimes' processes (:class:`~.runtime_keeper.RuntimeKeeper`), the frames to
them, the messages of exported ports and the events. Every call of the core
happens here, in the Trio thread, one at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any, NoReturn

import attrs
import orjson
import trio

from ..process.backoff import Backoff
from ..pulse import Pulse
from . import core as flow_core
from .components import Component, ComponentLibrary
from .config import FlowRunnerConfig
from .core import FlowCore, FlowCoreError, ModuleState, PortFull
from .core.flow_record import FlowRecord, FlowState
from .core.records import EdgeKey, Route
from .deps.dependencies import Dependencies, Progress, ProgressCallback
from .deps.lock import Language
from .deps.packages_api import Packages
from .deps.placement import InstalledLocks, install_flow
from .errors import FlowNotFound, FlowRunnerError, FlowStartFailed, InvalidFlow, Problem
from .graph import Flow
from .port_readers import PortReaders
from .runtime_keeper import RuntimeCallbacks, RuntimeKeeper
from .runtime_process import Hello, ReplySweep
from .validation import parse_flow
from .wire import Frame

__all__ = ["FlowRunner", "RuntimeInfo", "open_flow_runner", "run_flow_runner"]

_module_output = logging.getLogger("trio_launcher.runtime_output")
_LOG_LEVELS = {"debug": logging.DEBUG, "warning": logging.WARNING, "error": logging.ERROR}

#: Events a reader of :meth:`FlowRunner.events` may have waiting (newer ones are dropped).
SUBSCRIBER_BUFFER = 10_000


@attrs.frozen
class RuntimeInfo:
    """A configured runtime: its name, command, and its process if it runs."""

    id: str
    command: tuple[str, ...]
    state: str
    version: str | None = None
    pid: int | None = None
    capabilities: tuple[str, ...] = ()


class _Subscribers:
    """Memory channels of the tasks reading one stream (a port's messages, the events)."""

    def __init__(self) -> None:
        self._channels: list[trio.MemorySendChannel[Any]] = []
        self.dropped = 0

    def publish(self, item: Any) -> None:
        for channel in self._channels:
            try:
                channel.send_nowait(item)
            except trio.WouldBlock:
                self.dropped += 1
            except trio.BrokenResourceError:
                self._channels.remove(channel)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        send, receive = trio.open_memory_channel[Any](SUBSCRIBER_BUFFER)
        self._channels.append(send)
        try:
            with receive:
                yield receive
        finally:
            self._channels.remove(send)


class FlowRunner(RuntimeCallbacks):
    """Runs flows; valid inside its ``open_flow_runner`` block. See the module docstring."""

    def __init__(self, config: FlowRunnerConfig, nursery: trio.Nursery) -> None:
        self._config = config
        self._nursery = nursery
        self._core = FlowCore()
        self._sweep = ReplySweep()
        self._keepers: dict[str, RuntimeKeeper] = {}
        for name in config.runtimes:
            self._keeper(name)
        self._dependencies = Dependencies(config.dependencies, config.runtimes)
        self._locks = InstalledLocks()
        self._changes: dict[str, trio.Lock] = {}
        #: The packages of the modules: list, install, remove, lock, collect garbage.
        self.packages = Packages(self)
        self._tokens = itertools.count(1)
        self._results: dict[Any, Any] = {}
        self._changed = Pulse()
        self._room = Pulse()
        self._events = _Subscribers()
        self._ports: dict[tuple[str, str], PortReaders] = {}
        self._deadline: float | None = None
        self._timer = Pulse()
        self._failures: dict[str, dict[str, str]] = {}
        self._components = config.components

    def _backoff(self) -> Backoff:
        return Backoff(initial=self._config.restart_initial, maximum=self._config.restart_maximum)

    def _keeper(self, name: str) -> RuntimeKeeper:
        """The keeper of runtime process ``name``: a configured runtime, or ``runtime@lock``."""
        keeper = self._keepers.get(name)
        if keeper is None:
            config = self._config
            keeper = self._keepers[name] = RuntimeKeeper(
                name,
                config.runtimes[name.partition("@")[0]],
                self,
                hello_timeout=config.hello_timeout,
                grace_period=config.grace_period,
                backoff=self._backoff,
                sweep=self._sweep,
            )
        return keeper

    # ------------------------------------------------------------------ queries

    def list_runtimes(self) -> list[RuntimeInfo]:
        """Every configured runtime, with its process's hello while it runs."""
        infos = []
        for name, keeper in self._keepers.items():
            hello = keeper.process.hello if keeper.process is not None else None
            infos.append(
                RuntimeInfo(
                    id=name,
                    command=keeper.command,
                    state=self._core.runtime_state(name).name.lower(),
                    version=hello.version if hello else None,
                    pid=hello.pid if hello else None,
                    capabilities=hello.capabilities if hello else (),
                )
            )
        return infos

    def list_flows(self) -> list[str]:
        """The ids of every flow the runner holds."""
        return [record.id for record in self._core.flows()]

    def list_flows_for_runtime(self, runtime_id: str) -> list[str]:
        """The ids of the flows that have a module on runtime ``runtime_id``."""
        return [
            record.id
            for record in self._core.flows()
            if any(runtime_id in (m.spec.runtime, m.runtime_id) for m in record.modules.values())
        ]

    def get_flow(self, flow_id: str) -> Flow:
        """The flow document (parsed) the runner holds as ``flow_id``."""
        return self._record(flow_id).flow

    def flow_state(self, flow_id: str) -> str:
        """``stopped``, ``starting``, ``running`` or ``stopping``."""
        return self._record(flow_id).state.name.lower()

    def module_states(self, flow_id: str) -> dict[str, ModuleState]:
        """Where each module of the flow is."""
        return {m.id: m.state for m in self._record(flow_id).modules.values()}

    def context(self, flow_id: str, module_id: str) -> dict[str, Any]:
        """A copy of a module's context, as the runner holds it."""
        modules = self._record(flow_id).modules
        if module_id not in modules:
            raise FlowNotFound(f"flow {flow_id!r} has no module {module_id!r}")
        return dict(modules[module_id].context)

    def edge_counts(self, flow_id: str) -> dict[EdgeKey, int]:
        """Messages on each edge (waiting at the runner or being handled), by edge key."""
        return {key: edge.count for key, edge in self._record(flow_id).edges.items()}

    def edge_routes(self, flow_id: str) -> dict[EdgeKey, str]:
        """Who carries each edge now: ``runner``, or ``local`` (inside one runtime)."""
        return {
            key: "local" if edge.route in (Route.LOCAL, Route.TO_RUNNER) else "runner"
            for key, edge in self._record(flow_id).edges.items()
        }

    async def wait_runtime_state(self, runtime_id: str, state: str) -> None:
        """Wait until runtime ``runtime_id`` is in ``state`` (``down``, ``starting``, ``up``...)."""
        while self._core.runtime_state(runtime_id).name.lower() != state:
            await self._changed.wait()

    # -------------------------------------------------------------- flows

    async def add_or_update_flow(
        self,
        document: object,
        *,
        relock: Collection[str] = (),
        refuse_installs: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Flow:
        """Hold a flow, or bring a held one to this revision (hot, if it runs).

        ``document`` is fbp-graph JSON (a mapping, or its text). The
        dependencies a module declares are locked and installed first (see
        :mod:`.deps`), each step reported to ``progress``; a module keeps its
        lock while its declaration stays the same, unless its id is in
        ``relock``. With ``refuse_installs`` (the reason), a module that would
        need the installer is refused. Every module that is new or changed is
        then compiled in its runtime: nothing changes unless all compile. A
        running flow is updated without stopping (see ``docs/flows.md``); the
        call returns once every changed module runs its new version.

        Raises:
            InvalidFlow: with every problem of the document, or of the modules'
                sources (with the line their runtime reported).
            DependencyFailed: a module's dependencies could not be locked or
                installed (the installer's error); nothing changed.
        """
        flow = self._parse(document)
        async with self._one_change_at_a_time(flow.id):
            return await self._add_or_update(flow, relock, refuse_installs, progress)

    async def edit_flow(
        self,
        flow_id: str,
        edit: Callable[[Flow], dict[str, Any]],
        *,
        relock: Collection[str] = (),
        refuse_installs: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Flow:
        """Update a held flow to the document ``edit`` makes of it, as
        :meth:`add_or_update_flow` does; ``edit`` gets the flow once the changes
        called before are done, so none is lost between its read and its write.
        """
        async with self._one_change_at_a_time(flow_id):
            flow = self._parse(edit(self.get_flow(flow_id)))
            if flow.id != flow_id:
                raise FlowRunnerError(f"an edit of flow {flow_id!r} gave flow {flow.id!r}")
            return await self._add_or_update(flow, relock, refuse_installs, progress)

    def _parse(self, document: object) -> Flow:
        return parse_flow(
            document,
            runtimes=self._config.runtimes.keys(),
            components=self._components,
            languages=self._config.dependencies.languages,
        )

    async def _add_or_update(
        self,
        flow: Flow,
        relock: Collection[str],
        refuse_installs: str | None,
        progress: ProgressCallback | None,
    ) -> Flow:
        existing = next((r for r in self._core.flows() if r.id == flow.id), None)
        held = {m.id: m.spec for m in existing.modules.values()} if existing else {}
        running = existing is not None and existing.state is not FlowState.STOPPED
        key = ("updated", flow.id)
        with self._dependencies.change() as change:
            flow = await install_flow(
                self._dependencies,
                self._locks,
                flow,
                held,
                relock=relock,
                refuse_installs=refuse_installs,
                progress=progress or _ignore_progress,
                change=change,
            )
            await self._check_sources(flow, existing.modules if existing else {})
            if existing is None:
                self._apply(self._core.add_flow(flow))
            else:
                self._results.pop(key, None)
                self._apply(self._core.update_flow(flow, trio.current_time()))
            self._record_locks_in_use()
        if running:
            await self._wait_for(key)
        return flow

    def dependency_language(self, runtime_id: str) -> Language | None:
        """The language of runtime ``runtime_id``'s packages; None if it takes none."""
        return self._dependencies.language(runtime_id)

    async def collect_package_garbage(self) -> list[str]:
        """What ``packages.collect_garbage()`` does (see :mod:`.deps.packages_api`)."""
        self._record_locks_in_use()
        return await self._dependencies.collect_garbage()

    def _record_locks_in_use(self) -> None:
        self._dependencies.use(
            m.spec.packages.lock
            for record in self._core.flows()
            for m in record.modules.values()
            if m.spec.packages is not None
        )

    async def remove_flow(self, flow_id: str) -> None:
        """Stop a flow if it runs, then forget it."""
        async with self._one_change_at_a_time(flow_id):
            await self.stop_flow(flow_id)
            self._call(lambda: self._core.remove_flow(flow_id))
            self._record_locks_in_use()

    @contextlib.asynccontextmanager
    async def _one_change_at_a_time(self, flow_id: str) -> AsyncIterator[None]:
        """Adds, updates and removals of one flow, one after the other, in call order.

        An update awaits its installs and checks: another change of the flow
        meanwhile would be applied to what this one has not seen.
        """
        lock = self._changes.setdefault(flow_id, trio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._changes.pop(flow_id, None)

    async def start_flow(self, flow_id: str) -> None:
        """Start a stopped flow; returns once every module is loaded and its IIPs are sent.

        Raises:
            FlowNotFound: no such flow.
            FlowStartFailed: a module could not load (its runtime cannot start);
                the flow is stopped again.
        """
        key = ("started", flow_id)
        self._results.pop(key, None)
        self._failures[flow_id] = {}
        self._call(lambda: self._core.start_flow(flow_id, trio.current_time()))
        await self._wait_for(key)
        failures = self._failures.pop(flow_id, {})
        if failures:
            await self.stop_flow(flow_id)
            raise FlowStartFailed(flow_id, failures)

    async def stop_flow(self, flow_id: str) -> int:
        """Stop a flow: hold its inputs, let running invocations end, unload.

        Returns how many queued messages were dropped.
        """
        record = self._record(flow_id)
        if record.state is FlowState.STOPPED:
            return 0
        key = ("stopped", flow_id)
        self._results.pop(key, None)
        self._call(lambda: self._core.stop_flow(flow_id, trio.current_time()))
        dropped: int = await self._wait_for(key)
        return dropped

    # ----------------------------------------------------------- messages

    async def send(self, flow_id: str, port: str, message: object) -> None:
        """Send ``message`` (JSON-able) into exported input ``port``; waits while it is full."""
        body = orjson.dumps(message)
        while True:
            try:
                self._call(lambda: self._core.offer(flow_id, port, body, trio.current_time()))
                return
            except PortFull:
                await self._room.wait()

    @contextlib.asynccontextmanager
    async def output(self, flow_id: str, port: str) -> AsyncIterator[AsyncIterator[Any]]:
        """The messages of exported output ``port``, decoded, from now on, while in the block.

        Nothing is lost: until every reader has taken a message, it counts on
        the port's bound, so readers that fall behind slow the flow down.
        """
        record = self._record(flow_id)
        if port not in record.flow.outports:
            raise FlowRunnerError(f"flow {flow_id!r} has no exported output {port!r}")
        readers = self._ports.get((flow_id, port))
        if readers is None:
            readers = self._ports[(flow_id, port)] = PortReaders(self._taker(flow_id, port))
        with readers.reader() as reader:
            yield reader

    def _taker(self, flow_id: str, port: str) -> Callable[[int], None]:
        def taken(size: int) -> None:
            with contextlib.suppress(FlowCoreError):  # the flow was removed meanwhile
                self._apply(self._core.output_taken(flow_id, port, size))

        return taken

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[trio.MemoryReceiveChannel[flow_core.FlowEvent]]:
        """The runner's events (started, stopped, updated, errors, paused...), from now on."""
        with self._events.subscribe() as receive:
            yield receive

    # -------------------------------------------------------- breakpoints

    def set_breakpoint(
        self, flow_module_id: str, port: str = "*", *, pause: str = "module", output: bool = False
    ) -> None:
        """Hold messages at a module's input ``port`` (``flow/module``; ``*``: any input).

        ``output``: hold what the module sends on output ``port`` instead.
        ``pause``: ``module`` holds only that module; ``flow`` pauses the whole flow.
        """
        flow_id, module_id = _split(flow_module_id)
        if pause not in ("module", "flow"):
            raise FlowRunnerError(f"pause must be 'module' or 'flow', not {pause!r}")
        self._call(
            lambda: self._core.set_breakpoint(
                flow_id, module_id, port, output=output, pause_all=pause == "flow"
            )
        )

    def remove_breakpoint(self, flow_module_id: str) -> None:
        """Remove a module's breakpoints; what they held goes on."""
        flow_id, module_id = _split(flow_module_id)
        self._call(lambda: self._core.remove_breakpoint(flow_id, module_id))

    def resume(self, flow_id: str) -> None:
        """Let every paused module of a flow go on (until its next breakpoint)."""
        self._call(lambda: self._core.resume(flow_id))

    def drop_held(self, flow_module_id: str) -> None:
        """Drop the oldest message a paused module holds."""
        flow_id, module_id = _split(flow_module_id)
        self._call(lambda: self._core.drop_held(flow_id, module_id))

    async def single_step(self) -> dict[str, dict[str, Any]]:
        """Run one held invocation (the oldest) of every paused module; what each did.

        Returns ``{"flow/module": {"inputStates": {port: [queued]}, "outputStates":
        {port: [emitted]}, "errors": [...], "context": {changed keys}}}``.
        """
        token = next(self._tokens)
        key = ("step", token)
        self._call(lambda: self._core.step(token, trio.current_time()))
        results: dict[str, flow_core.StepResult] = await self._wait_for(key)
        return {
            name: {
                "inputStates": result.input_states,
                "outputStates": result.output_states,
                "errors": result.errors,
                "context": result.context,
            }
            for name, result in results.items()
        }

    # ------------------------------------ for the FBP endpoint (flows.fbp)

    @property
    def components(self) -> ComponentLibrary:
        """The component library flows name: the configured one, and what was registered."""
        return self._components

    def register_component(self, component: Component) -> None:
        """Add ``component`` to the library, or replace the one of that name.

        Flows read the library when they are added or updated: a held flow
        runs its module's old source until it is updated again.
        """
        self._components = ComponentLibrary([*self._components.values(), component])

    def set_tap(self, flow_id: str, tapped: bool) -> None:
        """Report every message delivered in the flow as an event (:class:`~.core.EdgeData`).

        A tapped flow keeps every edge at the runner, none local to a runtime.
        """
        self._call(lambda: self._core.set_tap(flow_id, tapped))

    def flow_busy(self, flow_id: str) -> bool:
        """Whether a module of the flow has messages queued or being handled."""
        return any(m.queue or m.in_flight for m in self._record(flow_id).modules.values())

    # ----------------------------------------------------------- plumbing

    def _record(self, flow_id: str) -> FlowRecord:
        try:
            return self._core.flow(flow_id)
        except FlowCoreError:
            raise FlowNotFound(f"no flow {flow_id!r}") from None

    def _call(self, call: Callable[[], list[flow_core.Output]]) -> None:
        try:
            outputs = call()
        except PortFull:
            raise
        except FlowCoreError as exc:
            message = str(exc)
            if message.startswith("no flow"):
                raise FlowNotFound(message) from None
            raise FlowRunnerError(message) from None
        self._apply(outputs)

    async def _check_sources(self, flow: Flow, held: dict[str, Any]) -> None:
        checks = [
            m
            for m in flow.modules.values()
            if m.id not in held
            or (held[m.id].source, held[m.id].spec.process, held[m.id].spec.paths)
            != (m.source, m.process, m.paths)
        ]
        if not checks:
            return
        token = next(self._tokens)
        self._apply(self._core.check_sources(token, checks, trio.current_time()))
        problems: dict[str, tuple[str, int | None]] = await self._wait_for(("check", token))
        if problems:
            raise InvalidFlow(
                Problem(
                    f"processes.{module}.metadata.source",
                    message + (f" (line {line})" if line is not None else ""),
                    module,
                )
                for module, (message, line) in problems.items()
            )

    async def _wait_for(self, key: Any) -> Any:
        while key not in self._results:
            await self._changed.wait()
        return self._results.pop(key)

    def _apply(self, outputs: list[flow_core.Output]) -> None:
        for output in outputs:
            self._carry_out(output)
        deadline = self._core.next_deadline()
        if deadline is not None and (self._deadline is None or deadline < self._deadline):
            # only an earlier deadline wakes the timer: a later one is seen when it wakes
            self._deadline = deadline
            self._timer.fire()

    def _carry_out(self, output: flow_core.Output) -> None:
        if isinstance(output, flow_core.ToRuntime):
            self._keeper(output.runtime).send(output.data)
        elif isinstance(output, flow_core.PortOutput):
            readers = self._ports.get((output.flow, output.port))
            if readers is None:
                readers = self._ports[(output.flow, output.port)] = PortReaders(
                    self._taker(output.flow, output.port)
                )
            readers.publish(output.body)  # nobody reads: taken at once
        elif isinstance(output, flow_core.InportRoom):
            self._room.fire()
        elif isinstance(output, flow_core.StartRuntime):
            self._keeper(output.runtime).start(self._nursery)
        elif isinstance(output, flow_core.StopRuntime):
            self._keeper(output.runtime).stop(output.reason)
        else:
            self._settle(output)

    def _settle(self, output: flow_core.Output) -> None:
        """Results a call waits for, and events."""
        if isinstance(output, flow_core.CheckDone):
            self._results[("check", output.token)] = output.problems
        elif isinstance(output, flow_core.StepDone):
            self._results[("step", output.token)] = output.results
        else:
            if isinstance(output, flow_core.FlowStarted):
                self._results[("started", output.flow)] = None
            elif isinstance(output, flow_core.FlowStopped):
                self._results[("stopped", output.flow)] = output.dropped
            elif isinstance(output, flow_core.FlowUpdated):
                self._results[("updated", output.flow)] = output.revision
            elif isinstance(output, flow_core.ModuleFailed) and output.flow in self._failures:
                self._failures[output.flow][output.module] = output.message
            elif isinstance(output, flow_core.ModuleLog):
                _log_module_output(output)
            self._events.publish(output)
        self._changed.fire()

    # --------------------------------------------- runtime keeper callbacks

    def started(self, name: str, hello: Hello) -> None:
        self._apply(self._core.runtime_started(name, hello.capabilities, trio.current_time()))

    def frames(self, name: str, frames: list[Frame]) -> None:
        self._apply(self._core.receive(name, frames, trio.current_time()))

    def exited(self, name: str, reason: str) -> None:
        self._apply(self._core.runtime_exited(name, reason, trio.current_time()))
        if name not in self._config.runtimes and not self._core.needs_runtime(name):
            del self._keepers[name]  # a lock's own process that no module needs any more

    def failed(self, name: str, reason: str) -> None:
        self._apply(self._core.runtime_failed(name, reason, trio.current_time()))

    async def _run_timers(self) -> NoReturn:
        while True:
            deadline = self._deadline if self._deadline is not None else math.inf
            with trio.move_on_at(deadline):
                await self._timer.wait()
                continue
            self._deadline = None
            self._apply(self._core.advance_time(trio.current_time()))
            if self._deadline is None:
                self._deadline = self._core.next_deadline()


def _split(flow_module_id: str) -> tuple[str, str]:
    flow_id, slash, module_id = flow_module_id.partition("/")
    if not slash or not flow_id or not module_id:
        raise FlowRunnerError(f"a module is named 'flow/module', not {flow_module_id!r}")
    return flow_id, module_id


@contextlib.asynccontextmanager
async def open_flow_runner(config: FlowRunnerConfig | None = None) -> AsyncIterator[FlowRunner]:
    """A running :class:`FlowRunner`; leaving the block stops every runtime process."""
    async with trio.open_nursery() as nursery:
        runner = FlowRunner(config or FlowRunnerConfig(), nursery)
        nursery.start_soon(runner._run_timers)
        try:
            yield runner
        finally:
            nursery.cancel_scope.cancel()


async def run_flow_runner(
    config: FlowRunnerConfig | None = None,
    *,
    task_status: trio.TaskStatus[FlowRunner] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Run a :class:`FlowRunner` until cancelled; ``nursery.start`` gives it back."""
    async with open_flow_runner(config) as runner:
        task_status.started(runner)
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


def _ignore_progress(_: Progress) -> None:
    pass


def _log_module_output(line: flow_core.ModuleLog) -> None:
    """A module's printed line (or its runtime's note) in the runner's log."""
    source = f"{line.flow}/{line.module}" if line.module else "runtime"
    _module_output.log(_LOG_LEVELS.get(line.level, logging.INFO), "[%s] %s", source, line.message)
