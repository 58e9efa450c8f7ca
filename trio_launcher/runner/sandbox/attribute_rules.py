"""Which names and attributes user code may use: one rule set for every check.

The static check (:mod:`trio_launcher.runner.sandbox.static_check`, on the AST of the
user's code), the guarded formatter (:mod:`trio_launcher.runner.sandbox.safe_format`,
on field names of format strings built at run time) and the module views
(:mod:`trio_launcher.runner.sandbox.runtime`) all ask this module, so that
``x.__class__``, ``"{0.__class__}"`` and ``("{0.__cl" + "ass__}")`` get the
same answer.

The attribute rule: every name that starts with ``_`` is refused, except the
dunders in :data:`ALLOWED_DUNDERS` (the data model's operators and a few
descriptive strings) and the public ``_``-prefixed API in
:data:`PUBLIC_UNDERSCORE_NAMES` (namedtuple's ``_asdict`` & co.).  Names in
:data:`BLOCKED_ATTRIBUTES` are refused even without a ``_`` (frame and code
object internals such as ``gi_frame`` or ``f_globals``).

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own parser; no stubs
import re

from trio_launcher.runner.code_node.user_code import FORMAT_HOOK

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Iterator

    #: ``(literal, field_name, format_spec, conversion)``, as ``str.format`` parses.
    FormatPart = tuple[str, str | None, str | None, str | None]

#: Names user code may not mention at all (in any role: load, store,
#: parameter, ``global``, import alias, class-body assignment).
BLOCKED_NAMES = frozenset(
    {
        "__loader__", "__builtins__", "__globals__", "__spec__", "__name__",
        # A class body setting ``__match_args__`` would let ``case C(x)`` read
        # any attribute in C, where no check sees the name.
        "__match_args__",
        # The hook the compiled code calls for ``x.format``: shadowing it is
        # pointless, but it is not user code's to redefine.
        FORMAT_HOOK,
    }
)  # fmt: skip

_INTROSPECTION_ATTRIBUTES = frozenset(
    {
        # frames
        "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace",
        # tracebacks
        "tb_frame", "tb_next",
        # generators, coroutines, async generators
        "gi_code", "gi_frame", "gi_yieldfrom",
        "cr_await", "cr_code", "cr_frame", "cr_origin",
        "ag_await", "ag_code", "ag_frame",
        # code objects and closures
        "co_code", "co_consts", "co_names", "cell_contents",
    }
)  # fmt: skip

# Refused anyway by the ``_`` rule; listed so that messages and docs can name
# the ones that matter.
_DUNDER_ATTRIBUTES = frozenset(
    {
        "__annotations__", "__base__", "__bases__", "__builtins__", "__cause__",
        "__class__", "__closure__", "__code__", "__context__", "__defaults__",
        "__delattr__", "__dict__", "__func__", "__getattribute__", "__getstate__",
        "__globals__", "__import__", "__init_subclass__", "__kwdefaults__",
        "__loader__", "__match_args__", "__mro__", "__objclass__", "__reduce__",
        "__reduce_ex__", "__self__", "__setattr__", "__spec__", "__subclasses__",
        "__subclasshook__", "__traceback__", "__wrapped__",
    }
)  # fmt: skip

#: Attributes user code may not read or write, whatever the receiver.
BLOCKED_ATTRIBUTES = _INTROSPECTION_ATTRIBUTES | _DUNDER_ATTRIBUTES

#: Dunders user code may read: calling them is the same as using the
#: operator or builtin they implement, or they are plain descriptive values.
ALLOWED_DUNDERS = frozenset(
    {
        "__init__", "__post_init__", "__name__", "__qualname__", "__doc__",
        "__module__", "__version__", "__all__", "__file__",
        "__len__", "__length_hint__", "__iter__", "__next__", "__reversed__",
        "__contains__", "__getitem__", "__setitem__", "__delitem__", "__missing__",
        "__enter__", "__exit__", "__aenter__", "__aexit__", "__aiter__", "__anext__",
        "__str__", "__repr__", "__format__", "__bool__", "__hash__",
        "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
        "__add__", "__sub__", "__mul__", "__matmul__", "__truediv__", "__floordiv__",
        "__mod__", "__divmod__", "__pow__", "__lshift__", "__rshift__",
        "__and__", "__or__", "__xor__", "__neg__", "__pos__", "__abs__", "__invert__",
        "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__",
        "__iadd__", "__isub__", "__imul__",
        "__int__", "__float__", "__complex__", "__index__", "__round__",
        "__trunc__", "__floor__", "__ceil__",
    }
)  # fmt: skip

#: Documented public API whose names start with ``_`` (``collections.namedtuple``).
PUBLIC_UNDERSCORE_NAMES = frozenset({"_asdict", "_replace", "_make", "_fields", "_field_defaults"})

_MANGLED = re.compile(r"_[A-Za-z0-9]\w*?__\w+")


def is_dunder(name: str) -> bool:
    """Whether *name* has the ``__x__`` form."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def is_mangled(name: str) -> bool:
    """Whether *name* looks like a name-mangled private attribute (``_X__y``)."""
    return _MANGLED.fullmatch(name) is not None and not name.endswith("__")


