"""Node.js packages: resolving ranges to npm's lock, installing a lock's ``node_modules``.

npm resolves (``npm install --package-lock-only``) and installs (``npm ci``) from
the registry the machine's npm configuration names, so a mirror or a private
registry works. Install scripts never run (``--ignore-scripts``): installing a
package runs none of its code. A lock may hold only packages that came from a
registry with an integrity hash: a dependency of a dependency that points at
git, a path or a tarball is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from .declared import NODE_NAME_PATTERN, NodeDependency
from .installer import InstallerFailed, run_installer
from .lock import Lock, LockedPackage

__all__ = ["install_node_lock", "lock_node", "package_json"]

_NPM_QUIET = ("--ignore-scripts", "--no-audit", "--no-fund", "--update-notifier=false")
_PACKAGE_NAME = "trio-launcher-flow-module"
#: npm's name rule, with the upper case that packages published before it may have.
_NAME = re.compile(NODE_NAME_PATTERN, re.IGNORECASE)
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_INTEGRITY = re.compile(r"(?:sha1|sha256|sha384|sha512)-[A-Za-z0-9+/]+=*")


def package_json(dependencies: Mapping[str, str]) -> bytes:
    """The ``package.json`` of a module's directory: its dependencies, nothing else."""
    document = {
        "name": _PACKAGE_NAME,
        "version": "0.0.0",
        "private": True,
        "dependencies": dict(sorted(dependencies.items())),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


async def lock_node(
    dependencies: Sequence[NodeDependency],
    *,
    npm: str,
    work: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
) -> Lock:
    """Resolve ``dependencies`` with npm to its ``package-lock.json``.

    ``work`` is an empty directory for npm's files. Raises
    :class:`~.installer.InstallerFailed` with npm's error, or if the lock holds
    a package that did not come from a registry.
    """
    (work / "package.json").write_bytes(package_json({d.name: d.range for d in dependencies}))
    command = [npm, "install", "--package-lock-only", *_NPM_QUIET]
    await run_installer(command, env=env, cwd=work, on_line=on_line)
    lockfile = (work / "package-lock.json").read_text()
    packages = _locked_packages(orjson.loads(lockfile))
    requires = tuple(d.spec for d in dependencies)
    return Lock("node", requires, packages, lockfile)


async def install_node_lock(
    lock: Lock,
    target: Path,
    *,
    npm: str,
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Install ``lock`` with ``npm ci`` into the empty directory ``target``."""
    document: dict[str, Any] = orjson.loads(lock.lockfile)
    root = document.get("packages", {}).get("", {})
    (target / "package.json").write_bytes(package_json(root.get("dependencies", {})))
    (target / "package-lock.json").write_text(lock.lockfile)
    command = [npm, "ci", *_NPM_QUIET]
    await run_installer(command, env=env, cwd=target, on_line=on_line)


def _checked(name: str, version: object, integrity: object) -> LockedPackage:
    """A locked package, if its name, version and integrity are what npm would write."""
    if not _NAME.fullmatch(name):
        raise InstallerFailed(f"npm locked a package named {name!r}")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise InstallerFailed(f"npm locked {name} at version {version!r}")
    if not isinstance(integrity, str) or not _INTEGRITY.fullmatch(integrity):
        raise InstallerFailed(f"npm locked {name} with integrity {integrity!r}")
    return LockedPackage(name, version, (integrity,))


def _locked_packages(document: Mapping[str, Any]) -> tuple[LockedPackage, ...]:
    packages = []
    for where, entry in document.get("packages", {}).items():
        if not where:
            continue
        name = entry.get("name") or where.rpartition("node_modules/")[2]
        # no "resolved": npm was told to leave it out, and fetches name@version from its registry
        resolved, integrity = entry.get("resolved", "https://"), entry.get("integrity")
        if entry.get("link") or not resolved.startswith(("https://", "http://")) or not integrity:
            raise InstallerFailed(f"{name} ({where}) does not come from a registry: {resolved!r}")
        packages.append(_checked(name, entry.get("version"), integrity))
    return tuple(sorted(packages, key=lambda p: (p.name, p.version)))
