"""The broker stops in each phase of the launcher's loop; the launcher serves the next broker.

Each phase that talks to the broker is hit with both ways a broker stops: a
graceful stop (drain, then close 1001) and an abrupt one (every socket gone).
"""

from __future__ import annotations

import pytest
import trio
from launcher_fakes import code_task, launcher_config, launching, python_runner

from trio_launcher.broker import Broker, BrokerConfig, open_broker
from trio_launcher.launcher import Phase

HANG_GUARD = 60


class StoppableBroker:
    """A broker on a fixed port that a test stops gracefully or abruptly."""

    def __init__(self, config: BrokerConfig) -> None:
        self._config = config
        self._scope = trio.CancelScope()
        self._graceful = trio.Event()
        self._stopped = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[Broker]) -> None:
        with self._scope:
            async with open_broker(self._config) as broker:
                task_status.started(broker)
                await self._graceful.wait()
        self._stopped.set()

    async def stop(self, how: str) -> None:
        if how == "graceful":
            self._graceful.set()
        else:
            self._scope.cancel()
        await self._stopped.wait()


def broker_config(port: int = 0) -> BrokerConfig:
    return BrokerConfig(port=port, auth_token="s", auth_rate_limit=0, task_request_timeout=30)


@pytest.mark.parametrize("how", ["graceful", "abrupt"])
@pytest.mark.parametrize(
    "phase", [Phase.WAITING_FOR_BROKER, Phase.HANDSHAKING, Phase.RUNNER_RUNNING]
)
async def test_the_launcher_recovers_from_a_broker_stop_in_every_phase(
    phase: Phase, how: str
) -> None:
    # The runner gives up on a lost broker at once, with exit code 4.
    spec = python_runner(env_overrides={"TRIO_LAUNCHER_RECONNECT_DELAY": "0"})
    first = StoppableBroker(broker_config())
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            broker: Broker = await nursery.start(first.serve)
            async with launching(launcher_config(broker, spec)) as launcher:
                if phase is Phase.RUNNER_RUNNING:
                    await broker.run_task("python", code_task("return []"))
                await launcher.wait_for_phase("python", phase)
                await first.stop(how)
                failed = await launcher.wait_for_phase("python", Phase.BACKING_OFF)
                async with open_broker(broker_config(broker.port)) as second:
                    result = await second.run_task("python", code_task("return [{'json': {}}]"))
    assert failed.reason is not None
    assert result.result == [{"json": {}}]
