"""Locking and installing modules' dependencies for a flow runner (Trio, runner side).

:class:`Dependencies` turns what a module declares into a
:class:`~.lock.InstalledLock`: it resolves the declaration to a lock (through
the installer, as a child process) and installs what the store does not hold
yet, reporting its progress a package at a time. Nothing it does changes a
running module: the runner applies the result as a flow update once it is all
there, so a failure leaves the running version as it was.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

import attrs
import trio

from ..errors import FlowRunnerError
from .declared import Declared, NodeDependency, PythonRequirement
from .installer import InstallerFailed, installer_environment
from .lock import InstalledLock, Language, Lock
from .node_packages import install_node_lock, lock_node
from .python_packages import install_python_package, lock_python, python_installer
from .settings import DependencySettings
from .store import PackageStore

__all__ = ["Dependencies", "DependencyFailed", "Progress", "ProgressCallback"]

log = logging.getLogger(__name__)

Step = Literal["resolving", "resolved", "installing", "installed", "cached"]


@attrs.frozen
class Progress:
    """One step of locking or installing a module's dependencies.

    ``module`` is ``flow/module``; ``package`` the package concerned (empty
    while resolving); ``done`` of ``total`` packages are in the store.
    """

    module: str
    step: Step
    package: str = ""
    done: int = 0
    total: int = 0

    def __str__(self) -> str:
        what = f" {self.package}" if self.package else ""
        count = f" ({self.done}/{self.total})" if self.total else ""
        return f"{self.module}: {self.step}{what}{count}"


ProgressCallback = Callable[[Progress], None]
_T = TypeVar("_T")


class DependencyFailed(FlowRunnerError):
    """A module's dependencies could not be locked or installed; nothing was changed.

    ``module`` is ``flow/module``, ``package`` what failed (a pin, or the
    declared specifiers when resolving failed), ``reason`` the installer's error.
    """

    def __init__(self, module: str, package: str, reason: str) -> None:
        self.module, self.package, self.reason = module, package, reason
        super().__init__(f"{module}: {package}: {reason}")


class Dependencies:
    """The store of one runner and the installers that fill it."""

    def __init__(self, settings: DependencySettings, runtimes: Mapping[str, Sequence[str]]):
        self.settings = settings
        self._runtimes = runtimes
        self._store: PackageStore | None = None
        self._held: list[Lock] = []
        #: locks installed for changes not applied yet: in use, so not collected meanwhile
        self._pending: list[list[Lock]] = []

    @property
    def store(self) -> PackageStore:
        """The package store, made on first use (a runner without dependencies makes none)."""
        if self._store is None:
            self._store = PackageStore(self.settings.store)
        return self._store

    def language(self, runtime: str) -> Language | None:
        """The language of ``runtime``'s packages, or None if it takes none."""
        return self.settings.languages.get(runtime)

    async def lock(
        self, module: str, runtime: str, declared: Declared, progress: ProgressCallback
    ) -> Lock:
        """Resolve ``declared`` to exact versions for ``runtime``.

        Raises:
            DependencyFailed: the installer could not resolve it (its error).
        """
        progress(Progress(module, "resolving"))
        named = ", ".join(d.spec for d in declared)
        with tempfile.TemporaryDirectory(prefix="trio-launcher-lock-") as work:
            lock = await self._run(module, named, self._resolve(runtime, declared, Path(work)))
        progress(Progress(module, "resolved", total=len(lock.packages)))
        return lock

    @contextlib.contextmanager
    def change(self) -> Iterator[list[Lock]]:
        """For one change of a flow: the locks installed for it count as in use until it ends
        (by then, the runner holds the ones it applied)."""
        pending: list[Lock] = []
        self._pending.append(pending)
        try:
            yield pending
        finally:
            self._pending.remove(pending)
            if pending:
                self._write_use()

    async def install(
        self,
        module: str,
        runtime: str,
        lock: Lock,
        progress: ProgressCallback,
        change: list[Lock],
    ) -> InstalledLock:
        """Put ``lock``'s packages in the store (those it lacks); where they are.

        ``change`` (from :meth:`change`) keeps them in use until that change ends.

        Raises:
            DependencyFailed: a package could not be installed (the installer's error).
        """
        store = self.store
        async with store.installing():
            if lock.language == "node":
                await self._install_node(module, lock, progress)
            else:
                await self._install_python(module, runtime, lock, progress)
            change.append(lock)
            self._write_use()  # before garbage collection can run again
        own_process = f"{runtime}@{lock.digest[:12]}" if lock.language == "python" else None
        return InstalledLock(lock, store.paths(lock), own_process)

    def use(self, locks: Iterable[Lock]) -> None:
        """Record that this runner's held flows use ``locks`` (and no other)."""
        self._held = list(locks)
        self._write_use()

    def _write_use(self) -> None:
        locks = [*self._held, *(lock for pending in self._pending for lock in pending)]
        if locks or self._store is not None:
            self.store.use(locks)

    async def collect_garbage(self) -> list[str]:
        """Remove the store's directories no live runner uses; the removed ones."""
        return await trio.to_thread.run_sync(self.store.collect_garbage)

    # ------------------------------------------------------------ installers

    async def _run(self, module: str, what: str, installer: Awaitable[_T]) -> _T:
        """``installer`` within ``settings.timeout``; its failure as :class:`DependencyFailed`."""
        timeout = self.settings.timeout
        try:
            with trio.fail_after(timeout):
                return await installer
        except trio.TooSlowError:
            reason = f"the installer ran past its timeout of {timeout:g} s"
        except InstallerFailed as exc:
            reason = str(exc)
        raise DependencyFailed(module, what, reason)

    def _env(self) -> dict[str, str]:
        return installer_environment(self.settings.environment)

    def _npm(self) -> str:
        return shutil.which(self.settings.npm) or self.settings.npm

    async def _resolve(self, runtime: str, declared: Declared, work: Path) -> Lock:
        settings = self.settings
        if self.language(runtime) == "node":
            node = [d for d in declared if isinstance(d, NodeDependency)]
            return await lock_node(
                node,
                npm=self._npm(),
                work=work,
                env=self._env(),
                on_line=_log_line,
            )
        python = [d for d in declared if isinstance(d, PythonRequirement)]
        return await lock_python(
            python,
            interpreter=self._runtimes[runtime][0],
            installer=python_installer(settings.python_installer),
            work=work,
            env=self._env(),
            on_line=_log_line,
        )

    async def _install_python(
        self, module: str, runtime: str, lock: Lock, progress: ProgressCallback
    ) -> None:
        total = len(lock.packages)
        install = partial(
            install_python_package,
            interpreter=self._runtimes[runtime][0],
            installer=python_installer(self.settings.python_installer),
            env=self._env(),
            on_line=_log_line,
        )
        for done, package in enumerate(lock.packages, start=1):
            final = self.store.python_dir(package)
            if final.is_dir():
                progress(Progress(module, "cached", package.pin, done, total))
                continue
            progress(Progress(module, "installing", package.pin, done - 1, total))
            with self.store.staging(final) as target:
                await self._run(module, package.pin, install(package, target))
            progress(Progress(module, "installed", package.pin, done, total))

    async def _install_node(self, module: str, lock: Lock, progress: ProgressCallback) -> None:
        total = len(lock.packages)
        final = self.store.node_dir(lock)
        names = [f"{p.name}@{p.version}" for p in lock.packages]
        if final.is_dir():
            for done, name in enumerate(names, start=1):
                progress(Progress(module, "cached", name, done, total))
            return
        progress(Progress(module, "installing", ", ".join(names), 0, total))
        with self.store.staging(final) as target:
            installing = install_node_lock(
                lock, target, npm=self._npm(), env=self._env(), on_line=_log_line
            )
            await self._run(module, ", ".join(lock.requires), installing)
        for done, name in enumerate(names, start=1):
            progress(Progress(module, "installed", name, done, total))


def _log_line(line: str) -> None:
    log.debug("[installer] %s", line)
