"""The FBP endpoint: the Runner API as the FBP network protocol over WebSocket.

:func:`serve_fbp` serves a :class:`~..runner.FlowRunner`;
:class:`~.client.FbpClient` talks to it (the ``trio-launcher flows`` client
commands). The protocol, its extensions and what each command does are in
``docs/flows.md`` ("The FBP endpoint").
"""

from .server import SUBPROTOCOL, FbpEndpoint, serve_fbp

__all__ = ["SUBPROTOCOL", "FbpEndpoint", "serve_fbp"]
