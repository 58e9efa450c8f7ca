"""The HTTP client of the launcher and the runner: plain HTTP to the broker and to runners.

Like n8n's launcher and runners, ours reach the broker at ``http://HOST:PORT``
whatever the scheme of ``N8N_RUNNERS_TASK_BROKER_URI`` (there is no TLS on
the runner socket either, reference 2.3), and a runner's health endpoint is
plain HTTP on the loopback interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["plain_http_client"]


def plain_http_client(*, timeout: float = 5.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``http://`` URLs.

    It is made without httpx's default TLS context, which it never uses: that
    context loads the CA bundle, 2.9 MB of an idle launcher's 36 MB.
    """
    import httpx

    return httpx.AsyncClient(timeout=timeout, verify=False)
