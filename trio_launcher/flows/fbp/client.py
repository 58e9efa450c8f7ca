"""A client of an FBP endpoint, for the ``trio-launcher flows`` commands and for tests.

``async with open_fbp_client(url, secret=...) as client:`` connects;
:meth:`FbpClient.request` sends a command with a ``requestId`` and returns
the payload of its answer (the message whose ``responseTo`` is that id), or
raises :class:`FbpRefused` with the reason: an ``error`` answer, or an
extension's ``ok: false``. Messages that are not the answer (events) wait in
order for :meth:`FbpClient.next_message`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from ...transport import websocket
from .server import SUBPROTOCOL

__all__ = ["FbpClient", "FbpRefused", "open_fbp_client"]


class FbpRefused(Exception):
    """The endpoint refused a command: ``reason``, and the answer's ``payload``."""

    def __init__(self, reason: str, payload: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload


class FbpClient:
    """One connection to an FBP endpoint; see the module docstring."""

    def __init__(self, ws: websocket.WebSocket, secret: str | None) -> None:
        self._ws = ws
        self._secret = secret
        self._ids = itertools.count(1)
        self._waiting: deque[dict[str, Any]] = deque()

    async def send(
        self, protocol: str, command: str, payload: dict[str, Any], request_id: str | None = None
    ) -> None:
        """Send one message (with the secret, if the client has one)."""
        message: dict[str, Any] = {"protocol": protocol, "command": command, "payload": payload}
        if self._secret is not None:
            message["secret"] = self._secret
        if request_id is not None:
            message["requestId"] = request_id
        await self._ws.send_message(orjson.dumps(message).decode())

    async def request(
        self,
        protocol: str,
        command: str,
        payload: dict[str, Any] | None = None,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Send a command and return its answer's payload; :class:`FbpRefused` if refused.

        The messages that come meanwhile go to ``on_event``, if given (such as
        the ``deps:progress`` of a ``deps:install``), else to :meth:`next_message`.
        """
        request_id = f"r{next(self._ids)}"
        await self.send(protocol, command, payload or {}, request_id)
        while True:
            message = await self._receive()
            if message.get("responseTo") == request_id:
                return _accepted(message)
            if on_event is not None:
                on_event(message)
            else:
                self._waiting.append(message)

    async def next_message(self) -> dict[str, Any]:
        """The next message that was not an answer, in the order they came."""
        if self._waiting:
            return self._waiting.popleft()
        return await self._receive()

    async def _receive(self) -> dict[str, Any]:
        text = await self._ws.get_message()
        message = orjson.loads(text)
        if not isinstance(message, dict):
            raise ValueError(f"not an FBP message: {text!r:.200}")
        return message


def _accepted(message: dict[str, Any]) -> dict[str, Any]:
    payload = message.get("payload")
    payload = payload if isinstance(payload, dict) else {"value": payload}
    if message.get("command") == "error":
        raise FbpRefused(str(payload.get("message", "refused")), payload)
    if payload.get("ok") is False:
        raise FbpRefused(str(payload.get("reason", "refused")), payload)
    return payload


@contextlib.asynccontextmanager
async def open_fbp_client(
    url: str, *, secret: str | None = None, connect_timeout: float = 10.0
) -> AsyncIterator[FbpClient]:
    """A client connected to the FBP endpoint at ``url`` (``ws://host:port/``) for the block.

    Raises :class:`~trio_websocket.HandshakeError` (and its kin, see
    :mod:`trio_launcher.transport.websocket`) if it cannot connect.
    """
    async with websocket.connect(
        url, subprotocols=(SUBPROTOCOL,), connect_timeout=connect_timeout
    ) as ws:
        yield FbpClient(ws, secret)
