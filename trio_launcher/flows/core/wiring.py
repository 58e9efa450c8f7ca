"""Which edges a runtime carries itself (local edges), and what to tell it.

An edge is **local** when both its modules run in the same runtime process,
that runtime has the ``local-edges`` capability, both modules are ready
(not paused, not being updated, no breakpoint, the flow running, no step
under way) and the target module is synchronous, and the edge does not leave the
module's ``error`` port (the runner makes those messages): then its messages never
leave the runtime. Every other edge goes through the runner, which bounds
it. This module computes what a module's wiring should be; the core sends a
``wire`` frame where it differs from what the runtime was last told.
"""

from __future__ import annotations

from collections.abc import Set

from .flow_record import FlowRecord
from .records import EdgeRecord, ModuleRecord, Route, runtime_module_id

__all__ = ["ERROR_PORT", "PortWiring", "desired_wiring"]

#: The output port a module's errors go to: the runner makes those messages, so never local.
ERROR_PORT = "error"

#: Output port -> (local targets as (runtime module id, input port), whether the runner gets it too)
PortWiring = dict[str, tuple[tuple[tuple[str, str], ...], bool]]
_DEFAULT: tuple[tuple[tuple[str, str], ...], bool] = ((), True)


def desired_wiring(
    record: FlowRecord, module: ModuleRecord, ready: Set[str]
) -> tuple[PortWiring, dict[EdgeRecord, Route]]:
    """The wiring ``module``'s runtime should have, and the route each of its edges takes.

    ``ready`` holds the ids of the flow's modules that may take part in local
    edges. Ports whose wiring is the default (runner only) are left out,
    except those the runtime was told otherwise before.
    """
    wiring: PortWiring = {}
    routes: dict[EdgeRecord, Route] = {}
    for port, edges in module.out_edges.items():
        local: list[tuple[str, str]] = []
        runner = (module.id, port) in record.outports
        for edge in edges:
            if _can_be_local(record, module, edge, ready):
                routes[edge] = Route.LOCAL
                local.append((runtime_module_id(record.id, edge.key[2]), edge.key[3]))
            else:
                routes[edge] = Route.RUNNER
                runner = True
        if local:
            wiring[port] = (tuple(local), runner)
    for port in module.wiring:
        wiring.setdefault(port, _DEFAULT)
    return wiring, routes


def _can_be_local(
    record: FlowRecord, module: ModuleRecord, edge: EdgeRecord, ready: Set[str]
) -> bool:
    target = record.modules.get(edge.key[2])
    return (
        target is not None
        and edge.key[1] != ERROR_PORT
        and module.id in ready
        and target.id in ready
        and target.runtime_id == module.runtime_id
        and not target.is_async
    )
