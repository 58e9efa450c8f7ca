"""Fixtures: an embedded broker on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from trio_launcher.broker import Broker, BrokerConfig, open_broker


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    config = BrokerConfig(port=0, auth_token="secret", task_request_timeout=30, auth_rate_limit=0)
    async with open_broker(config) as running:
        yield running
