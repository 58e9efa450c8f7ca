"""``trio-launcher demo``: the whole lifecycle on one machine, nothing else needed.

Starts the embedded broker and a launcher for ``python`` with a short idle
timeout, then submits Python tasks and shows, with timings, the runner started
on demand, the results, the runner exiting when idle and starting again.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..broker import Broker
    from ..launcher import Launcher

__all__ = ["add_arguments", "positive_seconds", "run"]

TASKS = (
    ("sum of squares", "return [{'json': {'sum': sum(i * i for i in range(10))}}]"),
    ("item count", "return [{'json': {'items': len(_items)}}]"),
    ("echo per item", "return {'double': _item['json']['n'] * 2}"),
)


def positive_seconds(text: str) -> int:
    """A whole number of seconds, at least 1 (argparse type)."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {text!r}") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {seconds}")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the demo."""
    parser.add_argument(
        "--idle-timeout",
        type=positive_seconds,
        default=2,
        help="seconds a runner stays idle before it exits (at least 1; default 2)",
    )
    parser.add_argument("--verbose", action="store_true", help="also show the runner's output")


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every task returned its result."""
    import trio

    return trio.run(_demo, args.idle_timeout, args.verbose)


async def _demo(idle_timeout: int, verbose: bool) -> int:
    import os

    import attrs
    import trio

    from ..broker import BrokerConfig, open_broker
    from ..launcher import LauncherConfig, Phase, run_launcher
    from ..launcher.config import default_runner
    from ..logging_setup import setup_logging

    t0 = trio.current_time()

    def say(text: str) -> None:
        print(f"[{trio.current_time() - t0:6.2f}s] {text}", flush=True)

    setup_logging("info" if verbose else "error")
    async with open_broker(BrokerConfig(port=0, auth_rate_limit=100)) as broker:
        say(f"broker listening on {broker.url}")
        spec = default_runner("python")
        assert spec is not None
        spec = attrs.evolve(spec, health_check_port=_free_port())
        config = LauncherConfig(
            auth_token=broker.auth_token,
            runners=(spec,),
            task_broker_uri=broker.url,
            auto_shutdown_timeout=idle_timeout,
            environ=dict(os.environ),
        )
        async with trio.open_nursery() as nursery:
            launcher = await nursery.start(
                lambda task_status: run_launcher(
                    config, serve_health=False, task_status=task_status
                )
            )
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            say("launcher is waiting for work: no runner process is running")
            nursery.start_soon(_narrate, launcher, say)
            await _run_tasks(broker, say, TASKS)
            status = await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            say(f"runner exited when idle ({status.last_exit}); nothing runs now")
            await _run_tasks(broker, say, TASKS[:1])
            await launcher.wait_for_phase("python", Phase.HANDSHAKING)
            launches = launcher.statistics().runners["python"].launches
            say(f"runner exited when idle again; {launches} launches in all")
            nursery.cancel_scope.cancel()
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _narrate(launcher: Launcher, say: Callable[[str], None]) -> None:
    from ..launcher import Phase

    while True:
        status = await launcher.wait_for_change("python")
        if status.phase is Phase.RUNNER_RUNNING:
            say(f"task waiting -> launcher started the runner (pid {status.pid})")


async def _run_tasks(
    broker: Broker, say: Callable[[str], None], tasks: tuple[tuple[str, str], ...]
) -> None:
    import trio

    items = [{"json": {"n": n}} for n in (1, 2, 3)]

    async def one(name: str, code: str) -> None:
        started = trio.current_time()
        mode = "runOnceForEachItem" if "_item[" in code else "runOnceForAllItems"
        settings = {"code": code, "nodeMode": mode, "items": items, "continueOnFail": False}
        result = await broker.run_task("python", settings)
        took = (trio.current_time() - started) * 1000
        say(f"task {name!r} done in {took:.0f} ms: {result.result}")

    say(f"submitting {len(tasks)} task(s)")
    async with trio.open_nursery() as nursery:
        for name, code in tasks:
            nursery.start_soon(one, name, code)
