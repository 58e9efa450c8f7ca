"""The HTTP clients of the launcher and the runner: to the broker, and to runners.

The broker is reached at ``http://HOST:PORT``, or through TLS at
``https://HOST:PORT`` when ``N8N_RUNNERS_TASK_BROKER_URI`` says ``https`` or
``wss`` (:mod:`trio_launcher.broker_uri`); a runner's health endpoint is
plain HTTP on the loopback interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["broker_http_client", "failure_reason", "plain_http_client"]


def plain_http_client(*, timeout: float = 5.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``http://`` URLs.

    It is made without httpx's default TLS context, which it never uses: that
    context loads the CA bundle, 2.9 MB of an idle launcher's 36 MB.
    """
    import httpx

    return httpx.AsyncClient(timeout=timeout, verify=False, limits=_limits())


def broker_http_client(broker_uri: str, *, timeout: float = 5.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for the broker at ``broker_uri``.

    Through TLS, the broker's certificate is checked against the system's CA
    certificates (or ``SSL_CERT_FILE``), as for ``wss://``; without TLS no
    CA bundle is loaded (:func:`plain_http_client`).
    """
    from ..broker_uri import broker_uses_tls

    if not broker_uses_tls(broker_uri):
        return plain_http_client(timeout=timeout)
    import ssl

    import httpx

    context = ssl.create_default_context()
    return httpx.AsyncClient(timeout=timeout, verify=context, limits=_limits())


#: Seconds a pooled connection may sit idle before it is dropped: less than the
#: broker's keep-alive timeout (5 s, n8n's too), so that a request never goes out
#: on a connection the broker is closing at that moment (it would fail unanswered).
POOLED_CONNECTION_IDLE = 2.0


def _limits() -> httpx.Limits:
    import httpx

    return httpx.Limits(keepalive_expiry=POOLED_CONNECTION_IDLE)


def failure_reason(exc: BaseException) -> str:
    """What went wrong, for the user: the first text along the causes, else the error's kind.

    httpx's ``ConnectError`` has no text of its own when TLS fails: the
    certificate problem is in its cause.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
