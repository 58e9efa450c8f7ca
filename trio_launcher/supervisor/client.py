"""A small blocking client for the control API (used by ``trio-launcher plugins``).

It needs neither Trio nor the rest of the supervisor, so other programs and
scripts can use it as is; see :mod:`trio_launcher.supervisor.control` for the
protocol.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any

__all__ = ["ControlClient", "ControlError"]


class ControlError(Exception):
    """The supervisor answered with an error, or cannot be reached."""


class ControlClient:
    """One connection to a supervisor's control socket.

    ``timeout`` limits connecting and each answer (None: wait as long as it takes,
    e.g. for a ``start`` that waits for readiness).
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float | None = None) -> None:
        self.path = os.fspath(path)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout if timeout is not None else 10.0)
        try:
            self._socket.connect(self.path)
        except OSError as exc:
            self._socket.close()
            reason = exc.strerror or str(exc)
            raise ControlError(
                f"cannot connect to the supervisor at {self.path}: {reason}"
            ) from None
        self._socket.settimeout(timeout)
        self._reader = self._socket.makefile("rb")

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._reader.close()
        self._socket.close()

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return the answer. Raises :class:`ControlError` if not ok."""
        self._send({"cmd": cmd, **fields})
        answer = self._receive()
        if answer is None:
            raise ControlError("the supervisor closed the connection")
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error", "request failed")))
        return answer

    def ls(self) -> list[dict[str, Any]]:
        """Status of every plugin."""
        return list(self.request("ls")["plugins"])

    def start(self, name: str) -> list[dict[str, Any]]:
        """Start ``name`` (or ``"all"``); statuses once ready or failed."""
        return list(self.request("start", name=name)["plugins"])

    def stop(self, name: str) -> list[dict[str, Any]]:
        """Stop ``name`` (or ``"all"``)."""
        return list(self.request("stop", name=name)["plugins"])

    def restart(self, name: str) -> list[dict[str, Any]]:
        """Restart ``name`` (or ``"all"``)."""
        return list(self.request("restart", name=name)["plugins"])

    def logs(self, name: str, lines: int = 50) -> list[str]:
        """The last ``lines`` lines of ``name``'s log file."""
        return list(self.request("logs", name=name, lines=lines)["lines"])

    def events(self) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
        """Subscribe: the current statuses, and an iterator over events as they come.

        Use a fresh client for this; the connection carries nothing else afterwards.
        """
        snapshot = self.request("events")["plugins"]
        return list(snapshot), self._event_lines()

    def _event_lines(self) -> Iterator[dict[str, Any]]:
        while (event := self._receive()) is not None:
            yield event

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._socket.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise ControlError(f"cannot talk to the supervisor: {exc}") from None

    def _receive(self) -> dict[str, Any] | None:
        try:
            line = self._reader.readline()
        except OSError as exc:
            raise ControlError(f"cannot talk to the supervisor: {exc}") from None
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ControlError(f"unexpected answer: {line!r}")
        return message
