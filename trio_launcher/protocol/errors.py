"""Exceptions raised by the sans-IO protocol core.

As in h11: :class:`LocalProtocolError` means *we* used the protocol wrongly (a
bug in the caller), :class:`RemoteProtocolError` means the *peer* broke it.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of every protocol error."""


class LocalProtocolError(ProtocolError):
    """The local side misused the protocol: the message or the event is not allowed now."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow.

    ``close_code`` is the WebSocket close code to answer with, when the right
    reaction is to close the connection.
    """

    def __init__(self, reason: str, *, close_code: int = 1002) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code
