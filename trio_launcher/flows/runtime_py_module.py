"""A module of the shipped Python runtime: its source compiled, its context, its errors.

Imported by :mod:`.runtime_py`, in the runtime process: standard library only.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping

__all__ = [
    "Context",
    "ModuleError",
    "compile_module",
    "filename_of",
    "module_error",
    "printer",
    "use_paths",
]


class ModuleError(Exception):
    """A module failed to load or to run; ``line`` is in its source, if known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class Context(MutableMapping[str, object]):
    """A module's context: a dict whose every change is written through to the runner."""

    def __init__(self, data: dict[str, object], write_through: Callable[[str, object], None]):
        self._data = data
        self._write_through = write_through

    def __getitem__(self, key: str) -> object:
        return self._data[key]

    def __setitem__(self, key: str, value: object) -> None:
        self._write_through(key, value)
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError("context keys cannot be deleted (protocol v0); set them to None")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def restore(self, data: dict[str, object]) -> None:
        """Replace every key (the runner restoring the context): no write-through."""
        self._data = data


def filename_of(module: str) -> str:
    """The file name of a module's code, in its tracebacks."""
    return f"<flow module {module}>"


def use_paths(paths: object) -> None:
    """Let modules import from ``paths`` (a load's ``paths``): put them in front of ``sys.path``.

    The paths not on ``sys.path`` yet go to its front, in the order given; the
    import system's caches are then invalidated, so that what was installed in
    them since the last import is found.

    Raises:
        TypeError: ``paths`` is not a list of absolute paths.
    """
    if not isinstance(paths, list) or not all(_is_absolute(path) for path in paths):
        raise TypeError(f"'paths' is not a list of absolute paths: {paths!r}")
    if not paths:
        return
    added = [path for path in dict.fromkeys(paths) if path not in sys.path]
    sys.path[:0] = added
    import importlib

    importlib.invalidate_caches()


def _is_absolute(path: object) -> bool:
    return isinstance(path, str) and os.path.isabs(path)


def compile_module(name: str, source: str, log: Callable[[str], None]) -> Callable[..., object]:
    """The ``handle`` function that ``source`` defines, as module ``name``.

    What the module prints goes to ``log``, a line at a time (see :func:`printer`).

    Raises:
        ModuleError: the source does not compile, raises, or defines no ``handle``.
    """
    filename = filename_of(name)
    namespace: dict[str, object] = {"__name__": f"flow_module_{name}", "print": printer(log)}
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise ModuleError(f"{type(exc).__name__}: {exc.msg}", exc.lineno) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise ModuleError(f"{type(exc).__name__}: {exc}", None) from None
    try:
        exec(code, namespace)
    except Exception as exc:
        raise module_error(exc, filename) from None
    handle = namespace.get("handle")
    if not callable(handle):
        raise ModuleError("the module defines no function handle(message, context, send)", None)
    return handle


def printer(log: Callable[[str], None]) -> Callable[..., None]:
    """A module's ``print``: its text, less the last newline, to ``log``.

    ``print(..., file=f)`` writes to ``f``, as the built-in does.
    """

    def print_(
        *values: object,
        sep: str | None = " ",
        end: str | None = "\n",
        file: object = None,
        flush: bool = False,
    ) -> None:
        if file is not None:
            builtins.print(*values, sep=sep, end=end, file=file, flush=flush)  # type: ignore[call-overload]
            return
        text = (" " if sep is None else sep).join(map(str, values)) + ("\n" if end is None else end)
        log(text.removesuffix("\n"))

    return print_


def module_error(exc: BaseException, filename: str) -> ModuleError:
    """``exc`` as a module error, with the innermost line of the module's source it passed."""
    line = None
    tb = exc.__traceback__
    while tb is not None:  # outermost first: the last match is the innermost
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return ModuleError(f"{type(exc).__name__}: {exc}", line)
