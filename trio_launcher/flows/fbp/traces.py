"""Flowtraces: a graph's ``network:`` messages kept in a bounded buffer, dumped on request.

A :class:`Trace` keeps, while it records, every ``network:`` message of its
graph (``data``, ``started``, ``stopped``, ``error``, ``processerror``,
``output``) with the time it was sent, oldest first, up to ``buffersize``
bytes of their JSON: older ones make room for newer ones. :meth:`Trace.dump`
gives the buffer as a `Flowtrace <https://github.com/flowbased/flowtrace>`_
(``flowtrace.json``): a header with the graph's document, then the events.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson

from .network import now_iso

__all__ = ["DEFAULT_BUFFER_SIZE", "MAX_BUFFER_SIZE", "Trace"]

#: Bytes of events a trace keeps unless ``trace:start`` says otherwise.
DEFAULT_BUFFER_SIZE = 1 << 20
#: The most a ``trace:start`` may ask for.
MAX_BUFFER_SIZE = 64 << 20


class Trace:
    """The recent ``network:`` messages of one graph; see the module docstring."""

    def __init__(self, graph: str, buffersize: int = DEFAULT_BUFFER_SIZE) -> None:
        self.graph = graph
        self.buffersize = buffersize
        self.recording = True
        self._start = now_iso()
        self._events: deque[tuple[int, dict[str, Any]]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._events)

    def record(self, command: str, payload: dict[str, Any]) -> None:
        """Keep ``network:command`` (if recording), making room by dropping the oldest."""
        if not self.recording:
            return
        event = {
            "protocol": "network",
            "command": command,
            "payload": payload,
            "graph": self.graph,
            "time": now_iso(),
        }
        size = len(orjson.dumps(event))
        self._events.append((size, event))
        self._bytes += size
        self._fit()

    def resize(self, buffersize: int) -> None:
        """Keep at most ``buffersize`` bytes from now on (the oldest go first)."""
        self.buffersize = buffersize
        self._fit()

    def clear(self) -> None:
        """Forget every event kept."""
        self._events.clear()
        self._bytes = 0

    def dump(self, document: dict[str, Any] | None, runtime: str) -> str:
        """The buffer as flowtrace JSON text; ``document``: the graph, if it is known."""
        metadata = {
            "runtime": runtime,
            "type": "trio-launcher",
            "start": self._start,
            "end": now_iso(),
        }
        header = {
            "metadata": metadata,
            "graphs": {} if document is None else {self.graph: document},
            "main": self.graph,
        }
        trace = {"header": header, "events": [event for _, event in self._events]}
        return orjson.dumps(trace).decode()

    def _fit(self) -> None:
        while self._bytes > self.buffersize:
            size, _ = self._events.popleft()
            self._bytes -= size
