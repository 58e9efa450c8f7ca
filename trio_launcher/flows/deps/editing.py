"""Editing what a module declares: packages added, packages removed (pure, no IO).

``install tinypkg==2`` on a module that declares ``tinypkg>=1`` replaces that
declaration; packages are matched by name (canonical for Python, exact for npm).
Specifiers are checked as a flow's ``metadata.deps`` is, each problem named at
``packages[n]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.utils import canonicalize_name

from ..document_fields import Problems
from ..errors import FlowRunnerError, InvalidFlow
from .declared import Declared, node_dependencies, python_requirements
from .lock import Language

__all__ = ["parse_packages", "with_packages", "without_packages"]


def parse_packages(language: Language, specs: Sequence[str]) -> Declared:
    """``specs`` (``tinypkg==2`` or ``tiny@^2``) read in ``language``.

    Raises:
        InvalidFlow: a specifier is refused (named at ``packages[n]``).
    """
    problems = Problems()
    declared: Declared | None
    if language == "python":
        declared = python_requirements(problems, ("packages",), list(specs))
    else:
        ranges = dict(_name_and_range(spec) for spec in specs)
        declared = node_dependencies(problems, ("packages",), ranges)
    if declared is None or problems.found:
        raise InvalidFlow(problems.found)
    return declared


def with_packages(declared: Declared, added: Declared) -> Declared:
    """``declared`` with ``added``: one of the same name is replaced, the others kept."""
    names = {item.name for item in added}
    kept = [item for item in declared if item.name not in names]
    return tuple([*kept, *added])


def without_packages(declared: Declared, names: Sequence[str]) -> Declared:
    """``declared`` without the packages ``names``.

    Raises:
        FlowRunnerError: a name the module does not declare.
    """
    declared_names = {item.name for item in declared}
    unknown = [name for name in names if not _spellings(name) & declared_names]
    if unknown:
        raise FlowRunnerError(f"the module declares no {', '.join(unknown)}")
    wanted = {spelling for name in names for spelling in _spellings(name)}
    return tuple(item for item in declared if item.name not in wanted)  # type: ignore[return-value]


def _spellings(name: str) -> set[str]:
    """``name`` as given (npm) and canonical (Python: ``TinyPkg`` is ``tinypkg``)."""
    return {name, canonicalize_name(name)}


def _name_and_range(spec: str) -> tuple[str, str]:
    """``name@range`` (``@scope/name@range``); no range: any version."""
    at = spec.find("@", 1)
    return (spec, "*") if at < 0 else (spec[:at], spec[at + 1 :])
