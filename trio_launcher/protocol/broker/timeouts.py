"""The broker's timeouts and limits."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["BrokerTimeouts"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"BrokerTimeouts.{attribute.name} must be > 0, got {value!r}")


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"BrokerTimeouts.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class BrokerTimeouts:
    """The broker's timeouts in seconds, and its limits; defaults are n8n v2.41's."""

    #: A runner must answer ``taskofferaccept`` within this, and the requester
    #: must send ``tasksettings`` within this after ``taskready``
    #: (``N8N_RUNNERS_TASK_ACCEPT_TIMEOUT``).
    accept: float = attrs.field(default=2.0, validator=_positive)
    #: How long a request waits for a runner (``N8N_RUNNERS_TASK_REQUEST_TIMEOUT``).
    request: float = attrs.field(default=60.0, validator=_positive)
    #: From ``broker:tasksettings`` to the end of the task (``N8N_RUNNERS_TASK_TIMEOUT``).
    task: float = attrs.field(default=300.0, validator=_positive)
    #: How many deferrals of one request refresh its request timeout.
    max_deferrals: int = attrs.field(default=3, validator=_not_negative)
    #: Consecutive accept timeouts after which an idle runner is closed as
    #: unresponsive (4.8); 0 never closes.
    max_accept_timeouts: int = attrs.field(default=3, validator=_not_negative)
    #: How many ids of its ended tasks each runner connection remembers: a late
    #: message about one is ignored, one about any other task not given to the
    #: runner closes it (1008).
    remembered_task_ids: int = attrs.field(default=1024, validator=_not_negative)
