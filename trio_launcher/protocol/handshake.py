"""The launcher's handshake with the broker, as a pure state machine (reference 8.4).

The launcher poses as a runner of one task type until a task is waiting: it
registers, makes one offer that never expires, and answers the broker's accept
with ``runner:taskdeferred``. Then it closes the socket and starts the real
runner, which the broker hands the task to. :class:`LauncherHandshake` decides
what to answer; the caller owns the socket. Its states are in
:data:`HANDSHAKE_TRANSITIONS`.
"""

from __future__ import annotations

import enum
from typing import Final

from .ids import hex_id
from .messages import (
    BrokerInfoRequest,
    BrokerRunnerRegistered,
    BrokerTaskOfferAccept,
    Message,
    RunnerInfo,
    RunnerTaskDeferred,
    RunnerTaskOffer,
    RunnerToBroker,
)
from .runner import ensure_broker_to_runner
from .transitions import Transition, TransitionTable

__all__ = ["HANDSHAKE_TRANSITIONS", "HandshakeState", "LauncherHandshake"]


class HandshakeState(enum.Enum):
    """The states of a launcher handshake; ``DEFERRED`` is the end."""

    AWAITING_INFO_REQUEST = enum.auto()
    AWAITING_REGISTRATION = enum.auto()
    OFFERED = enum.auto()
    DEFERRED = enum.auto()


_H = HandshakeState

#: Every state change of :class:`LauncherHandshake`; triggers are wire types.
HANDSHAKE_TRANSITIONS: Final = TransitionTable(
    "launcher handshake",
    [
        Transition(_H.AWAITING_INFO_REQUEST, BrokerInfoRequest.TYPE, _H.AWAITING_REGISTRATION),
        Transition(_H.AWAITING_REGISTRATION, BrokerRunnerRegistered.TYPE, _H.OFFERED),
        Transition(_H.OFFERED, BrokerTaskOfferAccept.TYPE, _H.DEFERRED),
    ],
)


class LauncherHandshake:
    """One handshake of a launcher for ``task_type``.

    ``name`` defaults to ``launcher-<task_type>`` and ``offer_id`` to a
    random 16-hex id, as n8n's launcher does.
    """

    def __init__(
        self, task_type: str, *, name: str | None = None, offer_id: str | None = None
    ) -> None:
        self.task_type = task_type
        self.name = f"launcher-{task_type}" if name is None else name
        self.offer_id = hex_id(16) if offer_id is None else offer_id
        self._state = HandshakeState.AWAITING_INFO_REQUEST
        self._task_id: str | None = None

    @property
    def state(self) -> HandshakeState:
        """The handshake's current state."""
        return self._state

    @property
    def task_id(self) -> str | None:
        """The id of the task we deferred, once ``done``."""
        return self._task_id

    @property
    def done(self) -> bool:
        """Whether a task is waiting: the caller closes the socket and starts the runner."""
        return self._state is HandshakeState.DEFERRED

    def receive(self, message: Message) -> list[RunnerToBroker]:
        """Handle one message from the broker; the messages to send back.

        Only the next message of the handshake is answered; anything else
        (``broker:drain``, ``broker:taskcancel``, unknown types, an accept for
        another offer, repeats) is ignored. Raises :class:`RemoteProtocolError`
        for a message a broker must not send a runner.
        """
        msg = ensure_broker_to_runner(message)
        if msg is None or not HANDSHAKE_TRANSITIONS.allows(self._state, msg.TYPE):
            return []
        if isinstance(msg, BrokerTaskOfferAccept) and msg.offer_id != self.offer_id:
            return []
        self._state = HANDSHAKE_TRANSITIONS.advance(self._state, msg.TYPE)
        return [self._answer(msg)]

    def _answer(self, msg: Message) -> RunnerToBroker:
        if isinstance(msg, BrokerTaskOfferAccept):
            self._task_id = msg.task_id
            return RunnerTaskDeferred(task_id=msg.task_id)
        if isinstance(msg, BrokerRunnerRegistered):
            return RunnerTaskOffer(offer_id=self.offer_id, task_type=self.task_type, valid_for=-1)
        return RunnerInfo(name=self.name, types=(self.task_type,))
