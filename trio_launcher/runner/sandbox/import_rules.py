"""Which modules user code may import: one rule set shared by both checks.

The static analyser (:mod:`trio_launcher.runner.sandbox.static_check`, in the runner) and
the checking importer (:mod:`trio_launcher.runner.sandbox.runtime`, in the
task process) must agree on every decision, so both ask :class:`ImportRules`.

A module counts as *standard library* when its top-level package is in
:data:`sys.stdlib_module_names`; everything else is *external*.  Each side
has its own allowlist: a listed name allows that module and all of its
submodules, and ``*`` allows everything on that side.

This module runs inside the pre-started worker, so it imports nothing beyond
:mod:`sys` (no ``typing`` at run time, no ``attrs``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # `typing` costs ~2 MB; this module is imported by the worker
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: Wire spelling of "allow everything".
ALLOW_ALL = "*"


def top_level(module: str) -> str:
    """Return the top-level package of a dotted module name."""
    return module.partition(".")[0]


def is_stdlib(module: str) -> bool:
    """Whether *module* belongs to the standard library (by its top level)."""
    return top_level(module) in sys.stdlib_module_names


class ModuleAllowlist:
    """An allowlist of modules: explicit names, or everything (``*``)."""

    __slots__ = ("allow_all", "names")

    def __init__(self, names: Iterable[str] = (), *, allow_all: bool = False) -> None:
        self.names = frozenset(names)
        self.allow_all = allow_all

    def allows(self, module: str) -> bool:
        """Whether *module* is listed, directly or through a parent package."""
        if self.allow_all:
            return True
        parts = module.split(".")
        return any(".".join(parts[:end]) in self.names for end in range(1, len(parts) + 1))

    def describe(self) -> str:
        """Human-readable list for error messages (``none`` when empty)."""
        if self.allow_all:
            return ALLOW_ALL
        return ", ".join(sorted(self.names)) or "none"

    def to_wire(self) -> str | list[str]:
        """JSON-friendly form: ``"*"`` or a sorted list of names."""
        return ALLOW_ALL if self.allow_all else sorted(self.names)

    @classmethod
    def from_wire(cls, value: Any) -> ModuleAllowlist:
        """Inverse of :meth:`to_wire`."""
        if value == ALLOW_ALL:
            return cls(allow_all=True)
        return cls(str(name) for name in value)


class ImportRules:
    """The import policy: a stdlib allowlist and an external allowlist."""

    __slots__ = ("external", "stdlib")

    def __init__(self, stdlib: ModuleAllowlist, external: ModuleAllowlist) -> None:
        self.stdlib = stdlib
        self.external = external

    @property
    def allows_everything(self) -> bool:
        """True when both lists are ``*`` (the sandbox then skips analysis)."""
        return self.stdlib.allow_all and self.external.allow_all

    def allows(self, module: str) -> bool:
        """Whether importing *module* (a dotted name) is allowed."""
        side = self.stdlib if is_stdlib(module) else self.external
        return side.allows(module)

    def import_problem(self, name: str, fromlist: Iterable[str] = ()) -> str | None:
        """Why ``__import__(name, fromlist=fromlist)`` is refused, or None.

        ``import a.b`` binds the top-level ``a``, so ``a`` itself must be
        allowed.  ``from a.b import c`` binds only ``c``: it is allowed when
        ``a.b`` is allowed, or when every listed ``a.b.c`` is (an allowlisted
        submodule imported through a parent that is not listed).
        """
        targets = [str(item) for item in fromlist]
        if not targets:
            return None if self.allows(top_level(name)) else self.refusal(name)
        if self.allows(name):
            return None
        if "*" not in targets and all(self.allows(f"{name}.{item}") for item in targets):
            return None
        return self.refusal(name)

    def refusal(self, module: str) -> str:
        """The message shown when *module* may not be imported."""
        top = top_level(module)
        if is_stdlib(top):
            return (
                f"Import of standard library module '{top}' is disallowed. "
                f"Allowed stdlib modules: {self.stdlib.describe()}"
            )
        return (
            f"Import of external package '{top}' is disallowed. "
            f"Allowed external packages: {self.external.describe()}"
        )

    def to_wire(self) -> dict[str, Any]:
        """JSON-friendly form (sent to the worker on its command line)."""
        return {"stdlib": self.stdlib.to_wire(), "external": self.external.to_wire()}

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> ImportRules:
        """Inverse of :meth:`to_wire`."""
        return cls(
            ModuleAllowlist.from_wire(value["stdlib"]),
            ModuleAllowlist.from_wire(value["external"]),
        )
