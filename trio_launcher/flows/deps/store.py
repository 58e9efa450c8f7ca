"""The package store: installed packages in directories named by what they hold.

::

    STORE/python/<name>==<version>-<hash>/   one Python package, shared by every lock with it
    STORE/node/<lock digest>/                 package.json, package-lock.json, node_modules
    STORE/staging/<owner>-<random>/           installs under way (renamed into place when done)
    STORE/in-use/<owner>.json                 the directories each running runner's locks use
    STORE/.lock                               shared while installing, exclusive while collecting

A directory appears whole or not at all: an install writes into ``staging`` and
is renamed into place. Several runners may share a store: each writes the
directories it uses to its ``in-use`` file, and garbage collection keeps every
directory a live runner names. A runner is named by its pid, its start time and
its pid namespace, so a dead runner's files are known for what they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import orjson
import trio

from ...process.cgroup_tree import owner_alive, owner_name, parse_owner_name
from .lock import Lock, LockedPackage

__all__ = ["PackageStore", "default_store"]


def default_store() -> Path:
    """``$XDG_CACHE_HOME/trio-launcher/packages`` (``~/.cache/...`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache, "trio-launcher", "packages")


class PackageStore:
    """A store's directories, the installs under way in it, and its garbage collection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._owner = owner_name()
        for folder in ("python", "node", "staging", "in-use"):
            (root / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_file = root / ".lock"
        self._lock_file.touch(mode=0o600)

    # --------------------------------------------------------------- where

    def python_dir(self, package: LockedPackage) -> Path:
        """Where ``package`` is installed: its pin and a hash of its files' hashes."""
        hashed = hashlib.sha256(" ".join(sorted(package.hashes)).encode()).hexdigest()[:16]
        return self.root / "python" / f"{package.pin}-{hashed}"

    def node_dir(self, lock: Lock) -> Path:
        """Where a Node.js lock's ``node_modules`` is installed."""
        return self.root / "node" / lock.digest[:32]

    def paths(self, lock: Lock) -> tuple[str, ...]:
        """The directories a module with ``lock`` finds its packages in, in order."""
        if lock.language == "node":
            return (str(self.node_dir(lock)),)
        return tuple(str(self.python_dir(package)) for package in lock.packages)

    def missing(self, lock: Lock) -> list[Path]:
        """The directories of ``lock`` not installed yet."""
        return [Path(path) for path in self.paths(lock) if not os.path.isdir(path)]

    # -------------------------------------------------------------- installing

    @contextlib.asynccontextmanager
    async def installing(self) -> AsyncIterator[None]:
        """While held, garbage collection waits (it would not see what is being installed)."""
        file = await trio.open_file(self._lock_file, "rb")
        async with file:
            await trio.to_thread.run_sync(fcntl.flock, file.fileno(), fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def staging(self, final: Path) -> Iterator[Path]:
        """An empty directory to install into, renamed to ``final`` if the block succeeds.

        If another install put ``final`` in place meanwhile, that one is kept.
        The staging directory is removed whatever happens.
        """
        staging = self.root / "staging" / f"{self._owner}-{os.urandom(6).hex()}"
        staging.mkdir(mode=0o700)
        try:
            yield staging
            with contextlib.suppress(FileExistsError, OSError):
                if not final.exists():
                    os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def use(self, locks: Iterable[Lock]) -> None:
        """Record the directories ``locks`` use as this runner's (its whole set, replaced)."""
        used = sorted({path for lock in locks for path in self.paths(lock)})
        record = self.root / "in-use" / f"{self._owner}.json"
        if not used:
            record.unlink(missing_ok=True)
            return
        temporary = record.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps([os.path.relpath(p, self.root) for p in used]))
        os.replace(temporary, record)

    # ----------------------------------------------------------------- collecting

    def collect_garbage(self) -> list[str]:
        """Remove the directories no live runner uses, and dead runners' leftovers.

        Returns the removed directories, relative to the store.
        """
        with self._flock(fcntl.LOCK_EX):
            kept = self._in_use()
            removed = []
            for kind in ("python", "node"):
                for entry in sorted(os.listdir(self.root / kind)):
                    relative = f"{kind}/{entry}"
                    if relative not in kept:
                        shutil.rmtree(self.root / relative, ignore_errors=True)
                        removed.append(relative)
            self._remove_dead_staging()
            return removed

    def _in_use(self) -> set[str]:
        kept: set[str] = set()
        for entry in os.listdir(self.root / "in-use"):
            path = self.root / "in-use" / entry
            owner = parse_owner_name(entry.removesuffix(".json"))
            if owner is not None and not owner_alive(*owner):
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                kept.update(str(item) for item in orjson.loads(path.read_bytes()))
        return kept

    def _remove_dead_staging(self) -> None:
        for entry in os.listdir(self.root / "staging"):
            owner = parse_owner_name(entry.rpartition("-")[0])
            if owner is None or not owner_alive(*owner):
                shutil.rmtree(self.root / "staging" / entry, ignore_errors=True)

    @contextlib.contextmanager
    def _flock(self, operation: int) -> Iterator[None]:
        with open(self._lock_file, "rb") as file:
            fcntl.flock(file, operation)
            yield
