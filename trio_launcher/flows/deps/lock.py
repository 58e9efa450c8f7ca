"""A module's lock: the exact packages its declared dependencies resolved to.

A lock is made once, when a module's dependencies are first seen (or asked to be
made again), and kept with the flow's revision: a flow updated with the same
dependencies keeps its lock, so nothing moves under a running module unless
asked. Two modules whose locks are equal share what was installed for them.

A Python lock lists each package (``name==version``) with the hashes of the
file the installer chose; each is installed alone into a directory of its own,
which every lock that has that package shares. A Node.js lock carries npm's
``package-lock.json``, from which ``npm ci`` installs one ``node_modules`` per
lock.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import attrs
import orjson

__all__ = ["InstalledLock", "Language", "Lock", "LockedPackage"]

#: The languages whose modules may declare dependencies.
Language = Literal["python", "node"]


@attrs.frozen
class LockedPackage:
    """One package of a lock: its name, its exact version, and its file's hashes.

    ``hashes`` are ``algorithm:hex`` (Python) or npm's ``integrity`` strings
    (``sha512-...``); empty when the installer gave none.
    """

    name: str
    version: str
    hashes: tuple[str, ...] = ()

    @property
    def pin(self) -> str:
        """``name==version`` (Python) as shown to people and used for directory names."""
        return f"{self.name}=={self.version}"

    def to_document(self) -> dict[str, Any]:
        """The package as JSON: ``{"name", "version", "hashes"}``."""
        return {"name": self.name, "version": self.version, "hashes": list(self.hashes)}


@attrs.frozen
class Lock:
    """What a module's declared dependencies resolved to, for one language.

    ``requires`` are the declared specifiers the lock was made for (in the
    installer's form: ``requests>=2`` or ``left-pad@^1.3.0``); ``packages``
    every package installed, its own dependencies included, sorted by name;
    ``lockfile`` npm's ``package-lock.json`` text (Node.js only).
    """

    language: Language
    requires: tuple[str, ...]
    packages: tuple[LockedPackage, ...]
    lockfile: str = ""

    @property
    def digest(self) -> str:
        """A hash of what is installed for the lock: equal locks have equal digests."""
        installed = {
            "language": self.language,
            "packages": [package.to_document() for package in self.packages],
            "lockfile": self.lockfile,
        }
        return hashlib.sha256(orjson.dumps(installed, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def to_document(self) -> dict[str, Any]:
        """The lock as JSON (what the API returns)."""
        return {
            "language": self.language,
            "requires": list(self.requires),
            "packages": [package.to_document() for package in self.packages],
            "digest": self.digest,
        }


@attrs.frozen
class InstalledLock:
    """A lock whose packages are in the store: where they are, and what runs the module.

    ``paths`` are the directories the module's runtime finds them in (the
    ``paths`` of its ``load`` frame); ``process`` is the runtime process of
    its own that the module runs in (a Python lock: an interpreter imports
    one version of a package), or None for the runtime's shared process.
    """

    lock: Lock
    paths: tuple[str, ...]
    process: str | None = None
