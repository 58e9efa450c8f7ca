"""The fields of a flow document, one check each: a check returns the field's value, or
records a :class:`~.errors.Problem` at the field's path and returns None.

A field given as ``null`` is taken as absent; an absent optional field gets its default.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping

from trio_launcher.flows.errors import Problem

__all__ = [
    "FieldPath",
    "Problems",
    "canonical_json",
    "flow_id",
    "format_path",
    "is_json",
    "json_array",
    "json_object",
    "limit",
    "listing",
    "name",
    "port_names",
    "revision",
    "seconds",
    "show",
    "text",
]


def canonical_json(value: object) -> str:
    """``value`` as JSON text with sorted keys: equal values give equal text.

    Raises TypeError, ValueError or RecursionError for what is not JSON
    (including NaN and infinities).
    """
    return json.dumps(value, sort_keys=True, allow_nan=False)


#: Where a field is: object keys and array indexes from the document's root.
FieldPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_FLOW_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_SHOWN = 40


def format_path(path: FieldPath) -> str:
    """``("connections", 0, "tgt")`` as ``connections[0].tgt``; odd keys as ``["a.b"]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


class Problems:
    """The problems found so far in one document, in the order found."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, path: FieldPath, message: str, module: str | None = None) -> None:
        """Record that the field at ``path`` is wrong, and why."""
        self.found.append(Problem(format_path(path), message, module))


def show(value: object) -> str:
    """``value`` as (at most about 40 characters of) JSON, for a message."""
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        shown = f"a Python {type(value).__name__}"
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."


def listing(names: Iterable[str]) -> str:
    """``names`` for a message: ``a, b, c``, or ``none``."""
    return ", ".join(names) or "none"


def is_json(value: object) -> bool:
    """Whether ``value`` is a JSON value (no NaN, no infinities, nothing Python-only)."""
    try:
        canonical_json(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def json_object(
    problems: Problems,
    path: FieldPath,
    value: object,
    module: str | None = None,
    *,
    required: bool = False,
) -> dict[str, object] | None:
    """An object (``{}`` if absent and not ``required``); keys that are not strings dropped."""
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        what = "a JSON object is needed here" if path else "a flow document must be a JSON object"
        problems.add(path, f"{what}, not {show(value)}", module)
        return None
    found = {key: item for key, item in value.items() if isinstance(key, str)}
    if len(found) != len(value):
        problems.add(path, "an object's keys are strings", module)
    return found


def json_array(problems: Problems, path: FieldPath, value: object) -> list[object]:
    """An array (``[]`` if absent or not an array, which is a problem)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        problems.add(path, f"a JSON array is needed here, not {show(value)}")
        return []
    return list(value)


def name(
    problems: Problems, path: FieldPath, value: object, module: str | None = None
) -> str | None:
    """A required non-empty string."""
    if isinstance(value, str) and value:
        return value
    if value is None:
        problems.add(path, "missing: a non-empty string is needed here", module)
    else:
        problems.add(path, f"a non-empty string is needed here, not {show(value)}", module)
    return None


def text(problems: Problems, path: FieldPath, value: object, module: str) -> str | None:
    """A string, maybe empty (a module's source)."""
    if isinstance(value, str):
        return value
    problems.add(path, f"source text (a string) is needed here, not {show(value)}", module)
    return None


def port_names(
    problems: Problems,
    path: FieldPath,
    value: object,
    module: str,
    default: tuple[str, ...],
) -> tuple[str, ...] | None:
    """A list of distinct non-empty port names."""
    if value is None:
        return default
    if not isinstance(value, list | tuple) or not all(
        isinstance(port, str) and port for port in value
    ):
        problems.add(path, f"a list of port names (strings) is needed, not {show(value)}", module)
        return None
    repeated = sorted({port for port in value if value.count(port) > 1})
    if repeated:
        problems.add(path, f"a port is named more than once: {', '.join(repeated)}", module)
        return None
    return tuple(value)


def seconds(
    problems: Problems, path: FieldPath, value: object, module: str, default: float
) -> float | None:
    """A positive, finite number of seconds."""
    if value is None:
        return default
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and (isinstance(value, int) or math.isfinite(value))
    ):
        return value
    problems.add(path, f"a number of seconds > 0 is needed, not {show(value)}", module)
    return None


def limit(problems: Problems, path: FieldPath, value: object, default: int) -> int | None:
    """An edge's bound: a whole number >= 1."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    problems.add(path, f"a whole number >= 1 is needed, not {show(value)}")
    return None


def revision(problems: Problems, path: FieldPath, value: object) -> int | None:
    """A flow's revision: a whole number >= 0, 0 if absent."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    problems.add(path, f"a revision is a whole number >= 0, not {show(value)}")
    return None


def flow_id(
    problems: Problems, root: Mapping[str, object], properties: Mapping[str, object]
) -> str | None:
    """The flow's id: ``id``, else ``properties.id``, else ``properties.name``."""
    for path, value in (
        (("id",), root.get("id")),
        (("properties", "id"), properties.get("id")),
        (("properties", "name"), properties.get("name")),
    ):
        if value is None:
            continue
        if isinstance(value, str) and _FLOW_ID.fullmatch(value):
            return value
        message = "a flow id is 1 to 128 of A-Z a-z 0-9 _ . - (it is part of paths and URLs)"
        problems.add(path, f"{message}, not {show(value)}")
        return None
    problems.add(("id",), "the flow has no id: give id (or properties.id, or properties.name)")
    return None
