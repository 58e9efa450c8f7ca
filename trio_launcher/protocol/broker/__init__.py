"""The broker core: offers, pending requests, matching and the task table, sans-IO.

:class:`BrokerCore` reproduces the behaviour of n8n's task broker (reference
section 4, v2.41 semantics without the quirks of section 11). It owns no
sockets, no clock and no tasks: the caller feeds it events with the current
time (float seconds, any monotonic origin) and sends what it returns:

* :meth:`BrokerCore.connect_runner`, :meth:`~BrokerCore.receive_from_runner`,
  :meth:`~BrokerCore.disconnect_runner`: a runner's WebSocket, identified by an
  ``int`` the server chooses;
* :meth:`~BrokerCore.receive_from_requester`, :meth:`~BrokerCore.forget_requester`:
  the in-process requesters, identified by a ``str``;
* :meth:`~BrokerCore.next_deadline`, :meth:`~BrokerCore.advance_time`: timers.
  Timers fire **only** in :meth:`~BrokerCore.advance_time`; a message that
  arrives after a deadline but before the caller advanced time is handled as if
  it had won the race (as in n8n's event loop);
* :meth:`~BrokerCore.drain`: shutdown (4.9).

Every call returns a list of :data:`Output` effects, in the order they must be
carried out: :class:`SendToRunner`, :class:`SendToRequester`, :class:`CloseRunner`.

The package's modules:

* :mod:`.core`: :class:`BrokerCore`, its calls and its message handlers;
* :mod:`.states`: the states of a request and of a runner connection, and
  their tables :data:`REQUEST_TRANSITIONS` and :data:`RUNNER_TRANSITIONS`;
* :mod:`.matching`: the offer book, the pending requests, matching;
* :mod:`.acceptance`: a matched request on its way to a runner, and the
  runner's answer or the window passing;
* :mod:`.tasks`: the task table, the one place a request changes state, and
  its timers; :mod:`.runners`: the runner table;
* :mod:`.heap`: the compacting heap behind the timers, the pending requests
  and the offers' expiry;
* :mod:`.outputs`, :mod:`.timeouts`, :mod:`.statistics`, :mod:`.records`;
* the error objects it sends are n8n's, from :mod:`trio_launcher.protocol.n8n_errors`.

Design notes:

* One record per request lives from ``requester:taskrequest`` to its end; its
  life (pending, being accepted, waiting for settings, running, ended) is
  :data:`REQUEST_TRANSITIONS`. A runner connection's life is
  :data:`RUNNER_TRANSITIONS`. Every state change goes through those tables.
* Each request ends exactly once: with ``broker:taskdone``,
  ``broker:taskerror`` or ``broker:requestexpired`` to its requester, or
  silently when the requester cancels it or goes away.
* Matching is per task type, oldest request first against oldest offer first
  (see :mod:`.matching`); after each call no task type has both a pending
  request and a live offer.
* Timers live in one heap with lazy invalidation and periodic compaction:
  :meth:`~BrokerCore.next_deadline` and :meth:`~BrokerCore.advance_time` are
  O(log n) per timer, and cancelled timers never pile up.
* A runner may speak only of tasks it was given. Each connection remembers
  the ids of its tasks that ended (the last
  :attr:`BrokerTimeouts.remembered_task_ids`). A message about one of those
  (a result that lost the race with a timeout or a cancel, a late answer to an
  acceptance that timed out) is ignored: that race is normal, and closing over
  it would fail the runner's other tasks. A message about any other task id
  (another runner's task, one that never existed, one forgotten long ago)
  closes the connection with 1008 (:data:`FOREIGN_TASK_REASON`) and fails its
  tasks as any disconnect does; the task it named is not touched. A reply
  about a task the runner holds that does not fit the task's state
  (``taskaccepted`` twice, ``taskdone`` before ``taskaccepted``) is ignored.
  An ended id is never handed to the same connection again while remembered,
  so a late message about it cannot land on a new task.
* When a request ends while its offer acceptance is still out (request
  timeout, drain, cancel), the runner gets ``broker:taskcancel`` at once; it
  received the ``taskofferaccept`` first on the same socket, so it can drop
  the task cleanly, and its late reply is ignored.
* Unresponsive runners (4.8): a runner that lets ``max_accept_timeouts``
  acceptances in a row time out (each at least one accept window apart) and
  has no task in flight is closed with 1002. The "silent runner" check on
  request expiry is not implemented.
"""

from .core import BrokerCore
from .outputs import (
    EVICTED_REASON,
    FOREIGN_TASK_REASON,
    UNRESPONSIVE_REASON,
    CloseRunner,
    DisconnectCause,
    Output,
    SendToRequester,
    SendToRunner,
)
from .states import REQUEST_TRANSITIONS, RUNNER_TRANSITIONS, RequestState, RunnerState
from .statistics import BrokerStatistics
from .timeouts import BrokerTimeouts

__all__ = [
    "EVICTED_REASON",
    "FOREIGN_TASK_REASON",
    "REQUEST_TRANSITIONS",
    "RUNNER_TRANSITIONS",
    "UNRESPONSIVE_REASON",
    "BrokerCore",
    "BrokerStatistics",
    "BrokerTimeouts",
    "CloseRunner",
    "DisconnectCause",
    "Output",
    "RequestState",
    "RunnerState",
    "SendToRequester",
    "SendToRunner",
]
