"""Read a YAML node tree with line numbers, collecting every problem at once.

The configuration builder walks the nodes of :func:`yaml.compose` instead of
plain Python values, so that each problem can name the file, the line and the
dotted key it is about.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped]

from ..config_error import ConfigError, ConfigIssue
from ..envconfig import parse_bool

__all__ = ["Fields", "NodeReader", "file_error"]

T = TypeVar("T")
#: Convert a node to a value or raise :class:`ValueError` with a message.
Converter = Callable[[Any], T]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def compose(text: str, file: str) -> Any:
    """Parse ``text`` into a node tree (None for an empty document)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise file_error(file, f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise file_error(file, f"invalid YAML: {exc}") from None


def file_error(file: str, message: str, *, line: int | None = None) -> ConfigError:
    """The error for a file that cannot be read as a whole (no key to blame)."""
    return ConfigError([ConfigIssue(file=file, line=line, message=message)], source=None)


def line_of(node: Any) -> int | None:
    """1-based line where ``node`` starts."""
    mark = getattr(node, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


class NodeReader:
    """Converts nodes to values and records an issue for each bad one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ConfigIssue] = []

    def error(self, node: Any, key: str, message: str) -> None:
        """Record a problem about ``key`` at ``node``."""
        mark = getattr(node, "start_mark", None)
        column = None if mark is None else int(mark.column) + 1
        issue = ConfigIssue(
            file=self.file, line=line_of(node), key=key, message=message, column=column
        )
        self.issues.append(issue)

    def fields(self, node: Any, key: str) -> Fields | None:
        """The entries of a mapping node, or None (and an issue) if it is not one."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, key, f"expected a mapping, got {describe(node)}")
            return None
        return Fields(self, node, key)

    def convert(self, node: Any, key: str, converter: Converter[T], default: T) -> T:
        """``converter(node)``, or ``default`` (and an issue) if it raises ValueError."""
        try:
            return converter(node)
        except ValueError as exc:
            self.error(node, key, str(exc))
            return default


class Fields:
    """The keys of one mapping; :meth:`finish` reports those nobody asked for."""

    def __init__(self, reader: NodeReader, node: Any, key: str) -> None:
        self._reader = reader
        self.node = node
        self.key = key
        self._entries: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            name = key_name(key_node)
            if name is None:
                reader.error(key_node, key, f"keys must be names, got {describe(key_node)}")
            elif name in self._entries:
                reader.error(key_node, self.path(name), "duplicate key")
            else:
                self._entries[name] = (key_node, value_node)

    def path(self, name: str) -> str:
        """Dotted key of entry ``name``."""
        return f"{self.key}.{name}" if self.key else name

    def names(self) -> list[str]:
        """Names of the entries not taken yet, in file order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, Any, Any]]:
        """Take every entry left: ``(name, key node, value node)`` in file order."""
        entries = [(name, key, value) for name, (key, value) in self._entries.items()]
        self._entries.clear()
        return entries

    def take(self, *names: str) -> tuple[str, Any] | None:
        """Remove and return ``(dotted key, value node)`` of the first of ``names`` present.

        The other names are aliases: giving two of them is an issue.
        """
        present = [name for name in names if name in self._entries]
        for extra in present[1:]:
            key_node, _ = self._entries.pop(extra)
            self._reader.error(key_node, self.path(extra), f"same setting as {present[0]!r}")
        if not present:
            return None
        _, value = self._entries.pop(present[0])
        return self.path(present[0]), value

    def read(self, names: str | tuple[str, ...], converter: Converter[T], default: T) -> T:
        """Take the entry, convert it, fall back to ``default`` if absent or bad."""
        found = self.take(*((names,) if isinstance(names, str) else names))
        if found is None:
            return default
        key, node = found
        return self._reader.convert(node, key, converter, default)

    def finish(self) -> None:
        """Report every entry left as an unknown key."""
        for name, (key_node, _) in self._entries.items():
            self._reader.error(key_node, self.path(name), "unknown key")
        self._entries.clear()


def items(node: Any) -> list[Any] | None:
    """The item nodes of a list node; None if ``node`` is not a list."""
    return list(node.value) if isinstance(node, yaml.SequenceNode) else None


def pairs(node: Any) -> list[tuple[Any, Any]] | None:
    """The ``(key, value)`` nodes of a mapping node; None if ``node`` is not a mapping."""
    return list(node.value) if isinstance(node, yaml.MappingNode) else None


def key_name(node: Any) -> str | None:
    """A mapping key as written (``on:`` is the name "on", not True); None if not a scalar."""
    if isinstance(node, yaml.ScalarNode) and node.value:
        return str(node.value)
    return None


def describe(node: Any) -> str:
    """Short description of a node for messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node is None:
        return "nothing"
    return repr(scalar(node)) if node.value != "" else "an empty value"


def scalar(node: Any) -> Any:
    """The Python value of a scalar node (str, int, float, bool or None)."""
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError(f"expected a single value, got {describe(node)}")
    return yaml.constructor.SafeConstructor().construct_object(node)


def scalar_or_none(node: Any) -> Any:
    """The value of a scalar node; a list or mapping node is returned as is (never None)."""
    return scalar(node) if isinstance(node, yaml.ScalarNode) else node


def string(node: Any) -> str:
    """A non-empty string (numbers are not silently turned into strings)."""
    value = scalar(node)
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {describe(node)}")
    return value


def text(node: Any) -> str:
    """Any scalar as a string (for environment variables)."""
    value = scalar(node)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def boolean(node: Any) -> bool:
    """A boolean, read as every boolean setting is (``true``, ``1``, ``"on"``...)."""
    value = scalar(node)
    if isinstance(value, bool):
        return value
    try:
        return parse_bool(str(value) if isinstance(value, str | int) else "")
    except ValueError:
        raise ValueError(f"expected true or false, got {describe(node)}") from None


def number(low: float = 0.0, high: float | None = None) -> Converter[float]:
    """A number within ``[low, high]``."""

    def convert(node: Any) -> float:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {describe(node)}")
        _check_range(float(value), low, high)
        return float(value)

    return convert


def integer(low: int = 0) -> Converter[int]:
    """A whole number >= ``low``."""

    def convert(node: Any) -> int:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {describe(node)}")
        _check_range(value, low, None)
        return value

    return convert


def duration(low: float = 0.0, scale: float = 1.0) -> Converter[float]:
    """Seconds as a number (times ``scale``) or a string like ``"500ms"``, ``"2m"``, ``"1h"``."""

    def convert(node: Any) -> float:
        value = scalar(node)
        if isinstance(value, bool):
            raise ValueError(f"expected a duration, got {describe(node)}")
        if isinstance(value, int | float):
            seconds = float(value) * scale
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            seconds = float(match[1]) * _DURATION_UNITS[(match[2] or "s").lower()]
        else:
            raise ValueError(
                f"expected a duration such as 30, '500ms', '2m' or '1h', got {describe(node)}"
            )
        _check_range(seconds, low, None)
        return seconds

    return convert


def size(node: Any) -> int:
    """Bytes as a number or a string like ``"512KB"``, ``"200MB"``, ``"1.5GiB"`` (units of 1024)."""
    value = scalar(node)
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {describe(node)}")
    if isinstance(value, int | float):
        result = int(value)
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        unit = (match[2] or "").lower()[:1]
        result = int(float(match[1]) * _SIZE_UNITS[unit])
    else:
        raise ValueError(
            f"expected a size such as 1048576, '512KB' or '1.5GB', got {describe(node)}"
        )
    _check_range(result, 1, None)
    return result


def choice(*options: str) -> Converter[str]:
    """One of ``options``."""

    def convert(node: Any) -> str:
        value = scalar(node)
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {describe(node)}")
        return str(value)

    return convert


def string_list(node: Any) -> tuple[str, ...]:
    """A list of strings (a single string is a list of one)."""
    if isinstance(node, yaml.SequenceNode):
        return tuple(string(item) for item in node.value)
    return (string(node),)


def words(node: Any) -> tuple[str, ...]:
    """A command line: a list of strings, or one string split like a shell does."""
    if isinstance(node, yaml.SequenceNode):
        return tuple(text(item) for item in node.value)
    value = string(node)
    try:
        return tuple(shlex.split(value))
    except ValueError as exc:
        raise ValueError(f"cannot split {value!r}: {exc}") from None


def _check_range(value: float, low: float, high: float | None) -> None:
    if value < low:
        raise ValueError(f"must be at least {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high:g}, got {value:g}")
