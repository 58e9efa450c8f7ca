"""Resource monitoring: one periodic sampler for every plugin's process tree.

:class:`ResourceMonitor` samples CPU% and RSS of all running plugins with a
single :class:`~trio_launcher.process.TreeSampler` pass (in a worker thread,
so ``/proc`` reads never stall the event loop) and hands each plugin its
sample. :class:`ThresholdTracker` is the sans-IO part that decides when a
plugin has been over a limit for long enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs
import trio

from ..process import ResourceSample, TreeSampler
from .plugin_settings import Limits

__all__ = ["Exceeded", "ResourceMonitor", "ThresholdTracker"]


@attrs.frozen
class Exceeded:
    """``resource`` (``"cpu"`` or ``"memory"``) stayed at or over ``limit`` for ``duration``."""

    resource: str
    value: float
    limit: float
    duration: float


class ThresholdTracker:
    """Tracks how long a process tree has been over its limits.

    Feed it samples with :meth:`update`; it reports a resource once every
    sample for at least ``limits.duration`` seconds was over the limit, then
    starts counting again.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._over_since: dict[str, float] = {}

    def reset(self) -> None:
        """Forget the history (call when the process is replaced)."""
        self._over_since.clear()

    def update(self, now: float, sample: ResourceSample) -> list[Exceeded]:
        """Record ``sample`` taken at ``now``; return the limits exceeded for long enough."""
        exceeded = []
        for resource, value, limit in self._checks(sample):
            if limit is None or value < limit:
                self._over_since.pop(resource, None)
                continue
            since = self._over_since.setdefault(resource, now)
            if now - since >= self.limits.duration:
                exceeded.append(Exceeded(resource, value, limit, now - since))
                del self._over_since[resource]
        return exceeded

    def _checks(self, sample: ResourceSample) -> list[tuple[str, float, float | None]]:
        memory = self.limits.memory_bytes
        return [
            ("cpu", sample.cpu_percent, self.limits.cpu_percent),
            ("memory", float(sample.rss_bytes), None if memory is None else float(memory)),
        ]


class Sampled(Protocol):
    """What the monitor needs of a plugin."""

    @property
    def pid(self) -> int | None: ...

    def record_usage(self, pid: int, now: float, sample: ResourceSample | None) -> None: ...


class ResourceMonitor:
    """Samples every ``interval`` seconds the plugins returned by ``plugins()``."""

    def __init__(
        self,
        interval: float,
        plugins: Callable[[], Iterable[Sampled]],
        sampler: TreeSampler | None = None,
    ) -> None:
        self.interval = interval
        self._plugins = plugins
        self._sampler = sampler or TreeSampler()

    async def run(self) -> None:
        """Sample forever (until cancelled)."""
        while True:
            await self.sample_once()
            await trio.sleep(self.interval)

    async def sample_once(self) -> None:
        """Take one sample of every running plugin and hand it over."""
        running = [(plugin, plugin.pid) for plugin in self._plugins()]
        pids = [pid for _, pid in running if pid is not None]
        if not pids:
            return
        samples = await trio.to_thread.run_sync(self._sampler.sample_many, pids)
        now = trio.current_time()
        for plugin, pid in running:
            if pid is not None:
                plugin.record_usage(pid, now, samples.get(pid))
