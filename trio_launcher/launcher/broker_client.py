"""The launcher's conversations with the broker: health, grant tokens, handshake."""

from __future__ import annotations

import httpx

from ..protocol import LocalProtocolError, RemoteProtocolError, decode, encode
from ..protocol.handshake import LauncherHandshake
from ..protocol.ids import hex_id
from ..transport import grant_token, websocket
from ..transport.http_client import failure_reason
from ..transport.websocket import ConnectionClosed, ConnectionRejected, HandshakeError
from .errors import AuthenticationFailed, BrokerUnavailable, HandshakeFailed

__all__ = ["fetch_grant_token", "handshake", "wait_for_broker"]

HTTP_TIMEOUT = 5.0
#: How long connecting and the WebSocket upgrade may take.
HANDSHAKE_TIMEOUT = 10.0


async def wait_for_broker(http: httpx.AsyncClient, base_url: str) -> None:
    """Return once ``GET /healthz`` answers 200; raise :class:`BrokerUnavailable` otherwise."""
    try:
        response = await http.get(f"{base_url}/healthz", timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise BrokerUnavailable(
            f"cannot reach the broker at {base_url}: {failure_reason(exc)}"
        ) from None
    if response.status_code != 200:
        raise BrokerUnavailable(f"broker health check answered HTTP {response.status_code}")


async def fetch_grant_token(http: httpx.AsyncClient, base_url: str, auth_token: str) -> str:
    """Trade the auth token for a single-use grant token (``POST /runners/auth``)."""
    try:
        return await grant_token.fetch_grant_token(http, base_url, auth_token)
    except grant_token.GrantTokenRefused:
        raise AuthenticationFailed(
            "the broker refused N8N_RUNNERS_AUTH_TOKEN: set it to the broker's auth token"
        ) from None
    except grant_token.GrantTokenUnavailable as exc:
        raise BrokerUnavailable(str(exc)) from None


async def handshake(websocket_url: str, task_type: str, grant: str) -> str:
    """Pose as a runner of ``task_type`` until the broker has a task; return its id.

    Registers, sends one offer that never expires, and defers the task the
    broker accepts it for, so the task stays pending for the real runner.
    """
    url = f"{websocket_url}?id={hex_id(16)}"
    headers = [("Authorization", f"Bearer {grant}")]
    machine = LauncherHandshake(task_type)
    try:
        async with websocket.connect(url, headers=headers, connect_timeout=HANDSHAKE_TIMEOUT) as ws:
            while not machine.done:
                for message in machine.receive(decode(await ws.get_message())):
                    await ws.send_message(encode(message))
    except ConnectionRejected as exc:
        if exc.status_code in (401, 403):
            raise AuthenticationFailed(
                f"the broker refused the launcher's grant token (HTTP {exc.status_code})"
            ) from None
        raise HandshakeFailed(
            f"the broker refused the WebSocket (HTTP {exc.status_code})"
        ) from None
    except ConnectionClosed as exc:
        closed = websocket.describe_close(exc.reason)
        raise BrokerUnavailable(f"the broker closed the connection ({closed})") from None
    except HandshakeError as exc:
        raise BrokerUnavailable(
            f"cannot open a WebSocket to {websocket_url}: {failure_reason(exc)}"
        ) from None
    except (RemoteProtocolError, LocalProtocolError) as exc:
        raise HandshakeFailed(f"protocol error during the handshake: {exc}") from None
    assert machine.task_id is not None
    return machine.task_id
