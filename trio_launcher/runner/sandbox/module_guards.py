"""Replacements for the few functions of allowed modules that defeat the sandbox.

A module view (:class:`.runtime.ModuleView`) hands these out in
place of the module's own attributes:

* ``string.Formatter``: :class:`.safe_format.SafeFormatter`, whose field
  lookups are checked (the original reads any attribute:
  ``Formatter().format("{0.__globals__}", f)``).
* ``functools.update_wrapper`` / ``wraps``: refuse ``assigned`` and
  ``updated`` names the sandbox refuses.  The originals read and write
  attributes by name: ``updated=("__globals__",)`` merges a library
  function's globals, real ``__builtins__`` included, into the user's own.
* ``functools.singledispatch`` / ``singledispatchmethod``: ``register(f)``
  takes the class from ``f``'s annotations without evaluating them.  The
  originals call ``typing.get_type_hints``, which ``eval``\\ s annotation
  strings, and a string built at run time is code no check has seen.
* ``traceback.walk_stack`` / ``walk_tb``: not available; they yield frames.

Each entry maps a module name to a function that builds the replacements
from the real module (so nothing is imported before a view asks).

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

from types import UnionType

from trio_launcher.runner.sandbox.attribute_rules import is_blocked_attribute
from trio_launcher.runner.sandbox.safe_format import AccessViolationError, SafeFormatter

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import ModuleType
    from typing import Any


class Unavailable:
    """Marks a module attribute that a view refuses to hand out."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def string_guards(module: ModuleType) -> dict[str, Any]:
    """Replacements for ``string``."""
    return {"Formatter": SafeFormatter}


def traceback_guards(module: ModuleType) -> dict[str, Any]:
    """Replacements for ``traceback``."""
    frames = Unavailable("it hands out frame objects")
    return {"walk_stack": frames, "walk_tb": frames}


def functools_guards(module: ModuleType) -> dict[str, Any]:
    """Replacements for ``functools``."""
    update_wrapper = _checked_update_wrapper(module)
    return {
        "update_wrapper": update_wrapper,
        "wraps": _checked_wraps(module, update_wrapper),
        "singledispatch": _checked_singledispatch(module),
        "singledispatchmethod": _checked_singledispatchmethod(module),
    }


#: Module name -> builder of that module's replacements.
GUARDS: dict[str, Callable[[ModuleType], dict[str, Any]]] = {
    "string": string_guards,
    "traceback": traceback_guards,
    "functools": functools_guards,
}


def _checked_update_wrapper(functools: ModuleType) -> Callable[..., Any]:
    real = functools.update_wrapper
    checked_names = _wrapper_names_check(functools)

    def update_wrapper(
        wrapper: Any,
        wrapped: Any,
        assigned: Iterable[str] = functools.WRAPPER_ASSIGNMENTS,
        updated: Iterable[str] = functools.WRAPPER_UPDATES,
    ) -> Any:
        """``functools.update_wrapper``, for attribute names the sandbox allows."""
        return real(wrapper, wrapped, *checked_names(assigned, updated))

    return update_wrapper


def _checked_wraps(functools: ModuleType, update_wrapper: Callable[..., Any]) -> Callable[..., Any]:
    checked_names = _wrapper_names_check(functools)

    def wraps(
        wrapped: Any,
        assigned: Iterable[str] = functools.WRAPPER_ASSIGNMENTS,
        updated: Iterable[str] = functools.WRAPPER_UPDATES,
    ) -> Callable[[Any], Any]:
        """``functools.wraps``, for attribute names the sandbox allows."""
        names = checked_names(assigned, updated)

        def decorate(wrapper: Any) -> Any:
            return update_wrapper(wrapper, wrapped, *names)

        return decorate

    return wraps


def _wrapper_names_check(
    functools: ModuleType,
) -> Callable[[Iterable[str], Iterable[str]], tuple[tuple[str, ...], tuple[str, ...]]]:
    default_assigned = frozenset(functools.WRAPPER_ASSIGNMENTS)
    default_updated = frozenset(functools.WRAPPER_UPDATES)

    def checked_names(
        assigned: Iterable[str], updated: Iterable[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        assigned, updated = tuple(assigned), tuple(updated)
        _check_names(assigned, default_assigned)
        _check_names(updated, default_updated)
        return assigned, updated

    return checked_names


def _check_names(names: tuple[object, ...], defaults: frozenset[str]) -> None:
    for name in names:
        if type(name) is not str:
            raise TypeError(f"attribute name must be str, not {type(name).__name__}")
        if name not in defaults and is_blocked_attribute(name):
            raise AccessViolationError(f"functools may not copy attribute '{name}'")


def _checked_singledispatch(functools: ModuleType) -> Callable[[Any], Any]:
    real = functools.singledispatch

    def singledispatch(func: Any) -> Any:
        """``functools.singledispatch``; ``register(f)`` reads classes, never evaluates."""
        wrapper = real(func)
        wrapper.register = _checked_register(wrapper.register)
        return wrapper

    return singledispatch


def _checked_singledispatchmethod(functools: ModuleType) -> Callable[[Any], Any]:
    real = functools.singledispatchmethod

    def singledispatchmethod(func: Any) -> Any:
        """``functools.singledispatchmethod``; ``register(f)`` reads classes, never evaluates."""
        method = real(func)
        method.dispatcher.register = _checked_register(method.dispatcher.register)
        return method

    return singledispatchmethod


def _checked_register(register: Callable[..., Any]) -> Callable[..., Any]:
    def checked(cls: Any, func: Any = None) -> Any:
        """Register *func* for *cls*, or a function for the class its first annotation names."""
        if func is not None or _is_dispatch_type(cls):
            return register(cls, func)
        return register(_annotated_class(cls), cls)

    return checked


def _is_dispatch_type(value: object) -> bool:
    if isinstance(value, type):
        return True
    return isinstance(value, UnionType) and all(isinstance(arg, type) for arg in value.__args__)


def _annotated_class(func: Any) -> Any:
    annotations = getattr(func, "__annotations__", None)
    if not isinstance(annotations, dict) or not annotations:
        raise TypeError(
            f"Invalid first argument to `register()`: {func!r}. "
            "Use either `@register(some_class)` or plain `@register` on an annotated function."
        )
    name, value = next(iter(annotations.items()))
    if not _is_dispatch_type(value):
        raise TypeError(f"Invalid annotation for {name!r}. {value!r} is not a class.")
    return value
