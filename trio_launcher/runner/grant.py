"""Fetching a fresh grant token, for a runner that knows the broker's auth token."""

from __future__ import annotations

from .config import RunnerConfig
from .errors import AuthenticationRefused

__all__ = ["fetch_grant_token"]


async def fetch_grant_token(config: RunnerConfig) -> str:
    """Trade ``N8N_RUNNERS_AUTH_TOKEN`` for a single-use grant token.

    Raises :class:`AuthenticationRefused` if the broker refuses the auth token,
    :class:`ConnectionError` if it cannot be reached (worth retrying).
    """
    import httpx

    from ..transport.http_client import plain_http_client

    url = f"http://{config.broker_netloc}/runners/auth"
    try:
        async with plain_http_client(timeout=10.0) as http:
            response = await http.post(url, json={"token": config.auth_token})
    except httpx.HTTPError as exc:
        raise ConnectionError(f"cannot fetch a grant token from {url}: {exc!r}") from None
    if response.status_code in (401, 403):
        raise AuthenticationRefused("N8N_RUNNERS_AUTH_TOKEN", response.status_code)
    if response.status_code != 200:
        raise ConnectionError(f"grant token request answered HTTP {response.status_code}")
    try:
        token = response.json()["data"]["token"]
    except (ValueError, LookupError, TypeError):
        token = None
    if not isinstance(token, str):
        raise ConnectionError("the broker's grant token answer has no data.token string")
    return token
