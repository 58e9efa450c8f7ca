"""A flow's modules given their installed locks, before the runner holds the flow.

:func:`install_flow` gives each module that declares dependencies its
:class:`~.lock.InstalledLock`. A module keeps the lock it has while its
declaration and runtime stay the same; a declaration seen before (in any flow
of this runner) gets the same lock again, which needs no installer at all; only
a new declaration, or one asked to be locked again, is resolved and installed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import attrs

from ..graph import Flow, Module
from .declared import Declared
from .dependencies import Dependencies, DependencyFailed, ProgressCallback
from .lock import InstalledLock, Lock

__all__ = ["InstalledLocks", "install_flow"]

_NEEDS_INSTALL = "installing packages is refused here ({})"


class InstalledLocks:
    """The locks a runner made, by what was declared, so a declaration is locked once."""

    def __init__(self) -> None:
        self._by_declaration: dict[tuple[str, Declared], InstalledLock] = {}

    def get(self, runtime: str, declared: Declared) -> InstalledLock | None:
        """The lock made for ``declared`` on ``runtime``, if one was."""
        return self._by_declaration.get((runtime, declared))

    def put(self, runtime: str, declared: Declared, installed: InstalledLock) -> None:
        """Remember ``installed`` as the lock of ``declared`` on ``runtime``."""
        self._by_declaration[(runtime, declared)] = installed


async def install_flow(
    dependencies: Dependencies,
    locks: InstalledLocks,
    flow: Flow,
    held: Mapping[str, Module],
    *,
    relock: Collection[str] = (),
    refuse_installs: str | None = None,
    progress: ProgressCallback,
    change: list[Lock],
) -> Flow:
    """``flow`` with each module that declares dependencies given its installed lock.

    ``held`` are the modules of the flow's revision the runner holds;
    ``relock`` the ids of modules to resolve again (newest versions allowed).
    With ``refuse_installs`` (the reason), a module that would need the
    installer is refused instead. ``change`` is :meth:`Dependencies.change`'s
    list, which keeps what is installed in use until the change ends.

    Raises:
        DependencyFailed: a module's dependencies could not be locked or installed
            (or installs are refused); nothing was changed.
    """
    modules = dict(flow.modules)
    for spec in flow.modules.values():
        if spec.deps:
            held_spec = held.get(spec.id)
            if held_spec is not None and spec.id not in relock:
                kept = _kept(spec, held_spec)
                if kept is not None:
                    modules[spec.id] = attrs.evolve(spec, packages=kept)
                    continue
            installed = await _installed(
                dependencies,
                locks,
                f"{flow.id}/{spec.id}",
                spec,
                relock=spec.id in relock,
                refuse_installs=refuse_installs,
                progress=progress,
                change=change,
            )
            modules[spec.id] = attrs.evolve(spec, packages=installed)
    return attrs.evolve(flow, modules=modules)


def _kept(spec: Module, held: Module) -> InstalledLock | None:
    """The lock the held module has, if its runtime and declaration are unchanged."""
    if held.packages is not None and (held.runtime, held.deps) == (spec.runtime, spec.deps):
        return held.packages
    return None


async def _installed(
    dependencies: Dependencies,
    locks: InstalledLocks,
    name: str,
    spec: Module,
    *,
    relock: bool,
    refuse_installs: str | None,
    progress: ProgressCallback,
    change: list[Lock],
) -> InstalledLock:
    """The lock made for this declaration before, or a new one; its packages in the store."""
    known = None if relock else locks.get(spec.runtime, spec.deps)
    needs_installer = known is None or bool(dependencies.store.missing(known.lock))
    if needs_installer and refuse_installs is not None:
        shown = ", ".join(d.spec for d in spec.deps)
        raise DependencyFailed(name, shown, _NEEDS_INSTALL.format(refuse_installs))
    lock = (
        known.lock
        if known is not None
        else await dependencies.lock(name, spec.runtime, spec.deps, progress)
    )
    installed = await dependencies.install(name, spec.runtime, lock, progress, change)
    locks.put(spec.runtime, spec.deps, installed)
    return installed
