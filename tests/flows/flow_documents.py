"""Flow documents for the graph tests: the worked example, and valid ones that hypothesis draws."""

from __future__ import annotations

import copy
import string
from typing import Any

from hypothesis import strategies as st

from trio_launcher.flows.components import builtin_components
from trio_launcher.flows.deps.lock import Language
from trio_launcher.flows.errors import InvalidFlow, Problem
from trio_launcher.flows.graph import Flow
from trio_launcher.flows.validation import parse_flow

RUNTIMES = ("node", "python")
#: Both runtimes take dependencies, each in its own language.
LANGUAGES: dict[str, Language] = {"node": "node", "python": "python"}
LIBRARY = builtin_components()

DOUBLE_SOURCE = "def handle(message, context, send):\n    send('out', message * 2)\n"

ORDERS: dict[str, Any] = {
    "id": "orders",
    "revision": 3,
    "properties": {"name": "orders"},
    "inports": {"in": {"process": "double", "port": "in"}},
    "outports": {"out": {"process": "show", "port": "out"}},
    "processes": {
        "double": {
            "component": "double",
            "metadata": {
                "runtime": "python",
                "source": DOUBLE_SOURCE,
                "inports": ["in"],
                "outports": ["out"],
                "timeout": 30,
            },
        },
        "show": {"component": "core/Repeat", "metadata": {"runtime": "node"}},
    },
    "connections": [
        {
            "src": {"process": "double", "port": "out"},
            "tgt": {"process": "show", "port": "in"},
            "metadata": {"maxMessages": 1000, "maxBytes": 8388608},
        },
        {"data": 21, "tgt": {"process": "double", "port": "in"}},
    ],
}


def orders() -> dict[str, Any]:
    """A fresh copy of the worked example of ``docs/flows.md``, to change at will."""
    return copy.deepcopy(ORDERS)


def parse(document: object) -> Flow:
    return parse_flow(document, runtimes=RUNTIMES, components=LIBRARY, languages=LANGUAGES)


def problems_of(document: object) -> tuple[Problem, ...]:
    """The problems ``parse_flow`` finds in ``document`` (which must have some)."""
    try:
        parse(document)
    except InvalidFlow as invalid:
        return invalid.problems
    raise AssertionError("the document was accepted")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

_NAMES = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=3)
_PORT_LISTS = st.lists(st.sampled_from(["in", "out", "a", "b", "c"]), unique=True, max_size=3)
_PACKAGES = st.sampled_from(["attrs", "left-pad", "tiny", "a.b_c"])
_VERSIONS = st.sampled_from(["1", "1.2.3", "2.0.0-rc.1"])
#: Dependencies as each runtime's modules declare them.
_DEPS = {
    "python": st.lists(st.builds("{}>={}".format, _PACKAGES, _VERSIONS), max_size=3),
    "node": st.dictionaries(_PACKAGES, st.builds("^{}".format, _VERSIONS), max_size=3),
}


@st.composite
def _process(draw: st.DrawFn) -> dict[str, Any]:
    runtime = draw(st.sampled_from(RUNTIMES))
    extra = draw(st.dictionaries(st.sampled_from(["x", "y", "label"]), JSON_VALUES, max_size=2))
    if draw(st.booleans()):
        component = draw(st.sampled_from(sorted(LIBRARY)))
        return {"component": component, "metadata": {**extra, "runtime": runtime}}
    metadata = {
        **extra,
        "runtime": runtime,
        "source": draw(st.text(max_size=20)),
        "inports": draw(_PORT_LISTS),
        "outports": draw(_PORT_LISTS),
        "timeout": draw(st.floats(min_value=0.001, max_value=1e6) | st.integers(1, 3600)),
    }
    if draw(st.booleans()):
        metadata["deps"] = draw(_DEPS[runtime])
    return {"component": draw(_NAMES), "metadata": metadata}


def _ports(process: dict[str, Any]) -> tuple[list[str], list[str]]:
    metadata = process["metadata"]
    if "source" in metadata:
        return metadata["inports"], [*metadata["outports"], "error"]
    component = LIBRARY[process["component"]]
    return list(component.inports), [*component.outports, "error"]


@st.composite
def flow_documents(draw: st.DrawFn, module_ids: st.SearchStrategy[str] = _NAMES) -> dict[str, Any]:
    """A valid flow document: modules of both kinds, edges, initial packets, exported ports."""
    processes = draw(st.dictionaries(module_ids, _process(), min_size=1, max_size=5))
    inputs = [(key, port) for key, spec in processes.items() for port in _ports(spec)[0]]
    outputs = [(key, port) for key, spec in processes.items() for port in _ports(spec)[1]]
    connections: list[dict[str, Any]] = []
    if inputs:
        wires = draw(
            st.lists(
                st.tuples(st.sampled_from(outputs), st.sampled_from(inputs)),
                unique=True,
                max_size=6,
            )
        )
        for (src, out), (tgt, into) in wires:
            limits = draw(
                st.dictionaries(st.sampled_from(["maxMessages", "maxBytes"]), st.integers(1, 10**9))
            )
            connections.append(
                {
                    "src": {"process": src, "port": out},
                    "tgt": {"process": tgt, "port": into},
                    "metadata": {
                        **limits,
                        **draw(st.dictionaries(st.just("route"), st.integers(0, 9))),
                    },
                }
            )
        for tgt, into in draw(st.lists(st.sampled_from(inputs), max_size=3)):
            connections.append({"data": draw(JSON_VALUES), "tgt": {"process": tgt, "port": into}})
    document: dict[str, Any] = {
        "id": draw(
            st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=12)
        ),
        "revision": draw(st.integers(0, 100)),
        "properties": draw(
            st.dictionaries(st.sampled_from(["name", "description"]), st.text(max_size=8))
        ),
        "processes": processes,
        "connections": connections,
        "groups": [],
    }
    if inputs:
        exported = draw(st.dictionaries(_NAMES, st.sampled_from(inputs), max_size=2))
        document["inports"] = {name: {"process": m, "port": p} for name, (m, p) in exported.items()}
    exported = draw(st.dictionaries(_NAMES, st.sampled_from(outputs), max_size=2))
    document["outports"] = {name: {"process": m, "port": p} for name, (m, p) in exported.items()}
    return document
