"""A snapshot of one plugin, as ``plugins ls`` and the control socket show it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from .lifecycle import PluginState

__all__ = ["PluginStatus"]


@attrs.frozen
class PluginStatus:
    """A snapshot of one plugin, as shown by ``plugins ls``.

    ``since`` is the wall-clock time of the last state change; ``cpu_percent``
    and ``memory_bytes`` are for the whole process tree, from the last sample.
    """

    name: str
    status: PluginState
    pid: int | None
    starts: int
    restarts: int
    ready: bool
    cpu_percent: float | None
    memory_bytes: int | None
    since: float
    last_error: str
    log_file: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``since`` in ISO 8601)."""
        fields = attrs.asdict(self)
        fields["status"] = self.status.value
        fields["since"] = datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")
        return fields
