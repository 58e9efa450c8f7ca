"""The Python runtime's output: frames coalesced into batches, buffered, written to OUT.

Batches are sent only once the runner asked for them (a ``batches`` frame).

Runs in the runtime process (standard library and orjson only). Consecutive
``emit`` frames of one module's port become one batched ``emit`` (``n``
items, ``id`` of the first's invocation, ``to`` of the last's); consecutive
``done`` frames of consecutive invocation ids become one ``done`` with ``n``.
A ``done`` may wait behind later emits (the runner needs it after its own
invocation's emits, not before the next one's); any other frame first writes
what waits, emits before dones, so every frame keeps its place relative to
the emits and dones of its invocation.
"""

from __future__ import annotations

import os
import time

from trio_launcher.flows.wire import encode_frame, pack_items

TYPE_CHECKING = False  # keep `typing` out of the runtime
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FrameWriter", "Output"]

#: Bytes the output buffer holds before it is written.
_FLUSH_SIZE = 1 << 16
#: Seconds frames may wait in the output buffer while invocations run.
_FLUSH_AGE = 0.002
#: Bytes of messages a batched ``emit`` holds before the next goes to a new one.
_BATCH_BYTES = 1 << 20


class Output:
    """Buffers encoded frames and writes them to OUT in as few writes as it can."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= _FLUSH_SIZE:
            self.flush()

    def flush(self) -> None:
        with memoryview(self._pending) as view:
            written = 0
            while written < len(view):
                written += os.write(self._fd, view[written:])
        self._pending.clear()


class FrameWriter:
    """Frames to send, batched where they can be: ``write`` gets them encoded, ``flush`` ends.

    What waits is also written once it is :data:`_FLUSH_AGE` old, so that the
    ``done`` of a slow module's invocations reaches the runner while the next
    ones run (the runner times each invocation from the last ``done``).
    """

    def __init__(self, write: Any, flush: Any, *, batches: bool = True) -> None:
        self._write = write
        self._flush = flush
        #: whether to batch (the runner said it takes batches)
        self.batches = batches
        self._since: float | None = None
        self._emits: list[bytes] = []
        self._emit_bytes = 0
        self._emit_key: tuple[str, str] | None = None
        self._emit_first = self._emit_last = ""
        self._done_first = -1
        self._done_count = 0

    def frame(self, data: bytes) -> None:
        """Any frame but ``emit`` and ``done``, encoded: after what waits."""
        self.close()
        self._write(data)
        self._age()

    def flush(self) -> None:
        """Write everything that waits to OUT now."""
        self.close()
        self._flush()
        self._since = None

    def _age(self) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since >= _FLUSH_AGE:
            self.flush()

    def emit(self, invocation: str, module: str, port: str, data: bytes) -> None:
        """An ``emit`` of ``invocation``: joins the batch of the same module and port."""
        if not self.batches:
            header = {"t": "emit", "id": invocation, "module": module, "port": port}
            self._write(encode_frame(header, data))
            self._age()
            return
        if self._emit_key != (module, port) or self._emit_bytes >= _BATCH_BYTES:
            self._close_emits()
            self._emit_key, self._emit_first = (module, port), invocation
        self._emits.append(data)
        self._emit_bytes += len(data)
        self._emit_last = invocation
        self._age()

    def done(self, invocation: str) -> None:
        """The ``done`` of ``invocation``: joins the run of consecutive ids, if it follows it."""
        number = int(invocation) if self.batches and invocation.isdigit() else -1
        if self._done_count and number == self._done_first + self._done_count:
            self._done_count += 1
            self._age()
            return
        self._close_emits()
        self._close_dones()
        if number < 0:
            self._write(encode_frame({"t": "done", "id": invocation}))
        else:
            self._done_first, self._done_count = number, 1
        self._age()

    def close(self) -> None:
        """Write what waits: the batch of emits, then the run of dones."""
        self._close_emits()
        self._close_dones()

    def _close_emits(self) -> None:
        emits = self._emits
        if not emits:
            return
        assert self._emit_key is not None
        module, port = self._emit_key
        header: dict[str, Any] = {"t": "emit", "id": self._emit_first, "module": module}
        header["port"] = port
        if len(emits) == 1:
            self._write(encode_frame(header, emits[0]))
        else:
            header["n"], header["to"] = len(emits), self._emit_last
            self._write(encode_frame(header, pack_items(emits)))
        self._emits = []
        self._emit_bytes = 0
        self._emit_key = None

    def _close_dones(self) -> None:
        if not self._done_count:
            return
        header: dict[str, Any] = {"t": "done", "id": str(self._done_first)}
        if self._done_count > 1:
            header["n"] = self._done_count
        self._write(encode_frame(header))
        self._done_count = 0
