"""``N8N_RUNNERS_TASK_BROKER_URI``: the broker's address, as the runner and the launcher take it.

Only ``host:port`` is used, as n8n's runners use it: the launcher and the
runner reach the broker's HTTP and WebSocket endpoints there, whatever the
scheme and path say. The scheme must still be one the broker serves (``http``
and ``ws``, or ``https`` and ``wss`` behind a TLS proxy), and the URI must have
a host and no query string.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .config_error import ConfigIssue

__all__ = ["BROKER_URI_SCHEMES", "BROKER_URI_VARIABLE", "broker_netloc", "broker_uri_issues"]

BROKER_URI_VARIABLE = "N8N_RUNNERS_TASK_BROKER_URI"
BROKER_URI_SCHEMES = ("http", "https", "ws", "wss")


def broker_netloc(uri: str) -> str:
    """``host:port`` of the broker URI (the only part runners and launchers use)."""
    return urlsplit(uri).netloc


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
