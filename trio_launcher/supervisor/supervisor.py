"""The supervisor: all plugins of one ``launcher.yaml``, their order, and the services around them.

:func:`run_supervisor` runs until cancelled; it hands a :class:`Supervisor`
to ``task_status.started``. On the way out it stops every plugin in reverse
start order, so that cancelling it leaves no plugin process behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from random import Random

import attrs
import trio

from ..process import run_child
from .attempt import Spawn
from .config import SupervisorConfig
from .control import ControlListener, open_control_listener
from .events import DEFAULT_BUFFER, EventBus, PluginAdded, PluginRemoved, Subscription
from .inventory import PluginEntry, take_inventory
from .logfile import tail
from .monitor import ResourceMonitor
from .plugin import Plugin, PluginContext, PluginError
from .status import PluginStatus

__all__ = ["Supervisor", "SupervisorClosed", "run_supervisor"]

logger = logging.getLogger("trio_launcher.supervisor")


class SupervisorClosed(RuntimeError):
    """The supervisor has shut down."""


class Supervisor:
    """Handle on a running supervisor (made by :func:`run_supervisor`).

    Plugins are started in order: the core first, then ``autostart``; a
    plugin's ``depends_on`` are started (and waited for) before it. Stopping
    everything goes in reverse start order.
    """

    def __init__(
        self,
        config: SupervisorConfig,
        inventory: Mapping[str, PluginEntry],
        *,
        bus: EventBus,
        runners: trio.Nursery,
        tasks: trio.Nursery,
        spawn: Spawn = run_child,
        random: Random | None = None,
    ) -> None:
        """``runners`` runs the plugins, ``tasks`` the supervisor's own background work."""
        self.config = config
        self._bus = bus
        credentials_dir = config.credentials_dir if config.create_credentials else None
        self._context = PluginContext(
            bus=bus,
            nursery=runners,
            logs_dir=config.base_dir / config.logs_dir,
            credentials_dir=None if credentials_dir is None else config.base_dir / credentials_dir,
            base_dir=config.base_dir,
            spawn=spawn,
            random=random,
        )
        self._plugins = {name: Plugin(entry, self._context) for name, entry in inventory.items()}
        self._tasks = tasks
        self._autostarted = False
        self._closed = False

    @property
    def plugins(self) -> Mapping[str, Plugin]:
        """Every known plugin, by name."""
        return self._plugins

    def status(self) -> list[PluginStatus]:
        """A snapshot of every plugin, sorted by name."""
        return [self._plugins[name].status() for name in sorted(self._plugins)]

    def plugin_status(self, name: str) -> PluginStatus:
        """A snapshot of one plugin. Raises :class:`PluginError` if it is unknown."""
        return self._get(name).status()

    def events(self, buffer: int = DEFAULT_BUFFER) -> Subscription:
        """Subscribe to events: ``with supervisor.events() as events: async for e in events``."""
        return self._bus.subscribe(buffer)

    async def start(self, name: str) -> PluginStatus:
        """Start ``name`` (its dependencies first) and wait until it is ready or failed.

        Raises:
            PluginError: unknown plugin, or it cannot be started.
        """
        return await self._start(name, ())

    async def stop(self, name: str) -> PluginStatus:
        """Stop ``name`` and disable its automatic restarts."""
        return await self._get(name).stop()

    async def restart(self, name: str) -> PluginStatus:
        """Stop ``name`` if it runs, then start it again."""
        plugin = self._get(name)
        for dependency in plugin.config.depends_on:
            await self._start(dependency, (name,))
        return await plugin.restart()

    async def autostart(self) -> None:
        """Start the core, then the ``autostart`` plugins in order, each once ready."""
        await self._start_each(self._wanted())
        self._autostarted = True

    async def start_all(self) -> list[PluginStatus]:
        """Start the core, the ``autostart`` plugins, then all the others by name."""
        wanted = self._wanted()
        await self._start_each(wanted + [n for n in sorted(self._plugins) if n not in wanted])
        return self.status()

    async def stop_all(self) -> list[PluginStatus]:
        """Cancel every pending restart, then stop every active plugin, last started first."""
        active = sorted(self._active(), key=lambda p: p.launch_order, reverse=True)
        for plugin in active:
            plugin.cancel_restarts()
        for plugin in active:
            await plugin.stop()
        return self.status()

    async def restart_all(self) -> list[PluginStatus]:
        """Stop everything, then start the core, ``autostart`` and the ones that were running."""
        was_active = {plugin.name for plugin in self._active()}
        await self.stop_all()
        wanted = self._wanted()
        await self._start_each(wanted + sorted(was_active - set(wanted)))
        return self.status()

    def log_file(self, name: str) -> Path | None:
        """Path of the plugin's current log file (None if it logs to no file)."""
        return self._get(name).log_path

    def tail_log(self, name: str, lines: int = 50) -> list[str]:
        """The last ``lines`` lines of the plugin's log."""
        path = self.log_file(name)
        return [] if path is None else tail(path, lines)

    def rescan(self) -> None:
        """Look at the plugin folders again and apply the changes.

        New plugins are added (and started if they are the core or in
        ``autostart``). A plugin whose executable is gone is stopped; it is
        forgotten unless the configuration still names it.
        """
        self._check_open()
        self._apply(take_inventory(self.config), restart_changed=False)

    def reload(self, config: SupervisorConfig) -> None:
        """Apply a re-read ``launcher.yaml``, as supervisord's ``reread`` + ``update``.

        Plugins added are added (and started if they are the core or in
        ``autostart``), plugins removed are stopped and forgotten, running
        plugins whose settings changed are restarted with the new ones. The
        settings of the supervisor itself (folders, control socket, logs,
        credentials, intervals) are kept until it is started again.
        """
        self._check_open()
        old_wanted = set(self._wanted())
        self.config = attrs.evolve(
            self.config,
            plugins=config.plugins,
            defaults=config.defaults,
            refused=config.refused,
            core=config.core,
            autostart=config.autostart,
        )
        entries = take_inventory(self.config)
        self._apply(entries, restart_changed=True)
        if self._autostarted:
            for name in self._wanted():
                if name not in old_wanted and name in entries:
                    self._in_background(self._start_quietly, name)

    def _apply(self, entries: Mapping[str, PluginEntry], *, restart_changed: bool) -> None:
        for name in [name for name in self._plugins if name not in entries]:
            plugin = self._plugins.pop(name)
            self._bus.publish(PluginRemoved(name=name))
            self._in_background(self._forget, plugin)
        wanted = set(self._wanted())
        for name, entry in entries.items():
            known = self._plugins.get(name)
            if known is None:
                self._plugins[name] = Plugin(entry, self._context)
                self._bus.publish(PluginAdded(name=name))
            elif entry == known.entry:
                continue
            elif entry.command is None and known.entry.command is not None:
                self._bus.publish(PluginRemoved(name=name))  # still named by the config
                known.update_entry(entry)  # no restart can find the executable any more
                self._in_background(self._stop_removed, known)
                continue
            else:
                known.update_entry(entry)
                if restart_changed and known.active:
                    self._in_background(self._restart_quietly, name)
                    continue
            if self._autostarted and name in wanted and entry.command is not None:
                self._in_background(self._start_quietly, name)

    # -- internals -------------------------------------------------------------

    def _get(self, name: str) -> Plugin:
        self._check_open()
        try:
            return self._plugins[name]
        except KeyError:
            raise PluginError(f"unknown plugin {name!r}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise SupervisorClosed("the supervisor has shut down")

    def _wanted(self) -> list[str]:
        core = [] if self.config.core is None else [self.config.core]
        return core + [name for name in self.config.autostart if name not in core]

    def _active(self) -> list[Plugin]:
        return [plugin for plugin in self._plugins.values() if plugin.active]

    def _running(self) -> Iterator[Plugin]:
        return (plugin for plugin in self._plugins.values() if plugin.pid is not None)

    async def _start(self, name: str, chain: tuple[str, ...]) -> PluginStatus:
        plugin = self._get(name)
        for dependency in plugin.config.depends_on:
            if dependency in chain:
                raise PluginError(f"{name}: dependency cycle through {dependency!r}")
            if dependency not in self._plugins:
                raise PluginError(f"{name}: depends on unknown plugin {dependency!r}")
            status = await self._start(dependency, (*chain, name))
            if not status.ready:
                logger.warning("%s: starting although %s is not ready", name, dependency)
        return await plugin.start()

    async def _start_each(self, names: list[str]) -> None:
        for name in names:
            await self._start_quietly(name)

    async def _start_quietly(self, name: str) -> None:
        try:
            await self._start(name, ())
        except PluginError as exc:
            logger.error("cannot start %s", exc)

    async def _restart_quietly(self, name: str) -> None:
        try:
            await self.restart(name)
        except PluginError as exc:
            logger.error("cannot restart %s", exc)

    async def _forget(self, plugin: Plugin) -> None:
        await plugin.stop()
        plugin.close()

    async def _stop_removed(self, plugin: Plugin) -> None:
        await plugin.stop()
        plugin.update_entry(plugin.entry)  # now shown as failed: not found

    def _in_background(self, function: Callable[..., Awaitable[object]], *args: object) -> None:
        self._tasks.start_soon(function, *args)

    async def _watch_inventory(self) -> None:
        while True:
            await trio.sleep(self.config.scan_interval)
            self.rescan()

    async def _shutdown(self) -> None:
        await self.stop_all()
        for plugin in self._plugins.values():
            plugin.close()
        self._closed = True
        self._bus.close()


async def run_supervisor(
    config: SupervisorConfig,
    *,
    autostart: bool = True,
    spawn: Spawn = run_child,
    random: Random | None = None,
    task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Supervise the plugins of ``config`` until cancelled.

    Takes the inventory, starts the resource monitor, the folder watcher and
    the control socket, then hands the :class:`Supervisor` to
    ``task_status.started`` and (with ``autostart``) starts the core and the
    ``autostart`` plugins in order in the background. When cancelled, stops
    every plugin in reverse start order before returning.

    ``spawn`` replaces :func:`~trio_launcher.process.run_child` (for tests) and
    ``random`` makes backoff jitter reproducible.
    """
    control: ControlListener | None = None
    if config.control_socket is not None:
        control = await open_control_listener(config.base_dir / config.control_socket)
    supervisor: Supervisor | None = None
    async with trio.open_nursery() as runners:
        try:
            async with trio.open_nursery() as services:
                supervisor = Supervisor(
                    config,
                    take_inventory(config),
                    bus=EventBus(),
                    runners=runners,
                    tasks=services,
                    spawn=spawn,
                    random=random,
                )
                if config.monitor_interval > 0:
                    monitor = ResourceMonitor(config.monitor_interval, supervisor._running)
                    services.start_soon(monitor.run)
                if config.scan_interval > 0:
                    services.start_soon(supervisor._watch_inventory)
                if control is not None:
                    services.start_soon(control.serve, supervisor)
                task_status.started(supervisor)
                if autostart:
                    services.start_soon(supervisor.autostart)
                await trio.sleep_forever()
        finally:
            if control is not None:
                control.close()
            if supervisor is not None:
                with trio.CancelScope(shield=True):
                    await supervisor._shutdown()
