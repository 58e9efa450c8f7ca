"""The Runner API for packages: ``runner.packages.list/install/remove/lock/collect_garbage``.

Every change is a new revision of the module's flow, applied as any update is:
locked and installed first, then a hot update if the flow runs (a Python lock
change moves the module to the new lock's process, blue/green, with its
context; a Node.js one reloads it with the new ``node_modules``). A failure
leaves the running version as it was.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..errors import FlowNotFound, FlowRunnerError
from .declared import Declared, declared_document
from .dependencies import ProgressCallback
from .editing import parse_packages, with_packages, without_packages
from .lock import InstalledLock, Language

if TYPE_CHECKING:
    from ..graph import Flow, Module

__all__ = ["PackageInUse", "Packages"]


@attrs.frozen
class PackageInUse:
    """A locked package and the modules whose locks hold it (``flow/module``)."""

    name: str
    version: str
    runtime: str
    modules: tuple[str, ...]
    hashes: tuple[str, ...] = ()


class FlowHost(Protocol):
    """What :class:`Packages` uses of the runner it belongs to."""

    def list_flows(self) -> builtins.list[str]: ...

    def get_flow(self, flow_id: str) -> Flow: ...

    def dependency_language(self, runtime_id: str) -> Language | None: ...

    async def edit_flow(
        self,
        flow_id: str,
        edit: Callable[[Flow], dict[str, Any]],
        *,
        relock: Collection[str] = (),
        refuse_installs: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Flow: ...

    async def collect_package_garbage(self) -> builtins.list[str]: ...


class Packages:
    """The packages of one runner's modules; ``runner.packages``."""

    def __init__(self, runner: FlowHost) -> None:
        self._runner = runner

    def list(
        self, *, runtime_id: str | None = None, flow_module_id: str | None = None
    ) -> list[PackageInUse]:
        """The packages locked for a runtime's modules, or for one module (default: all)."""
        found: dict[tuple[str, str, str], list[str]] = {}
        hashes: dict[tuple[str, str, str], tuple[str, ...]] = {}
        for name, spec in self._modules(flow_module_id):
            if spec.packages is None or runtime_id not in (None, spec.runtime):
                continue
            for package in spec.packages.lock.packages:
                key = (package.name, package.version, spec.runtime)
                found.setdefault(key, []).append(name)
                hashes[key] = package.hashes
        return [
            PackageInUse(n, v, r, tuple(modules), hashes[(n, v, r)])
            for (n, v, r), modules in sorted(found.items())
        ]

    def locks(self, flow_id: str) -> dict[str, InstalledLock]:
        """The installed lock of each module of the flow that declares dependencies."""
        modules = self._runner.get_flow(flow_id).modules
        return {key: spec.packages for key, spec in modules.items() if spec.packages is not None}

    async def install(
        self,
        flow_module_id: str,
        specs: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        refuse_installs: str | None = None,
    ) -> InstalledLock:
        """Declare ``specs`` (``tinypkg==2``, ``tiny@^2``) for a module, replacing those of
        the same names, and run the module with its new lock.

        Raises:
            InvalidFlow: a specifier is refused.
            DependencyFailed: the installer failed; nothing changed
                (:class:`~.dependencies.DependencyFailed`).
        """
        _, spec = self._module(flow_module_id)
        added = parse_packages(self._language(spec), specs)
        installed = await self._redeclare(
            flow_module_id, lambda now: with_packages(now, added), progress, refuse_installs
        )
        assert installed is not None  # it declares at least what was added
        return installed

    async def remove(
        self,
        flow_module_id: str,
        names: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        refuse_installs: str | None = None,
    ) -> InstalledLock | None:
        """Declare ``names`` no more for a module; its new lock (None: it has no packages left)."""
        self._module(flow_module_id)
        return await self._redeclare(
            flow_module_id, lambda now: without_packages(now, names), progress, refuse_installs
        )

    async def lock(
        self,
        flow_id: str,
        module_ids: Collection[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
        refuse_installs: str | None = None,
    ) -> dict[str, InstalledLock]:
        """Resolve the modules' declarations again (the newest versions they allow) and run
        them with their new locks; every module of the flow when ``module_ids`` is None."""
        flow = self._runner.get_flow(flow_id)
        wanted = set(flow.modules) if module_ids is None else set(module_ids)
        unknown = wanted - set(flow.modules)
        if unknown:
            raise FlowNotFound(f"flow {flow_id!r} has no module {', '.join(sorted(unknown))}")
        await self._runner.edit_flow(
            flow_id,
            _next_revision,
            relock=wanted,
            progress=progress,
            refuse_installs=refuse_installs,
        )
        return {key: lock for key, lock in self.locks(flow_id).items() if key in wanted}

    async def collect_garbage(self) -> builtins.list[str]:
        """Remove the store's directories no flow of a live runner uses; the removed ones."""
        return await self._runner.collect_package_garbage()

    # ------------------------------------------------------------------ helpers

    def _modules(self, flow_module_id: str | None) -> builtins.list[tuple[str, Module]]:
        if flow_module_id is not None:
            _, spec = self._module(flow_module_id)
            return [(flow_module_id, spec)]
        runner = self._runner
        return [
            (f"{flow_id}/{key}", spec)
            for flow_id in runner.list_flows()
            for key, spec in runner.get_flow(flow_id).modules.items()
        ]

    def _module(self, flow_module_id: str) -> tuple[Flow, Module]:
        flow_id, slash, module_id = flow_module_id.partition("/")
        if not slash or not module_id:
            raise FlowRunnerError(f"a module is named 'flow/module', not {flow_module_id!r}")
        flow = self._runner.get_flow(flow_id)
        if module_id not in flow.modules:
            raise FlowNotFound(f"flow {flow_id!r} has no module {module_id!r}")
        return flow, flow.modules[module_id]

    def _language(self, spec: Module) -> Language:
        language = self._runner.dependency_language(spec.runtime)
        if language is None:
            raise FlowRunnerError(f"runtime {spec.runtime!r} takes no dependencies")
        return language

    async def _redeclare(
        self,
        flow_module_id: str,
        change: Callable[[Declared], Declared],
        progress: ProgressCallback | None,
        refuse_installs: str | None,
    ) -> InstalledLock | None:
        """The module declares what ``change`` makes of what it declares when its turn comes
        (another change of its flow may come first)."""
        flow_id, _, module_id = flow_module_id.partition("/")

        def edit(flow: Flow) -> dict[str, Any]:
            if module_id not in flow.modules:
                raise FlowNotFound(f"flow {flow_id!r} has no module {module_id!r}")
            declared = change(flow.modules[module_id].deps)
            document = _next_revision(flow)
            metadata = document["processes"][module_id]["metadata"]
            metadata.pop("lock", None)
            if declared:
                metadata["deps"] = declared_document(declared)
            else:
                metadata.pop("deps", None)
            return document

        updated = await self._runner.edit_flow(
            flow_id, edit, progress=progress, refuse_installs=refuse_installs
        )
        return updated.modules[module_id].packages


def _next_revision(flow: Flow) -> dict[str, Any]:
    document = flow.to_document()
    document["revision"] = flow.revision + 1
    return document
