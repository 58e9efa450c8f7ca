"""The boundary of a connection handler: what is logged of an unexpected exception.

Every server (the broker's HTTP and WebSocket connections, the health
endpoints, the supervisor's control socket) catches what its handler did not
expect at one place per connection, answers that connection with an error and
goes on. The log line names the exception's type and where it was raised, but
not its message, which may quote the input (a token, a request body).
"""

from __future__ import annotations

import logging
import os
import traceback

__all__ = ["describe", "log_unexpected"]


def describe(exc: BaseException) -> str:
    """``Type at file.py:line in function`` for the innermost frame; no message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {os.path.basename(last.filename)}:{last.lineno} in {last.name}"


def log_unexpected(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log once, at error level, that handling ``what`` failed unexpectedly with ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(describe(e) for e in exc.exceptions)
        logger.error("unexpected error while handling %s: %s", what, inner)
    else:
        logger.error("unexpected error while handling %s: %s", what, describe(exc))
