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
    """``Type at file.py:line in function``, the innermost frame, and this package's; no message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    text = f"{type(exc).__name__} at {_place(frames[-1])}"
    ours = [frame for frame in frames if _PACKAGE in frame.filename]
    if ours and ours[-1] is not frames[-1]:
        text += f", from {_place(ours[-1])}"
    return text


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _place(frame: traceback.FrameSummary) -> str:
    return f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"


def log_unexpected(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log once, at error level, that handling ``what`` failed unexpectedly with ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(describe(e) for e in _leaves(exc))
        logger.error("unexpected error while handling %s: %s", what, inner)
    else:
        logger.error("unexpected error while handling %s: %s", what, describe(exc))


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` and its nested groups, each with its own traceback."""
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return leaves
