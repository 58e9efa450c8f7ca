"""Running the embedded task broker: n8n's broker protocol over HTTP and WebSocket on one port.

:func:`open_broker` (an async context manager) and :func:`serve_broker` (for
``nursery.start``) run a :class:`~.server.Broker` with its HTTP side
(:class:`~.routes.BrokerHttp`) on one listening port.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from .config import BrokerConfig
from .routes import BrokerHttp
from .server import Broker

__all__ = ["open_broker", "serve_broker"]

log = logging.getLogger(__name__)


async def serve_broker(
    config: BrokerConfig | None = None,
    *,
    task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a broker until cancelled; ``task_status.started(broker)`` once it listens.

    On cancellation the broker closes its connections at once; call
    :meth:`Broker.shutdown` first for a graceful drain.
    """
    config = config or BrokerConfig()
    listeners = await trio.open_tcp_listeners(config.port, host=config.host)
    broker = Broker(config, port=listeners[0].socket.getsockname()[1])
    http = BrokerHttp(broker)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(trio.serve_listeners, http.handle_connection, listeners))
        nursery.start_soon(broker.run_timers)
        nursery.start_soon(broker.run_heartbeats)
        if not config.requester_token:
            log.info("network requester endpoint POST /tasks is off (no requester token set)")
        log.info("task broker listening on %s", broker.url)
        task_status.started(broker)


@asynccontextmanager
async def open_broker(config: BrokerConfig | None = None) -> AsyncIterator[Broker]:
    """Run a broker for the duration of the ``async with`` block, then drain it.

    >>> async with open_broker(BrokerConfig(port=0)) as broker:  # doctest: +SKIP
    ...     result = await broker.run_task("python", settings)
    """
    async with trio.open_nursery() as nursery:
        broker = await nursery.start(serve_broker, config)
        try:
            yield broker
        finally:
            with trio.CancelScope(shield=True):
                await broker.shutdown()
            nursery.cancel_scope.cancel()
