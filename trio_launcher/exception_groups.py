"""Raising the one real error out of the exception groups of internal nurseries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["unwrap_lone_exception"]


@contextlib.contextmanager
def unwrap_lone_exception() -> Iterator[None]:
    """Our nurseries are implementation details: raise a lone error (or Cancelled) as is.

    A group holding exactly one exception, possibly through nested groups of
    one, is replaced by that exception; any other group propagates unchanged.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        error = _lone(group)
        if error is None:
            raise
        context = error.__context__
        try:
            raise error
        finally:
            error.__context__ = context  # not the group we unwrapped


def _lone(error: BaseException) -> BaseException | None:
    while isinstance(error, BaseExceptionGroup):
        if len(error.exceptions) != 1:
            return None
        error = error.exceptions[0]
    return error
