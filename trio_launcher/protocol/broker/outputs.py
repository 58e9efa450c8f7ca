"""What the broker core returns (messages to send, connections to close), and why it closes."""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

import attrs

from .. import n8n_errors
from ..messages import BrokerToRequester, BrokerToRunner

__all__ = [
    "EVICTED_REASON",
    "FOREIGN_TASK_REASON",
    "UNRESPONSIVE_REASON",
    "CloseRunner",
    "DisconnectCause",
    "Output",
    "SendToRequester",
    "SendToRunner",
    "disconnect_error",
]

#: Close reason when a new connection registers under a live runner's id (4.1).
EVICTED_REASON: Final = "Replaced by a new connection with the same runner id"
#: Close reason for a runner that keeps letting acceptances time out (4.8).
UNRESPONSIVE_REASON: Final = "Runner is unresponsive"
#: Close reason (a format string: ``type`` is the message's wire type) for a
#: runner that sent a message about a task it was not given.
FOREIGN_TASK_REASON: Final = "{type} for a task this runner was not given"


@attrs.frozen
class SendToRunner:
    """Send ``message`` on runner connection ``connection``."""

    connection: int
    message: BrokerToRunner


@attrs.frozen
class SendToRequester:
    """Deliver ``message`` to requester ``requester``."""

    requester: str
    message: BrokerToRequester


@attrs.frozen
class CloseRunner:
    """Close runner connection ``connection``; the core has already forgotten it."""

    connection: int
    code: int
    reason: str


Output: TypeAlias = SendToRunner | SendToRequester | CloseRunner


class DisconnectCause(enum.Enum):
    """Why a runner's connection ended; it picks the error its tasks fail with."""

    CLOSED = "closed"  #: the socket closed (either side)
    HEARTBEAT = "heartbeat"  #: no pong to the broker's ping (4.6)
    EVICTED = "evicted"  #: a new connection registered under the same runner id (4.1)
    PROTOCOL_ERROR = "protocol-error"  #: the runner broke the protocol
    FOREIGN_TASK = "foreign-task"  #: the runner spoke of a task it was not given
    SHUTDOWN = "shutdown"  #: the broker is shutting down
    UNRESPONSIVE = "unresponsive"  #: accept timeouts in a row (4.8)


_DISCONNECT_DETAIL: Final = {
    DisconnectCause.CLOSED: "its connection closed",
    DisconnectCause.EVICTED: "a new connection with the same runner id replaced it",
    DisconnectCause.PROTOCOL_ERROR: "it broke the broker protocol",
    DisconnectCause.FOREIGN_TASK: "it sent a message about a task it was not given",
    DisconnectCause.UNRESPONSIVE: "it stopped answering task offers",
}


def disconnect_error(cause: DisconnectCause) -> dict[str, str]:
    """The error object a task fails with when its runner's connection ends for ``cause``."""
    if cause is DisconnectCause.HEARTBEAT:
        return n8n_errors.heartbeat_failed()
    if cause is DisconnectCause.SHUTDOWN:
        return n8n_errors.broker_shut_down()
    return n8n_errors.runner_disconnected(_DISCONNECT_DETAIL[cause])
