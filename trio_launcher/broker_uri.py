"""``N8N_RUNNERS_TASK_BROKER_URI``: the broker's address, as the runner and the launcher take it.

The launcher and the runner reach the broker's HTTP and WebSocket endpoints
at its ``host:port``, any path dropped, as n8n's runners do. The scheme says
whether TLS is in the way: ``http`` and ``ws`` are plain (HTTP and ``ws://``),
``https`` and ``wss`` mean a broker behind a TLS proxy (HTTPS and ``wss://``,
certificates checked against the system's CAs or ``SSL_CERT_FILE``). n8n's own
runners always use plain ``ws://``; n8n's broker itself has no TLS. The URI
must have a host and no query string.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .config_error import ConfigIssue

__all__ = [
    "BROKER_URI_SCHEMES",
    "BROKER_URI_VARIABLE",
    "broker_http_url",
    "broker_netloc",
    "broker_uri_issues",
    "broker_websocket_url",
]

BROKER_URI_VARIABLE = "N8N_RUNNERS_TASK_BROKER_URI"
BROKER_URI_SCHEMES = ("http", "https", "ws", "wss")


def broker_netloc(uri: str) -> str:
    """``host:port`` of the broker URI (the only part runners and launchers use)."""
    return urlsplit(uri).netloc


def broker_uses_tls(uri: str) -> bool:
    """Whether the broker is reached through TLS (``https://`` or ``wss://``)."""
    return urlsplit(uri).scheme in ("https", "wss")


def broker_http_url(uri: str) -> str:
    """The base of the broker's HTTP endpoints: ``http(s)://host:port``."""
    scheme = "https" if broker_uses_tls(uri) else "http"
    return f"{scheme}://{broker_netloc(uri)}"


def broker_websocket_url(uri: str) -> str:
    """The runners' WebSocket endpoint: ``ws(s)://host:port/runners/_ws``."""
    scheme = "wss" if broker_uses_tls(uri) else "ws"
    return f"{scheme}://{broker_netloc(uri)}/runners/_ws"


def broker_uri_issues(uri: str) -> list[ConfigIssue]:
    """What is wrong with ``uri`` as a broker URI (nothing: an empty list)."""
    parts = urlsplit(uri) if _has_host_and_port(uri) else None
    if parts is None or parts.scheme not in BROKER_URI_SCHEMES:
        message = f"expected http(s)://HOST:PORT (or ws(s)://), got {uri!r}"
    elif parts.query:
        message = f"must not have a query string, got {uri!r}"
    else:
        return []
    return [ConfigIssue(key=BROKER_URI_VARIABLE, message=message)]


def _has_host_and_port(uri: str) -> bool:
    """Whether ``uri`` splits into a host and a valid (or no) port."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # also an unclosed IPv6 bracket
        return False
    return bool(parts.hostname)
