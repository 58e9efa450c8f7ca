"""Running a command that listens: a port it cannot listen on is one line and exit 1."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["run_listening"]


def run_listening(
    main: Callable[[Callable[[], None]], Awaitable[None]], log: logging.Logger, **where: Any
) -> int:
    """``trio.run(main, listened)``: 0 once it returns, 1 if it could not listen.

    ``main`` calls ``listened()`` once it listens; an error before that which
    comes from the OS (the port is in use, the address is not this machine's)
    is logged as :func:`~trio_launcher.ports.cannot_listen_message` says it,
    with ``where`` (host, port and the settings that gave them); any other
    error is raised.
    """
    import trio

    from ..ports import cannot_listen_message, first_os_error

    listening = False

    def listened() -> None:
        nonlocal listening
        listening = True

    try:
        trio.run(main, listened)
    except BaseException as exc:
        error = None if listening else first_os_error(exc)
        if error is None:
            raise
        log.error("%s", cannot_listen_message(error, **where))
        return 1
    return 0
