"""A broker behind a TLS proxy: ``https://`` in the broker URI means HTTPS and ``wss://``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from tls_certificates import self_signed_contexts, tls_proxy

from trio_launcher.broker import BrokerConfig, open_broker
from trio_launcher.runner import RunnerConfig, run_runner
from trio_launcher.runner.grant import fetch_grant_token

CODE_TASK = {"code": "return [{'json': {'over': 'tls'}}]", "nodeMode": "runOnceForAllItems"}


async def test_a_runner_fetches_its_grant_and_runs_tasks_through_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, _client = self_signed_contexts(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # the proxy's CA
    config = BrokerConfig(port=0, auth_token="secret", task_request_timeout=20)
    async with open_broker(config) as broker, tls_proxy(server_context, broker.port) as port:
        runner_config = RunnerConfig(
            auth_token="secret", task_broker_uri=f"https://127.0.0.1:{port}", task_memory_limit_mb=0
        )
        assert runner_config.websocket_url == f"wss://127.0.0.1:{port}/runners/_ws"
        async with trio.open_nursery() as nursery:
            runner = await nursery.start(run_runner, runner_config)
            result = await broker.run_task("python", CODE_TASK)
            await runner.stop()
    assert result.result == [{"json": {"over": "tls"}}]


async def test_a_certificate_nobody_vouches_for_is_refused(tmp_path: Path) -> None:
    server_context, _client = self_signed_contexts(tmp_path)  # SSL_CERT_FILE not set
    config = BrokerConfig(port=0, auth_token="secret")
    async with open_broker(config) as broker, tls_proxy(server_context, broker.port) as port:
        runner_config = RunnerConfig(
            auth_token="secret", task_broker_uri=f"https://127.0.0.1:{port}", task_memory_limit_mb=0
        )
        refused = r"https://127\.0\.0\.1:\d+: .*CERTIFICATE_VERIFY_FAILED"
        with pytest.raises(ConnectionError, match=refused):
            await fetch_grant_token(runner_config)
