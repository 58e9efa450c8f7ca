"""One HTTP request as the servers see it, and the response they answer it with."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import h11

from . import jsonlimit

__all__ = ["Request", "Response"]

_BEARER = re.compile(r"^bearer (.+)$", re.IGNORECASE)


@attrs.frozen
class Request:
    """One parsed HTTP request.

    ``headers`` keeps every header line, in order, with its name lower-case:
    a header sent twice is there twice.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    client: str

    @classmethod
    def from_h11(cls, head: h11.Request, client: str) -> Request:
        """The request of ``head`` (its body still empty), from peer address ``client``."""
        target = urlsplit(head.target.decode("latin-1"))
        return cls(
            method=head.method.decode("ascii"),
            path=target.path,
            query=parse_qs(target.query),
            headers=tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers
            ),
            body=b"",
            client=client,
        )

    def header(self, name: str) -> str | None:
        """Every value of header ``name`` (any case) joined with ``", "``, or None if absent."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key == wanted]
        return ", ".join(values) if values else None

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header (any case), or None."""
        match = _BEARER.match(self.header("authorization") or "")
        return None if match is None else match.group(1)

    @property
    def is_websocket_upgrade(self) -> bool:
        """Whether the request asks to switch to the WebSocket protocol."""
        upgrade = (self.header("upgrade") or "").lower()
        connection = (self.header("connection") or "").lower()
        return upgrade == "websocket" and "upgrade" in connection

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not JSON or nests too deeply."""
        return jsonlimit.loads(self.body)


@attrs.frozen
class Response:
    """A complete HTTP response."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    close: bool = False

    @classmethod
    def json(cls, status: int, obj: Any, *, close: bool = False) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(obj, separators=(",", ":")).encode(), close=close)
