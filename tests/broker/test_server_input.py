"""Unauthenticated input never stops the broker, never fills its memory, never locks out."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from broker_fakes import fake_runner, settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from raw_http import bytes_taken, exchange, post, status_of

from trio_launcher.broker import Broker, BrokerConfig, open_broker

FUZZ = hypothesis_settings(max_examples=60, deadline=None)
AUTH = "/runners/auth"
MiB = 1024 * 1024


async def grant_status(broker: Broker, token: str = "s") -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{broker.url}{AUTH}", json={"token": token})
    return response.status_code


# --- what the parser and the token comparison get ------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # deeper than the parser's recursion, yet short enough for a token's body
        (b"[" * 4000, 400),
        (b'{"token": ' + b"[" * 2000 + b"]" * 2000 + b"}", 400),
        (b'{"token": ' + b'{"a": ' * 550 + b"1" + b"}" * 550 + b"}", 400),
        (b"[" * 100_000, 413),
        (b'{"token": "\\ud800"}', 403),  # a lone surrogate: no valid text
        (b'{"token": "s\\udcff"}', 403),
        (b'{"token": "\\u00e9t\\u00e9"}', 403),  # text, just not the token
    ],
)
async def test_hostile_auth_bodies_are_refused_and_the_broker_goes_on(
    body: bytes, status: int
) -> None:
    async with open_broker(BrokerConfig(port=0, auth_token="s")) as broker:
        answer = await exchange(broker.port, post(AUTH, body, "Content-Type: application/json"))
        assert status_of(answer) == status
        assert await grant_status(broker) == 200


NESTED = st.integers(min_value=0, max_value=4000).map(lambda n: b"[" * n + b"]" * n)
TOKENS = st.text(st.characters(codec=None), max_size=12).map(
    lambda t: json.dumps({"token": t}).encode()
)
BODIES = st.one_of(
    st.binary(max_size=3000),
    NESTED,
    NESTED.map(lambda nested: b'{"token": ' + nested + b"}"),
    TOKENS,
    st.builds(lambda n: b'{"token": ' * n, st.integers(min_value=1, max_value=5000)),
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/plain", "", "application/json; charset=latin-1", "x/" + "y" * 300]
)


@st.composite
def length_headers(draw: st.DrawFn, body: bytes) -> list[str]:
    kind = draw(st.sampled_from(["exact", "shorter", "longer", "huge", "garbage", "chunked"]))
    if kind == "chunked":
        return ["Transfer-Encoding: chunked"]
    value = {
        "exact": str(len(body)),
        "shorter": str(max(len(body) - draw(st.integers(1, 10)), 0)),
        "longer": str(len(body) + draw(st.integers(1, 10))),
        "huge": str(2**40),
        "garbage": draw(st.sampled_from(["-1", "abc", "1e3", " ", "0x10"])),
    }[kind]
    return [f"Content-Length: {value}"]


@st.composite
def auth_requests(draw: st.DrawFn) -> bytes:
    body = draw(BODIES)
    headers = [f"Content-Type: {draw(CONTENT_TYPES)}", *draw(length_headers(body))]
    if headers[-1] == "Transfer-Encoding: chunked" and draw(st.booleans()):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return post(AUTH, body, *headers)


@FUZZ
@given(request=st.one_of(auth_requests(), st.binary(min_size=1, max_size=3000)))
async def test_whatever_reaches_the_auth_endpoint_a_valid_auth_still_gets_a_grant(
    request: bytes,
) -> None:
    async with open_broker(BrokerConfig(port=0, auth_token="s")) as broker:
        answer = await exchange(broker.port, request)
        if answer:
            assert status_of(answer) < 500
        assert await grant_status(broker) == 200


# --- body sizes ---------------------------------------------------------------------


async def test_an_auth_body_longer_than_a_token_is_refused_with_413(broker: Broker) -> None:
    body = json.dumps({"token": "x" * 5000}).encode()
    answer = await exchange(broker.port, post(AUTH, body))
    assert status_of(answer) == 413


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (AUTH, ()),
        ("/tasks", ()),
        ("/tasks", ("Authorization: Bearer wrong",)),
        ("/healthz", ()),
        ("/nowhere", ()),
    ],
)
async def test_large_unauthenticated_bodies_are_not_read(
    broker: Broker, path: str, headers: tuple[str, ...], chunked: bool
) -> None:
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {256 * MiB}"
    head = post(path, b"", *headers, length)
    # Four at once, as an attacker would: the broker reads a few KiB of each
    # (what the connection took is at most that plus the kernel's buffers).
    taken: list[int] = []

    async def one() -> None:
        taken.append(await bytes_taken(broker.port, head, most=256 * MiB, chunked=chunked))

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(one)
    assert max(taken) < 32 * MiB
    assert await grant_status(broker, "secret") == 200


async def test_an_authenticated_body_is_capped_at_the_max_payload() -> None:
    config = BrokerConfig(port=0, auth_token="s", requester_token="r", max_payload=10_000)
    async with open_broker(config) as broker:
        body = json.dumps({"taskType": "python", "settings": "x" * 20_000}).encode()
        answer = await exchange(broker.port, post("/tasks", body, "Authorization: Bearer r"))
    assert status_of(answer) == 413


async def test_an_authenticated_body_up_to_the_max_payload_is_taken() -> None:
    config = BrokerConfig(port=0, auth_token="s", requester_token="r", max_payload=100_000)
    async with open_broker(config) as broker, fake_runner(broker), httpx.AsyncClient() as http:
        task = {"taskType": "python", "settings": settings("y" * 50_000)}
        response = await http.post(
            f"{broker.url}/tasks", json=task, headers={"Authorization": "Bearer r"}
        )
    assert response.status_code == 200
    assert response.json()["result"] == settings("y" * 50_000)


# --- rate limits ----------------------------------------------------------------------


async def test_a_flood_of_wrong_tokens_does_not_lock_out_the_right_one(
    mock_clock: trio.testing.MockClock,
) -> None:
    config = BrokerConfig(port=0, auth_token="s", auth_rate_limit=3, refused_rate_limit=3)
    async with open_broker(config) as broker, httpx.AsyncClient() as http:
        flood = [
            (await http.post(f"{broker.url}{AUTH}", json={"token": f"guess{i}"})).status_code
            for i in range(30)
        ]
        right = await http.post(f"{broker.url}{AUTH}", json={"token": "s"})
    assert flood[:3] == [403] * 3 and set(flood[3:]) == {429}
    assert right.status_code == 200


async def test_a_flood_of_wrong_requester_tokens_does_not_lock_out_the_right_one(
    mock_clock: trio.testing.MockClock,
) -> None:
    config = BrokerConfig(port=0, auth_token="s", requester_token="r", refused_rate_limit=3)
    url = "/tasks"
    async with open_broker(config) as broker, fake_runner(broker), httpx.AsyncClient() as http:
        task = {"taskType": "python", "settings": settings("after the flood")}
        flood = [
            (
                await http.post(
                    f"{broker.url}{url}", json=task, headers={"Authorization": f"Bearer g{i}"}
                )
            ).status_code
            for i in range(30)
        ]
        right = await http.post(
            f"{broker.url}{url}", json=task, headers={"Authorization": "Bearer r"}
        )
    assert flood[:3] == [401] * 3 and set(flood[3:]) == {429}
    assert right.status_code == 200
    assert right.json()["result"] == settings("after the flood")
