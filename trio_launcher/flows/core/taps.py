"""Taps: a flow whose every message on an edge is reported, for FBP clients' ``network:data``.

A tapped flow keeps all its edges at the runner (none is local to a
runtime), and each message the runner delivers to a module of it is also
returned as an :class:`EdgeData`: from an edge, from an exported input port,
or an initial packet. An untapped flow costs nothing more.
"""

from __future__ import annotations

import attrs

from .records import EdgeRecord, ModuleRecord

__all__ = ["EdgeData", "edge_data"]


@attrs.frozen
class EdgeData:
    """A message went to input ``tgt`` (module, port) of tapped flow ``flow``.

    ``src`` is the (module, port) it came from; None for an initial packet or
    a message into an exported input port, whose name is then ``inport``.
    ``body`` is the message's JSON bytes.
    """

    flow: str
    src: tuple[str, str] | None
    tgt: tuple[str, str]
    body: bytes
    inport: str | None = None


def edge_data(target: ModuleRecord, port: str, body: bytes, edge: EdgeRecord | None) -> EdgeData:
    """What a tap reports for ``body`` delivered to ``port`` of ``target`` over ``edge``."""
    tgt = (target.id, port)
    if edge is None:
        return EdgeData(target.flow, None, tgt, body)
    source, source_port = edge.key[0], edge.key[1]
    if source is None:
        return EdgeData(target.flow, None, tgt, body, inport=source_port)
    return EdgeData(target.flow, (source, source_port), tgt, body)
