"""The component library: modules a flow names by ``component`` instead of giving their source.

A component has its ports and one source text per runtime that can run it. The
shipped library holds the FBP core components that FBP clients and the
``fbp-test`` conformance suite expect (``core/Repeat``, ``core/Drop``,
``core/Output``), each in Python and in JavaScript; their sources are the files
``components/core/NAME.py`` and ``NAME.js`` beside this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib import resources

import attrs

__all__ = ["Component", "ComponentLibrary", "builtin_components"]


@attrs.frozen
class Component:
    """A named module: its ports, and its source text for each runtime (name -> source)."""

    name: str
    inports: tuple[str, ...]
    outports: tuple[str, ...]
    sources: Mapping[str, str]
    description: str = ""


class ComponentLibrary(Mapping[str, Component]):
    """Components by name; read-only."""

    def __init__(self, components: Iterable[Component] = ()) -> None:
        self._components = {component.name: component for component in components}

    def __getitem__(self, name: str) -> Component:
        return self._components[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        return f"ComponentLibrary({sorted(self._components)!r})"


#: The file suffix of each shipped runtime's sources.
_SUFFIXES = {"python": ".py", "node": ".js"}

#: The core components: name, input ports, output ports, description.
_CORE = (
    ("Repeat", ("in",), ("out",), "Sends every message it gets on out, unchanged."),
    ("Drop", ("in",), (), "Drops every message it gets."),
    (
        "Output",
        ("in",),
        ("out",),
        "Prints every message it gets to the runtime's log, and sends it on out.",
    ),
)


def builtin_components() -> ComponentLibrary:
    """The shipped library: the ``core/`` components, in every shipped runtime."""
    folder = resources.files("trio_launcher.flows").joinpath("components", "core")
    return ComponentLibrary(
        Component(
            name=f"core/{name}",
            inports=inports,
            outports=outports,
            sources={
                runtime: folder.joinpath(name + suffix).read_text(encoding="utf-8")
                for runtime, suffix in _SUFFIXES.items()
            },
            description=description,
        )
        for name, inports, outports, description in _CORE
    )
