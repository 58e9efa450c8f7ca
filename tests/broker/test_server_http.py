"""The broker's HTTP surface: auth, WebSocket admission statuses, health and status."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio_websocket
from broker_fakes import bearer, fake_runner, ws_url

from trio_launcher.broker import Broker, BrokerConfig, open_broker
from trio_launcher.broker.grants import GrantTokens, RateLimiter


async def test_auth_grants_a_64_hex_token(broker: Broker) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{broker.url}/runners/auth", json={"token": "secret"})
    assert response.status_code == 200
    token = response.json()["data"]["token"]
    assert len(token) == 64 and int(token, 16) >= 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "invalid_type"),
        ({"token": 5}, 400, "invalid_type"),
        ({"token": ""}, 400, "too_small"),
        ({"token": "wrong"}, 403, "Forbidden"),
    ],
)
async def test_auth_refusals_match_n8n(
    broker: Broker, body: dict[str, object], status: int, message: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{broker.url}/runners/auth", json=body)
    assert (response.status_code, response.json()["message"]) == (status, message)


async def test_auth_is_rate_limited_per_client() -> None:
    config = BrokerConfig(port=0, auth_token="s", auth_rate_limit=3)
    async with open_broker(config) as broker, httpx.AsyncClient() as http:
        statuses = [
            (await http.post(f"{broker.url}/runners/auth", json={"token": "s"})).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


async def test_healthz_and_status(broker: Broker) -> None:
    async with fake_runner(broker), httpx.AsyncClient() as http:
        health = await http.get(f"{broker.url}/healthz")
        status = await http.get(f"{broker.url}/status")
    assert health.json() == {"status": "ok"}
    assert status.json()["runners"] == 1
    assert status.json()["offers"] == 1


async def test_unknown_path_is_404(broker: Broker) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{broker.url}/nope")).status_code == 404


async def _upgrade_status(url: str, headers: list[tuple[bytes, bytes]]) -> int:
    try:
        async with trio_websocket.open_websocket_url(url, extra_headers=headers):
            return 101
    except trio_websocket.ConnectionRejected as exc:
        return exc.status_code


async def test_websocket_admission_statuses(broker: Broker) -> None:
    base = broker.url.replace("http://", "ws://")
    good = broker.issue_grant_token()
    assert await _upgrade_status(f"{base}/runners/_ws", bearer(good)) == 400
    assert await _upgrade_status(f"{base}/runners/_ws?id=a", []) == 401
    assert (
        await _upgrade_status(f"{base}/runners/_ws?id=a", [(b"Authorization", b"Basic x")]) == 401
    )
    assert await _upgrade_status(f"{base}/other?id=a", bearer(good)) == 404
    assert await _upgrade_status(f"{base}/runners/_ws?id=a", bearer("0" * 64)) == 403
    # a grant offered on a refused request is not used up
    assert await _upgrade_status(ws_url(broker), bearer(good)) == 101


async def test_grant_tokens_are_single_use(broker: Broker) -> None:
    token = broker.issue_grant_token()
    assert await _upgrade_status(ws_url(broker), bearer(token)) == 101
    assert await _upgrade_status(ws_url(broker), bearer(token)) == 403


async def test_upgrade_refused_with_503_while_shutting_down() -> None:
    async with open_broker(BrokerConfig(port=0, auth_token="s")) as broker:
        token = broker.issue_grant_token()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(broker.shutdown)
            await trio.testing.wait_all_tasks_blocked()
            assert await _upgrade_status(ws_url(broker), bearer(token)) == 503


def test_grant_tokens_expire_after_ttl() -> None:
    grants = GrantTokens(ttl=30)
    token = grants.issue(now=100.0)
    assert not grants.take(token, now=130.5)
    fresh = grants.issue(now=100.0)
    assert grants.take(fresh, now=128.0)
    assert not grants.take(fresh, now=128.0)


def test_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(limit=2, window=1.0)
    assert [limiter.allow("ip", t) for t in (0.0, 0.1, 0.2)] == [True, True, False]
    assert limiter.allow("ip", 1.05)
    assert limiter.allow("other", 0.2)


def _upgrade_request(broker: Broker, *, with_key: bool) -> bytes:
    target = ws_url(broker).split(str(broker.port), 1)[1]
    lines = [
        f"GET {target} HTTP/1.1",
        "Host: x",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Authorization: Bearer {broker.issue_grant_token()}",
    ]
    if with_key:
        lines += ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_malformed_or_abandoned_upgrades_leave_the_broker_serving(broker: Broker) -> None:
    # Admitted (good token) but without Sec-WebSocket-Key: wsproto refuses it.
    stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
    await stream.send_all(_upgrade_request(broker, with_key=False))
    answer = await stream.receive_some()
    await stream.aclose()
    # A valid upgrade whose client is gone before the answer.
    stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
    await stream.send_all(_upgrade_request(broker, with_key=True))
    await stream.aclose()
    async with fake_runner(broker):
        result = await broker.run_task("python", {"code": "return []", "items": []})
    assert answer.startswith(b"HTTP/1.1 400")
    assert result.result == {"code": "return []", "items": []}
