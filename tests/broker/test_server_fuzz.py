"""Whatever one runner connection sends, the broker keeps serving the others."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio_websocket
from broker_fakes import bearer, fake_runner, settings, ws_url
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from trio_launcher.broker import Broker, BrokerConfig, open_broker

FUZZ = hypothesis_settings(max_examples=25, deadline=None)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
MESSAGE_TYPES = st.sampled_from(
    [
        "runner:info",
        "runner:taskoffer",
        "runner:taskaccepted",
        "runner:taskdone",
        "runner:taskerror",
        "runner:rpc",
        "runner:taskdatarequest",
        "broker:inforequest",
        "x",
    ]
)


async def still_serves(broker: Broker) -> None:
    async with fake_runner(broker, runner_id="good"):
        result = await broker.run_task("python", settings("after the fuzz"))
    assert result.result == settings("after the fuzz")


async def upgraded_stream(broker: Broker) -> tuple[trio.SocketStream, WSConnection]:
    """A raw connection past the WebSocket handshake."""
    stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
    client = WSConnection(ConnectionType.CLIENT)
    target = ws_url(broker, "fuzz").split(str(broker.port), 1)[1]
    request = Request(
        host="127.0.0.1", target=target, extra_headers=bearer(broker.issue_grant_token())
    )
    await stream.send_all(client.send(request))
    while True:
        client.receive_data(await stream.receive_some())
        if any(isinstance(event, AcceptConnection) for event in client.events()):
            return stream, client


@FUZZ
@given(garbage=st.binary(min_size=1, max_size=3000))
async def test_bytes_that_are_no_websocket_frames(garbage: bytes) -> None:
    async with open_broker(BrokerConfig(port=0, auth_token="s")) as broker:
        stream, _client = await upgraded_stream(broker)
        await stream.send_all(garbage)
        await stream.aclose()
        await still_serves(broker)


@FUZZ
@given(
    messages=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"type": MESSAGE_TYPES}, optional={"taskId": st.text(max_size=8)}
            ).flatmap(
                lambda base: st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3).map(
                    lambda extra: {**extra, **base}
                )
            ),
            JSON_VALUES,
        ),
        min_size=1,
        max_size=5,
    )
)
async def test_messages_that_break_the_protocol(messages: list[Any]) -> None:
    async with open_broker(BrokerConfig(port=0, auth_token="s")) as broker:
        token = broker.issue_grant_token()
        async with trio_websocket.open_websocket_url(
            ws_url(broker, "fuzz"), extra_headers=bearer(token)
        ) as ws:
            try:
                for message in messages:
                    await ws.send_message(json.dumps(message))
            except trio_websocket.ConnectionClosed:
                pass  # closed for a protocol error: only this connection
            await still_serves(broker)
