"""The launcher's health endpoint: where it listens, a port in use, and readiness."""

from __future__ import annotations

from functools import partial

import httpx
import pytest
import trio
from launcher_fakes import (
    FAST_BACKOFF,
    cli_command,
    cli_environment,
    free_port,
    launcher_config,
    launching,
)

from trio_launcher.broker import Broker, BrokerConfig, open_broker
from trio_launcher.config_error import ConfigError
from trio_launcher.launcher import Launcher, Phase, run_launcher
from trio_launcher.process import ExitStatus, run_child

HANG_GUARD = 60


async def health(host: str, launcher: Launcher) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://{host}:{launcher.health_port}/healthz")


async def test_the_health_endpoint_listens_on_the_loopback_address_only(broker: Broker) -> None:
    async with launching(launcher_config(broker)) as launcher:
        assert (await health("127.0.0.1", launcher)).status_code == 200
        # 127.0.0.2 is the loopback interface too: only a socket bound to every
        # address (or to it) answers there.
        with pytest.raises(httpx.ConnectError):
            await health("127.0.0.2", launcher)


async def test_the_health_host_setting_chooses_the_address(broker: Broker) -> None:
    async with launching(launcher_config(broker, health_check_host="0.0.0.0")) as launcher:
        assert (await health("127.0.0.2", launcher)).status_code == 200


async def test_a_health_port_in_use_is_an_error_naming_the_setting(broker: Broker) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            await run_launcher(launcher_config(broker, health_check_port=port))
    [problem] = raised.value.problems
    assert problem.startswith("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT:")
    assert f"127.0.0.1:{port}" in problem


async def test_launch_exits_1_when_its_health_port_is_in_use(broker: Broker) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        env = cli_environment(
            N8N_RUNNERS_AUTH_TOKEN=broker.auth_token,
            N8N_RUNNERS_TASK_BROKER_URI=broker.url,
            N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT=str(listeners[0].socket.getsockname()[1]),
        )
        with trio.fail_after(HANG_GUARD):
            status = await run_child(cli_command("launch", "python"), env=env)
    assert status == ExitStatus(returncode=1)


async def test_not_ready_while_the_broker_refuses_the_auth_token(broker: Broker) -> None:
    async with launching(launcher_config(broker, auth_token="wrong")) as launcher:
        await launcher.wait_for_phase("python", Phase.BACKING_OFF)
        body = (await health("127.0.0.1", launcher)).json()
    assert body["ready"] is False
    assert body["runners"]["python"]["broker_ready"] is False


async def test_ready_once_the_broker_answers_and_not_after_it_stops() -> None:
    port = free_port()
    config = BrokerConfig(port=port, auth_token="s", auth_rate_limit=0)
    with trio.fail_after(HANG_GUARD):
        async with open_broker(config) as broker:
            launch_config = launcher_config(broker)
        async with trio.open_nursery() as nursery:
            launcher: Launcher = await nursery.start(
                partial(run_launcher, launch_config, backoff=FAST_BACKOFF)
            )
            await launcher.wait_for_phase("python", Phase.BACKING_OFF)
            before = (await health("127.0.0.1", launcher)).json()
            async with open_broker(config):
                await launcher.wait_until_ready()
                during = (await health("127.0.0.1", launcher)).json()
            await launcher.wait_for_phase("python", Phase.BACKING_OFF)
            after = (await health("127.0.0.1", launcher)).json()
            nursery.cancel_scope.cancel()
    assert [before["ready"], during["ready"], after["ready"]] == [False, True, False]
