"""Reading settings from environment variables, n8n style.

Every variable ``NAME`` may instead be given as ``NAME_FILE``, the path of a
file holding the value (stripped). When both are set, the plain ``NAME`` wins,
as in n8n. Problems are collected rather than raised one by one, so that a
user sees every bad setting at once: call :meth:`EnvReader.check` at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

__all__ = ["ConfigError", "EnvReader"]

N = TypeVar("N", int, float)
T = TypeVar("T")


class ConfigError(ValueError):
    """One or more settings are invalid; ``problems`` names each variable or key."""

    def __init__(self, problems: list[str], *, source: str = "environment") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({source}):\n{lines}")


class EnvReader:
    """Typed access to an environment mapping that records every problem it meets."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

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
            self.problems.append(f"{name}_FILE: cannot read {path!r}: {exc.strerror}")
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
        """A (possibly fractional) number setting within ``[minimum, maximum]``."""
        number = self._parsed(name, float, "a number")
        if number is None:
            return default
        return self._bounded(name, number, default, minimum, maximum)

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean: ``true``/``1`` or ``false``/``0``, any case."""
        value = self._parsed(name, _parse_bool, "true or false")
        return default if value is None else value

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices`` (any case; returned in lower case)."""
        value = self.raw(name)
        if value is None or value.strip() == "":
            return default
        lowered = value.strip().lower()
        if lowered not in choices:
            self.problems.append(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
            return default
        return lowered

    def check(self, *, source: str = "environment") -> None:
        """Raise :class:`ConfigError` listing every problem met so far."""
        if self.problems:
            raise ConfigError(self.problems, source=source)

    def _parsed(self, name: str, parse: Callable[[str], T], expected: str) -> T | None:
        """The set, non-blank value of ``name`` parsed; None (and a problem if bad) otherwise."""
        value = self.raw(name)
        if value is None or value.strip() == "":
            return None
        try:
            return parse(value.strip())
        except ValueError:
            self.problems.append(f"{name}: expected {expected}, got {value!r}")
            return None

    def _bounded(self, name: str, number: N, default: N, minimum: N | None, maximum: N | None) -> N:
        if minimum is not None and number < minimum:
            self.problems.append(f"{name}: must be at least {minimum}, got {number}")
            return default
        if maximum is not None and number > maximum:
            self.problems.append(f"{name}: must be at most {maximum}, got {number}")
            return default
        return number


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)