def attribute_problem(name: str, *, own_private: bool = False) -> str | None:
    """Why user code may not access attribute *name*, or None if it may.

    *own_private* allows ``_x`` (not dunders, not ``_X__y``): the static
    check passes it for ``self._x`` inside a method of the user's own class.
    """
    if name in BLOCKED_ATTRIBUTES:
        return f"Access to attribute '{name}' is disallowed"
    if not name.startswith("_") or name in ALLOWED_DUNDERS or name in PUBLIC_UNDERSCORE_NAMES:
        return None
    if is_mangled(name):
        return f"Access to name-mangled attribute '{name}' is disallowed"
    if is_dunder(name):
        return f"Access to attribute '{name}' is disallowed"
    if own_private:
        return None
    return f"Access to private attribute '{name}' is disallowed"


def is_blocked_attribute(name: str) -> bool:
    """Whether user code may not access attribute *name* (of any object)."""
    return attribute_problem(name) is not None


def is_blocked_key(key: object) -> bool:
    """Whether a ``[key]`` step of a format field may not be taken."""
    return isinstance(key, str) and (is_dunder(key) or key in BLOCKED_NAMES)


def parse_format_string(text: str) -> Iterator[FormatPart]:
    """The parts of format string *text*, parsed by ``str.format``'s own parser."""
    return _string.formatter_parser(text)  # type: ignore[no-any-return]


def split_field_name(field: str) -> tuple[int | str, Iterator[tuple[bool, int | str]]]:
    """``(first, steps)`` of a field name; each step is ``(is_attribute, name_or_key)``."""
    return _string.formatter_field_name_split(field)  # type: ignore[no-any-return]


def format_string_problems(text: str) -> Iterator[str]:
    """The disallowed attributes and keys format string *text* steps into, in order.

    Parses exactly as ``str.format`` does (same C parser, nested fields in
    format specs included) and stops quietly at the first syntax error:
    ``str.format`` stops there too, after the fields already yielded.
    """
    try:
        for _literal, field, spec, _conversion in parse_format_string(text):
            if field is None:
                continue
            yield from _field_problems(field)
            if spec and "{" in spec:
                yield from format_string_problems(spec)
    except ValueError:
        return


def _field_problems(field: str) -> Iterator[str]:
    _first, steps = split_field_name(field)
    for is_attribute, step in steps:
        if is_blocked_step(is_attribute, step):
            yield str(step)


def is_blocked_step(is_attribute: bool, step: int | str) -> bool:
    """Whether one ``.name`` (*is_attribute*) or ``[key]`` step of a field is refused."""
    if is_attribute:
        return is_blocked_attribute(str(step))
    return is_blocked_key(step)
