"""Sans-IO implementation of n8n's task broker protocol.

No Trio, no sockets, no clocks of its own: messages (:mod:`.messages`), the
JSON codec (:func:`encode`, :func:`decode`) and the state machines of the
runner, the launcher handshake and the broker take decoded messages and the
current time, and return what to send.
"""

from .codec import decode, encode
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "decode",
    "encode",
    *_messages_all,
]
