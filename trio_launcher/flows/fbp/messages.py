"""FBP network protocol messages: what a client sends, what the endpoint answers.

A message is a JSON object ``{"protocol", "command", "payload"}``, with a
``secret`` and a ``requestId`` from a client and a ``responseTo`` (the
request's id) in an answer (protocol 0.8). :func:`parse_request` reads one;
:func:`encode` writes one. A command that cannot be done raises
:class:`Refused`: the endpoint answers ``PROTOCOL:error`` with its message, or,
for an extension command, the command's own answer with ``ok: false`` and the
reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import orjson

from ..errors import Problem

__all__ = [
    "EXTENSION_CAPABILITIES",
    "PROTOCOL_VERSION",
    "RUNTIME_TYPE",
    "STANDARD_CAPABILITIES",
    "BadMessage",
    "Refused",
    "Request",
    "encode",
    "parse_request",
    "requested_graph",
]

#: The protocol version the endpoint speaks: that of fbp-protocol 0.9.8's schemas.
PROTOCOL_VERSION = "0.8"
RUNTIME_TYPE = "trio-launcher"
STANDARD_CAPABILITIES = (
    "protocol:runtime",
    "protocol:graph",
    "protocol:component",
    "protocol:network",
    "network:control",
    "network:status",
    "network:data",
    "component:getsource",
    "component:setsource",
    "protocol:trace",
)
#: The extensions, each a set of commands (docs/flows.md, "The FBP endpoint").
EXTENSION_CAPABILITIES = (
    "trio-launcher:graph-list",
    "trio-launcher:graph-delete",
    "trio-launcher:graph-set",
    "trio-launcher:runtimes",
    "trio-launcher:breakpoints",
    "trio-launcher:step",
    "trio-launcher:dependencies",
)


class BadMessage(Exception):
    """A message that is not an FBP protocol message; the text says what is wrong."""


@attrs.frozen
class Request:
    """A client's message. ``secret`` is the top-level one, else the payload's (older clients)."""

    protocol: str
    command: str
    payload: Mapping[str, Any]
    secret: str | None = attrs.field(default=None, repr=False)
    request_id: str | None = None


class Refused(Exception):
    """A command that cannot be done: ``reason``, and a flow's ``problems`` if it was refused."""

    def __init__(self, reason: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = tuple(problems)

    def payload(self) -> dict[str, Any]:
        """The reason (and problems) as an answer's payload says them, without ``ok``."""
        payload: dict[str, Any] = {"message": self.reason}
        if self.problems:
            payload["problems"] = [attrs.asdict(problem) for problem in self.problems]
        return payload


def parse_request(text: str | bytes) -> Request:
    """The request ``text`` holds; :class:`BadMessage` if it is not one."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadMessage("a message is a JSON object")
    protocol, command = message.get("protocol"), message.get("command")
    if not isinstance(protocol, str) or not isinstance(command, str):
        raise BadMessage("a message needs protocol and command strings")
    payload = message.get("payload", {})
    if not isinstance(payload, dict):
        raise BadMessage(f"{protocol}:{command}: payload must be an object")
    secret = message.get("secret", payload.get("secret"))
    request_id = message.get("requestId")
    return Request(
        protocol,
        command,
        {key: value for key, value in payload.items() if key != "secret"},
        secret if isinstance(secret, str) else None,
        request_id if isinstance(request_id, str) else None,
    )


def requested_graph(request: Request) -> str:
    """The graph a request names in its payload; :class:`Refused` if it names none."""
    graph = request.payload.get("graph")
    if not isinstance(graph, str) or not graph:
        raise Refused("No graph specified")
    return graph


def encode(protocol: str, command: str, payload: object, response_to: str | None = None) -> str:
    """The message as JSON text; ``responseTo`` only when it answers a request with an id."""
    message: dict[str, Any] = {"protocol": protocol, "command": command, "payload": payload}
    if response_to is not None:
        message["responseTo"] = response_to
    return orjson.dumps(message).decode()
