"""Reading settings from environment variables, n8n style.

Every variable ``NAME`` may instead be given as ``NAME_FILE``, the path of a
file holding the value (stripped). When both are set, the plain ``NAME`` wins,
as in n8n. Problems are collected rather than raised one by one, so that a
user sees every bad setting at once: call :meth:`EnvReader.check` at the end.

A boolean is one of ``true``/``false``, ``1``/``0``, ``yes``/``no`` or
``on``/``off``, in any case (:func:`parse_bool`, used for every boolean setting).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from .config_error import ConfigError, ConfigIssue

__all__ = ["BOOLEAN_WORDS", "ConfigError", "EnvReader", "parse_bool"]

#: The words a boolean setting may be, in lower case.
BOOLEAN_WORDS: Mapping[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
}

N = TypeVar("N", int, float)
T = TypeVar("T")


class EnvReader:
    """Typed access to an environment mapping that records every problem it meets."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.issues: list[ConfigIssue] = []

    @property
    def problems(self) -> list[str]:
        """Every problem met so far, one line each."""
        return [str(issue) for issue in self.issues]

    def report(self, name: str, message: str) -> None:
        """Record a problem with the variable ``name``."""
        self.issues.append(ConfigIssue(key=name, message=message))

    def raw(self, name: str) -> str | None:
        """The value of ``name`` or of the file named by ``name_FILE``; None if neither is set."""
        if name in self._environ:
            return self._environ[name]
        path = self._environ.get(f"{name}_FILE")
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            self.report(f"{name}_FILE", f"cannot read {path!r}: {exc.strerror}")
            return None

    def string(self, name: str, default: str) -> str:
        """A string setting."""
        value = self.raw(name)
        return default if value is None else value

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer setting within ``[minimum, maximum]``."""
        number = self._parsed(name, int, "an integer")
        if number is None:
            return default
        return self._bounded(name, number, default, minimum, maximum)

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite, possibly fractional number setting within ``[minimum, maximum]``."""
        number = self._parsed(name, _finite_float, "a number")
        if number is None:
            return default
        return self._bounded(name, number, default, minimum, maximum)

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean (see :func:`parse_bool`)."""
        value = self._parsed(name, parse_bool, "true or false")
        return default if value is None else value

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices`` (any case; returned in lower case)."""
        value = self.raw(name)
        if value is None or value.strip() == "":
            return default
        lowered = value.strip().lower()
        if lowered not in choices:
            self.report(name, f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return lowered

    def check(self, *, source: str = "environment") -> None:
        """Raise :class:`ConfigError` listing every problem met so far."""
        if self.issues:
            raise ConfigError(self.issues, source=source)

    def _parsed(self, name: str, parse: Callable[[str], T], expected: str) -> T | None:
        """The set, non-blank value of ``name`` parsed; None (and a problem if bad) otherwise."""
        value = self.raw(name)
        if value is None or value.strip() == "":
            return None
        try:
            return parse(value.strip())
        except ValueError:
            self.report(name, f"expected {expected}, got {value!r}")
            return None

    def _bounded(self, name: str, number: N, default: N, minimum: N | None, maximum: N | None) -> N:
        if minimum is not None and number < minimum:
            self.report(name, f"must be at least {minimum}, got {number}")
            return default
        if maximum is not None and number > maximum:
            self.report(name, f"must be at most {maximum}, got {number}")
            return default
        return number


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def parse_bool(text: str) -> bool:
    """``text`` as a boolean: a word of :data:`BOOLEAN_WORDS`, any case, blanks around ignored.

    Raises :class:`ValueError` for anything else.
    """
    value = BOOLEAN_WORDS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"expected true or false, got {text!r}")
    return value
