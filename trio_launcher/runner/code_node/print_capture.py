"""The ``print`` that user code sees: records each call for the browser console.

Each call becomes one list of display strings (n8n's rules):

* ``str`` is shown quoted, the way ``repr`` quotes it (``'x'``);
* ``None``, ``int``, ``float`` and ``bool`` use ``str()``;
* anything else is JSON-encoded (non-JSON values via ``str``);
* a value that cannot be encoded at all becomes ``[Circular <TypeName>]``.

At most :data:`MAX_PRINT_CALLS` calls are kept, then one
``[Output truncated - N more print statements]`` entry.  Every call is also
echoed to the task's stdout as ``[user code] ...``, as n8n does.
"""

from __future__ import annotations

import contextlib

from trio_launcher.runner.sandbox.hardened import builtin_function
from trio_launcher.runner.worker.wire import to_json

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

MAX_PRINT_CALLS = 100
_PLAIN_TYPES = (type(None), int, float, bool)


def format_print_arg(value: Any) -> str:
    """One print argument as n8n shows it in the browser console."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, _PLAIN_TYPES):
        return str(value)
    try:
        return to_json(value)
    except (TypeError, ValueError, RecursionError):
        pass  # fall through, so that no exception raised later has this one as context
    return f"[Circular {type(value).__name__}]"


class PrintCapture:
    """The ``print`` of one task (:attr:`function`) and what it recorded.

    User code gets only :attr:`function`, a
    :func:`trio_launcher.runner.sandbox.hardened.builtin_function` whose state
    (the recorded calls, the echo stream) lives in a closure, so that no
    attribute of ``print`` leads to it.
    """

    __slots__ = ("_calls", "_dropped", "function")

    def __init__(self, echo: TextIO | None = None) -> None:
        self._calls: list[list[str]] = []
        self._dropped: list[int] = [0]
        self.function = builtin_function(_recorder(self._calls, self._dropped, echo), "print")

    @property
    def print_args(self) -> list[list[str]]:
        """The captured calls, plus the truncation notice if calls were dropped."""
        dropped = self._dropped[0]
        if not dropped:
            return list(self._calls)
        notice = f"[Output truncated - {dropped} more print statements]"
        return [*self._calls, [notice]]


def _recorder(
    calls: list[list[str]], dropped: list[int], echo: TextIO | None
) -> Callable[..., None]:
    def print(*args: Any, sep: str | None = " ", end: str | None = "\n", **_: Any) -> None:
        """Record the call for the browser console (and echo it to the task's stdout)."""
        if len(calls) < MAX_PRINT_CALLS:
            calls.append([format_print_arg(arg) for arg in args])
        else:
            dropped[0] += 1
        if echo is not None:
            _echo(echo, args, " " if sep is None else sep, "\n" if end is None else end)

    return print


def _echo(stream: TextIO, args: tuple[Any, ...], sep: str, end: str) -> None:
    # Best effort: the capture already has the call.
    with contextlib.suppress(Exception):
        stream.write("[user code] " + sep.join(map(str, args)) + end)
