"""``POST /runners/auth``: trading the broker's auth token for a single-use grant token.

The launcher and a runner that knows the auth token both ask for grant
tokens this way; each turns the two failures into its own errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["GrantTokenRefused", "GrantTokenUnavailable", "fetch_grant_token"]


class GrantTokenRefused(Exception):
    """The broker refused the auth token (HTTP 401 or 403)."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"the broker refused the auth token (HTTP {status_code})")
        self.status_code = status_code


class GrantTokenUnavailable(ConnectionError):
    """No grant token this time (broker unreachable, or an answer without one): retry."""


async def fetch_grant_token(http: httpx.AsyncClient, base_url: str, auth_token: str) -> str:
    """The grant token the broker at ``base_url`` gives for ``auth_token`` (``http``'s timeout).

    Raises:
        GrantTokenRefused: the broker refused ``auth_token``.
        GrantTokenUnavailable: the broker could not be reached or gave no token.
    """
    import httpx

    from .http_client import failure_reason

    try:
        response = await http.post(f"{base_url}/runners/auth", json={"token": auth_token})
    except httpx.HTTPError as exc:
        reason = failure_reason(exc)
        raise GrantTokenUnavailable(f"cannot reach the broker at {base_url}: {reason}") from None
    if response.status_code in (401, 403):
        raise GrantTokenRefused(response.status_code)
    if response.status_code != 200:
        raise GrantTokenUnavailable(f"grant token request answered HTTP {response.status_code}")
    try:
        token = response.json()["data"]["token"]
    except (ValueError, LookupError, TypeError):
        token = None
    if not isinstance(token, str):
        raise GrantTokenUnavailable("the broker's grant token answer has no data.token string")
    return token
