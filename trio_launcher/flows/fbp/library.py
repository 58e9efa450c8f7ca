"""The component library as FBP clients see it, and components made from their source text.

``component:component`` describes a :class:`~..components.Component` (its
ports; every module also has the ``error`` output). ``component:source`` makes
a component from source text in a language: ``python`` runs in the runtime
named ``python``, ``javascript`` in ``node``; another language names its
runtime. The source may declare its ports in comment lines ``# inports: a, b``
and ``# outports: out`` (``//`` in JavaScript); without them the component
keeps the ports it had, or has ``in`` and ``out``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ..components import Component
from ..graph import DEFAULT_INPORTS, DEFAULT_OUTPORTS, with_error_port
from .messages import Refused

__all__ = [
    "component_from_source",
    "component_payload",
    "default_runtime",
    "runner_document",
    "runtime_of_language",
    "source_payload",
]

#: An FBP client's language name -> the runtime that runs it.
_RUNTIMES = {"python": "python", "javascript": "node", "js": "node"}
_LANGUAGES = {"python": "python", "node": "javascript"}
_PORTS_LINE = re.compile(r"^\s*(?:#|//)\s*(inports|outports)\s*:\s*(.*)$", re.MULTILINE)


def runtime_of_language(language: str) -> str:
    """The runtime that runs components in ``language``."""
    return _RUNTIMES.get(language.lower(), language)


def component_payload(component: Component) -> dict[str, Any]:
    """``component:component``'s payload: name and ports (FBP's type ``all``: any JSON)."""
    return {
        "name": component.name,
        "subgraph": False,
        "inPorts": [{"id": port, "type": "all"} for port in component.inports],
        "outPorts": [{"id": port, "type": "all"} for port in with_error_port(component.outports)],
    }


def source_payload(component: Component, runtimes: Collection[str]) -> dict[str, Any]:
    """``component:source``'s payload: the source for the first runtime that has one."""
    runtime = default_runtime(component, runtimes) or next(iter(component.sources))
    library, _, name = component.name.rpartition("/")
    payload = {
        "name": name,
        "language": _LANGUAGES.get(runtime, runtime),
        "code": component.sources[runtime],
    }
    if library:
        payload["library"] = library
    return payload


def default_runtime(component: Component, runtimes: Collection[str]) -> str | None:
    """Where a module of ``component`` runs unless it says: Python if it can, else the first."""
    usable = [runtime for runtime in component.sources if runtime in runtimes]
    if "python" in usable:
        return "python"
    return usable[0] if usable else None


def component_from_source(
    payload: Mapping[str, Any], library: Mapping[str, Component], runtimes: Collection[str]
) -> Component:
    """The component a ``component:source`` payload gives; :class:`Refused` if it cannot run."""
    name, language, code = (payload.get(key) for key in ("name", "language", "code"))
    if not isinstance(name, str) or not name or not isinstance(code, str):
        raise Refused("component:source needs a name and code")
    if not isinstance(language, str):
        raise Refused("component:source needs a language")
    prefix = payload.get("library")
    if isinstance(prefix, str) and prefix and "/" not in name:
        name = f"{prefix}/{name}"
    runtime = runtime_of_language(language)
    if runtime not in runtimes:
        known = ", ".join(sorted(runtimes)) or "none"
        raise Refused(f"no runtime runs {language} here (runtimes: {known})")
    old = library.get(name)
    declared = _declared_ports(code)
    inports = declared.get("inports") or (old.inports if old else DEFAULT_INPORTS)
    outports = declared.get("outports") or (old.outports if old else DEFAULT_OUTPORTS)
    sources = {**(old.sources if old else {}), runtime: code}
    if old is not None and declared and (inports, outports) != (old.inports, old.outports):
        sources = {runtime: code}  # the other languages' sources have the old ports
    return Component(name, inports, outports, sources, old.description if old else "")


def _declared_ports(code: str) -> dict[str, tuple[str, ...]]:
    return {
        kind: tuple(port for port in re.split(r"[\s,]+", names) if port)
        for kind, names in _PORTS_LINE.findall(code)
    }


def runner_document(
    document: Mapping[str, Any], library: Mapping[str, Component], runtimes: Collection[str]
) -> dict[str, Any]:
    """The flow document for the runner: each process's runtime filled in where it has none."""
    processes = {}
    for node_id, process in document.get("processes", {}).items():
        metadata = dict(process.get("metadata") or {})
        if "runtime" not in metadata:
            component = library.get(process.get("component", ""))
            runtime = default_runtime(component, runtimes) if component else None
            if runtime is None and "source" in metadata and "python" in runtimes:
                runtime = "python"
            if runtime is not None:
                metadata["runtime"] = runtime
        processes[node_id] = {**process, "metadata": metadata}
    return {**document, "processes": processes}
