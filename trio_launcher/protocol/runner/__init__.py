"""The runner side of one broker connection, as a pure state machine (reference 5).

:class:`RunnerConnection` holds what an n8n task runner must remember about
its WebSocket: the registration handshake, the offers it has open, and the
tasks it holds. It never does I/O and never reads a clock: the caller feeds it
decoded broker messages (:meth:`RunnerConnection.receive`) and the current time
in seconds, calls it when local things happen (a task finished, shutdown
began), and sends what it returns. Its decisions come back as a :class:`Step`:
messages for the broker and :data:`Event` objects for the application.

A Trio runner loop looks like this (``-inf`` from :meth:`~RunnerConnection.next_deadline`
means "now"; it sleeps only until the next offer or settings deadline)::

    while True:
        deadline = conn.next_deadline()
        steps = []
        with trio.move_on_at(math.inf if deadline is None else deadline):
            frame = await ws.get_message()
            steps.append(conn.receive(decode(frame), trio.current_time()))
        now = trio.current_time()
        steps.append(conn.expire_waiting(now))
        for step in steps:
            await send_all(step.to_send)
            handle(step.events)
        await send_all(conn.offers_due(now))

A task that finishes calls :meth:`~RunnerConnection.task_done` and sends what
it returns; the freed slot makes ``next_deadline()`` return ``-inf``.

The connection's states are in :data:`RUNNER_TRANSITIONS` and each task's in
:data:`TASK_TRANSITIONS`; every state change is looked up there.

The package's modules:

* :mod:`.machine`: :class:`RunnerConnection`, its handlers and the tasks it holds;
* :mod:`.states`: the states of the connection and of a task, and their tables;
* :mod:`.offers`: the open offers, their expiry and the turns the task types take;
* :mod:`.events`: :class:`Step` and the :data:`Event` objects in it.
"""

from .events import (
    CancelTask,
    DrainRequested,
    Event,
    NodeTypesAnswered,
    Registered,
    RpcAnswered,
    StartTask,
    Step,
    TaskAccepted,
    TaskDataAnswered,
    TaskDropped,
)
from .machine import (
    CONNECTION_CLOSED,
    DEFAULT_SETTINGS_TIMEOUT,
    DUPLICATE_TASK_ID,
    SETTINGS_TIMED_OUT,
    RunnerConnection,
    ensure_broker_to_runner,
)
from .offers import OFFER_EXPIRY_MARGIN
from .states import RUNNER_TRANSITIONS, TASK_TRANSITIONS, RunnerState, TaskState

__all__ = [
    "CONNECTION_CLOSED",
    "DEFAULT_SETTINGS_TIMEOUT",
    "DUPLICATE_TASK_ID",
    "OFFER_EXPIRY_MARGIN",
    "RUNNER_TRANSITIONS",
    "SETTINGS_TIMED_OUT",
    "TASK_TRANSITIONS",
    "CancelTask",
    "DrainRequested",
    "Event",
    "NodeTypesAnswered",
    "Registered",
    "RpcAnswered",
    "RunnerConnection",
    "RunnerState",
    "StartTask",
    "Step",
    "TaskAccepted",
    "TaskDataAnswered",
    "TaskDropped",
    "TaskState",
    "ensure_broker_to_runner",
]
