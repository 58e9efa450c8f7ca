"""Fetching a fresh grant token, for a runner that knows the broker's auth token."""

from __future__ import annotations

from .config import RunnerConfig
from .errors import AuthenticationRefused

__all__ = ["fetch_grant_token"]


async def fetch_grant_token(config: RunnerConfig) -> str:
    """Trade ``N8N_RUNNERS_AUTH_TOKEN`` for a single-use grant token.

    Raises :class:`AuthenticationRefused` if the broker refuses the auth token,
    :class:`ConnectionError` if it cannot be reached or gives none (worth retrying).
    """
    from ..broker_uri import broker_http_url
    from ..transport import grant_token
    from ..transport.http_client import broker_http_client

    uri = config.task_broker_uri
    try:
        async with broker_http_client(uri, timeout=10.0) as http:
            return await grant_token.fetch_grant_token(
                http, broker_http_url(uri), config.auth_token
            )
    except grant_token.GrantTokenRefused as exc:
        raise AuthenticationRefused("N8N_RUNNERS_AUTH_TOKEN", exc.status_code) from None
