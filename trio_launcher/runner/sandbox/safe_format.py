"""``str.format`` for user code: field names may not step into refused attributes.

``"{0.__class__}".format(x)`` looks attributes up in C, past every check on
the user's code; a literal template is checked statically, but one built at
run time (``("{0.__cl" + "ass__}").format(1)``) is not.  So the compiled user
code reads every ``x.format`` / ``x.format_map`` through :func:`format_attribute`
(see :data:`~trio_launcher.runner.code_node.user_code.FORMAT_HOOK`), which
hands out :func:`safe_format` / :func:`safe_format_map` in place of ``str``'s
own methods.  They check the template's field names with
:func:`.attribute_rules.format_string_problems` (once per template, cached)
and then call the real, fast ``str.format``.
:class:`SafeFormatter` is ``string.Formatter`` for the ``string`` module view.

A refused field raises :class:`AccessViolationError` before anything is
formatted.

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

from functools import partial
from types import BuiltinMethodType

from trio_launcher.runner.code_node.user_code import FORMAT_METHODS
from trio_launcher.runner.sandbox.attribute_rules import (
    format_string_problems,
    is_blocked_step,
    parse_format_string,
    split_field_name,
)

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

#: How many checked templates are remembered (the cache is then emptied).
CHECKED_CACHE_SIZE = 1024

_STR_FORMAT = str.format
_STR_FORMAT_MAP = str.format_map
_checked: dict[str, None] = {}


class AccessViolationError(AttributeError):
    """User code reached for an attribute the sandbox refuses (at run time)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Security violation detected: {problem}")


def check_template(template: object, method: str = "format") -> str:
    """*template* as an exact ``str``, once its field names are known to be allowed.

    Raises :class:`TypeError` for a non-string and
    :class:`AccessViolationError` for a refused field.
    """
    if type(template) is str and template in _checked:
        return template
    text = _exact_str(template, method)
    for step in format_string_problems(text):
        raise AccessViolationError(f"format string accesses '{step}', which is disallowed")
    if len(_checked) >= CHECKED_CACHE_SIZE:
        _checked.clear()
    _checked[text] = None
    return text


def _exact_str(value: object, method: str) -> str:
    # A str subclass could lie through __eq__/__hash__ to the cache; its
    # characters are what str.format reads, so work on an exact copy.
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    raise TypeError(
        f"descriptor '{method}' for 'str' objects doesn't apply to a "
        f"'{type(value).__name__}' object"
    )


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``str.format(template, *args, **kwargs)`` after checking the field names."""
    return _STR_FORMAT(check_template(template), *args, **kwargs)


def safe_format_map(template: str, mapping: Mapping[str, Any], /) -> str:
    """``str.format_map(template, mapping)`` after checking the field names."""
    return _STR_FORMAT_MAP(check_template(template, "format_map"), mapping)


def format_attribute(obj: Any, name: str) -> Any:
    """``obj.<name>`` for ``name`` in ``format``/``format_map``, as user code gets it."""
    return guard_str_formatter(getattr(obj, name))


def guard_str_formatter(value: Any) -> Any:
    """*value*, or its checking replacement if it is ``str.format``/``format_map``.

    Covers the unbound methods (``str.format``, also through a subclass) and
    methods bound to any ``str`` (``"...".format``, ``super().format``).
    """
    if value is _STR_FORMAT:
        return safe_format
    if value is _STR_FORMAT_MAP:
        return safe_format_map
    if type(value) is BuiltinMethodType and value.__name__ in FORMAT_METHODS:
        bound_to = value.__self__
        if isinstance(bound_to, str):
            return _bound(bound_to, value.__name__)
    return value


def _bound(template: str, name: str) -> Callable[..., str]:
    # A C-level partial: no Python frame of its own; its public ``func`` and
    # ``args`` are only the checking function and the template.
    return partial(safe_format if name == "format" else safe_format_map, template)


class SafeFormatter:
    """``string.Formatter`` with checked field names (same methods, same results).

    Not a subclass of ``string.Formatter``: the original class would then be
    one ``.mro()`` away.  Subclass it and override methods as documented for
    ``string.Formatter``.
    """

    def format(self, format_string: str, /, *args: Any, **kwargs: Any) -> str:
        """Format *format_string* with positional *args* and keyword *kwargs*."""
        return self.vformat(format_string, args, kwargs)

    def vformat(self, format_string: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        """Format with an argument sequence and mapping, then check unused arguments."""
        used: set[int | str] = set()
        result, _next_index = self._render(format_string, args, kwargs, used, 2, 0)
        self.check_unused_args(used, args, kwargs)
        return result

    def parse(self, format_string: str) -> Iterable[tuple[str, str | None, str | None, str | None]]:
        """``(literal, field_name, format_spec, conversion)`` tuples, as ``str.format`` parses."""
        return parse_format_string(format_string)

    def get_field(
        self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[Any, int | str]:
        """The object *field_name* refers to and the key of its first part (checked)."""
        first, steps = split_field_name(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, step in steps:
            if is_blocked_step(is_attribute, step):
                raise AccessViolationError(f"format string accesses '{step}', which is disallowed")
            obj = getattr(obj, str(step)) if is_attribute else obj[step]
        return obj, first

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """``args[key]`` for an integer *key*, else ``kwargs[key]``."""
        return args[key] if isinstance(key, int) else kwargs[key]

    def check_unused_args(
        self, used_args: set[int | str], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        """Hook for subclasses: raise if some arguments were not used (default: no check)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        """``format(value, format_spec)``."""
        return format(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        """Apply a ``!s``, ``!r`` or ``!a`` conversion."""
        if conversion is None:
            return value
        if conversion == "s":
            return str(value)
        if conversion == "r":
            return repr(value)
        if conversion == "a":
            return ascii(value)
        raise ValueError(f"Unknown conversion specifier {conversion!s}")

    def _render(
        self,
        format_string: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        used: set[int | str],
        depth: int,
        auto_index: int | None,
    ) -> tuple[str, int | None]:
        if depth < 0:
            raise ValueError("Max string recursion exceeded")
        parts = []
        for literal, field_name, format_spec, conversion in self.parse(format_string):
            parts.append(literal)
            if field_name is None:
                continue
            field_name, auto_index = _numbered(field_name, auto_index)
            obj, key = self.get_field(field_name, args, kwargs)
            used.add(key)
            obj = self.convert_field(obj, conversion)
            spec, auto_index = self._render(
                format_spec or "", args, kwargs, used, depth - 1, auto_index
            )
            parts.append(self.format_field(obj, spec))
        return "".join(parts), auto_index


def _numbered(field_name: str, auto_index: int | None) -> tuple[str, int | None]:
    """*field_name* with automatic numbering (``{}``) resolved, as ``string.Formatter`` does."""
    if field_name == "":
        if auto_index is None:
            raise ValueError(_SWITCH_TO_AUTOMATIC)
        return str(auto_index), auto_index + 1
    if field_name.isdigit():
        if auto_index:
            raise ValueError(_SWITCH_TO_AUTOMATIC)
        return field_name, None
    return field_name, auto_index


_SWITCH_TO_AUTOMATIC = "cannot switch from manual field specification to automatic field numbering"
