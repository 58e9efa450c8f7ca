"""What a module declares it depends on, checked before any installer sees it.

A Python module lists PEP 508 requirement specifiers (``["requests>=2,<3"]``); a
Node.js module maps package names to version ranges, as ``package.json``'s
``dependencies`` does (``{"left-pad": "^1.3.0"}``). Each is parsed, and what an
installer will get is rebuilt from the parsed parts: a package name and a version
constraint, never an option (``--index-url``), a URL, a path, a git reference or a
tarball, which are refused with the reason. The checks follow
:mod:`~trio_launcher.flows.document_fields`: a problem is recorded at the field's
path and the check returns None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

import attrs
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..document_fields import FieldPath, Problems, show

__all__ = [
    "MAX_DEPENDENCIES",
    "NODE_NAME_PATTERN",
    "Declared",
    "NodeDependency",
    "PythonRequirement",
    "declared_document",
    "node_dependencies",
    "python_requirements",
]

#: The most dependencies one module may declare.
MAX_DEPENDENCIES = 200
#: The longest requirement specifier, range or package name taken.
_MAX_LENGTH = 300


@attrs.frozen
class PythonRequirement:
    """A Python dependency: its canonical name and the specifier an installer gets."""

    name: str
    spec: str


@attrs.frozen
class NodeDependency:
    """A Node.js dependency: a package name and a semver range (or a dist-tag)."""

    name: str
    range: str

    @property
    def spec(self) -> str:
        """``name@range``, as ``npm install`` takes it."""
        return f"{self.name}@{self.range}"


_Declared = TypeVar("_Declared", "PythonRequirement", "NodeDependency")
#: What a module declares: requirements of one language.
Declared = tuple[PythonRequirement, ...] | tuple[NodeDependency, ...]


def declared_document(declared: Declared) -> list[str] | dict[str, str]:
    """The ``metadata.deps`` that declares ``declared``: a list (Python) or an object (Node)."""
    if declared and isinstance(declared[0], NodeDependency):
        return {d.name: d.range for d in declared if isinstance(d, NodeDependency)}
    return [d.spec for d in declared]


def python_requirements(
    problems: Problems, path: FieldPath, value: object, module: str | None = None
) -> tuple[PythonRequirement, ...] | None:
    """A list of requirement specifiers (``[]`` if absent), each checked."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(path, f"a list of requirement specifiers is needed, not {show(value)}", module)
        return None
    if _too_many(problems, path, len(value), module):
        return None
    return _all_or_none(
        [_python(problems, (*path, n), item, module) for n, item in enumerate(value)]
    )


def node_dependencies(
    problems: Problems, path: FieldPath, value: object, module: str | None = None
) -> tuple[NodeDependency, ...] | None:
    """An object of package name -> range (``{}`` if absent), each checked."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        needed = 'an object of package name -> version range ({"left-pad": "^1.3.0"})'
        problems.add(path, f"{needed} is needed, not {show(value)}", module)
        return None
    if _too_many(problems, path, len(value), module):
        return None
    return _all_or_none([_node(problems, (*path, str(k)), k, v, module) for k, v in value.items()])


def _too_many(problems: Problems, path: FieldPath, count: int, module: str | None) -> bool:
    if count > MAX_DEPENDENCIES:
        problems.add(path, f"at most {MAX_DEPENDENCIES} dependencies, not {count}", module)
    return count > MAX_DEPENDENCIES


def _all_or_none(found: list[_Declared | None]) -> tuple[_Declared, ...] | None:
    """Every dependency if each was right, else None (their problems are recorded)."""
    kept = [item for item in found if item is not None]
    return tuple(kept) if len(kept) == len(found) else None


def _python(
    problems: Problems, path: FieldPath, value: object, module: str | None
) -> PythonRequirement | None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_LENGTH:
        why = f"a requirement specifier of at most {_MAX_LENGTH} characters is needed"
        problems.add(path, f"{why} (requests>=2,<3), not {show(value)}", module)
        return None
    try:
        requirement = Requirement(value)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        problems.add(path, f"not a requirement specifier ({reason}): {show(value)}", module)
        return None
    if requirement.url is not None:
        why = "a direct reference (name @ URL) is refused: packages come from the index"
        problems.add(path, f"{why}: {show(value)}", module)
        return None
    return PythonRequirement(canonicalize_name(requirement.name), str(requirement))


# A name as npm takes it for a new package (lower case, URL-safe, optionally
# @scope/), and not starting with "-", ".", "_" (so never read as an option).
#: The pattern of npm names (a lock may hold older, upper-case ones: see node_packages).
NODE_NAME_PATTERN = r"(?:@[a-z0-9~][a-z0-9._~-]*/)?[a-z0-9~][a-z0-9._~-]*"
_NODE_NAME = re.compile(NODE_NAME_PATTERN)
# node-semver's range grammar (the BNF of its documentation), read a comparator at a
# time: one regular expression for the whole range would backtrack without end.
_NR = r"(?:0|[1-9][0-9]*)"
_XR = rf"(?:[xX*]|{_NR})"
_PARTS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_PARTIAL = re.compile(rf"v?{_XR}(?:\.{_XR}(?:\.{_XR}(?:-{_PARTS})?(?:\+{_PARTS})?)?)?")
_OPERATOR = re.compile(r"(<=|>=|<|>|=|~|\^)\s+")  # ">= 1.2" is read as ">=1.2"
_COMPARATOR = re.compile(rf"(?:<=|>=|<|>|=|~|\^)?{_PARTIAL.pattern}")
# A dist-tag (latest, next, beta): a letter first, and no "/" or ":" (no URL, no path).
_DIST_TAG = re.compile(r"[a-z][a-z0-9._-]{0,63}")


def _node(
    problems: Problems, path: FieldPath, name: object, value: object, module: str | None
) -> NodeDependency | None:
    if not isinstance(name, str) or len(name) > 214 or not _NODE_NAME.fullmatch(name):
        why = "not an npm package name (lower case, URL-safe, @scope/name allowed)"
        problems.add(path, f"{why}: {show(name)}", module)
        return None
    if not isinstance(value, str) or len(value) > _MAX_LENGTH:
        problems.add(path, f"a version range is needed (^1.3.0), not {show(value)}", module)
        return None
    if not (_is_range(value) or _DIST_TAG.fullmatch(value)):
        why = "a version range or a dist-tag is needed; URLs, paths, git and file: are refused"
        problems.add(path, f"{why}: {show(value)}", module)
        return None
    return NodeDependency(name, " ".join(value.split()) or "*")


def _is_range(value: str) -> bool:
    """Whether ``value`` is a range of node-semver: comparator sets joined by ``||``."""
    return all(_is_comparator_set(part.split()) for part in value.split("||"))


def _is_comparator_set(words: list[str]) -> bool:
    """``a - b``, or comparators (``>=1.2``, ``^2``, ``1.x``), or nothing (any version)."""
    if len(words) == 3 and words[1] == "-":
        return all(_PARTIAL.fullmatch(word) for word in (words[0], words[2]))
    joined = _OPERATOR.sub(r"\1", " ".join(words))
    return all(_COMPARATOR.fullmatch(word) for word in joined.split())
