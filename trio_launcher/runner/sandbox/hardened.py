"""Callables handed to user code that look like built-ins and hold no reachable state.

``print`` and ``__import__`` are ours, not CPython's.  An instance of a
Python class keeps its state in attributes (``print._calls``,
``__import__._rules``), which user code could read or rewrite.  A
:func:`builtin_function` keeps it in a closure instead: the only ways in are
``__call__``, ``__closure__`` and ``cell_contents``, all of which the
sandbox refuses (statically and in format strings).  Its ``repr`` is the
built-in's, as in n8n.

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def builtin_function(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """An object that calls *function* and shows itself as ``<built-in function name>``.

    It has no instance state (``__slots__ = ()``); each call creates its own
    class, so nothing is shared between two such objects.
    """

    def __repr__(self: object) -> str:
        return f"<built-in function {name}>"

    namespace = {
        "__slots__": (),
        "__call__": staticmethod(function),
        "__repr__": __repr__,
        "__module__": "builtins",
        "__name__": name,
        "__doc__": function.__doc__,
    }
    return type("builtin_function_or_method", (), namespace)()  # type: ignore[no-any-return]
