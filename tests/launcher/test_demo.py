"""``trio-launcher demo``: the whole on-demand lifecycle, run as a user would run it."""

from __future__ import annotations

import ast
import os
import re
import signal
from collections import Counter

import trio
from launcher_fakes import OutputLines, cli_command, cli_environment, has_exited, open_pidfds

from trio_launcher.process import ChildProcess, ExitStatus, run_child

HANG_GUARD = 60
#: A result as the demo prints it: a Python literal at the end of a line.
RESULT = re.compile(r": (\[.*\])$")


def printed_results(lines: list[str]) -> Counter[str]:
    """Every result printed, normalised so that equal results compare equal."""
    found: Counter[str] = Counter()
    for line in lines:
        match = RESULT.search(line)
        if match is not None:
            found[repr(ast.literal_eval(match.group(1)))] += 1
    return found


async def test_demo_runs_every_task_on_runners_started_on_demand() -> None:
    output = OutputLines()
    with trio.fail_after(HANG_GUARD):
        status = await run_child(
            cli_command("demo", "--idle-timeout", "1"), env=cli_environment(), on_output=output
        )
    assert status == ExitStatus(returncode=0), output.lines
    items = [{"json": {"double": n * 2}, "pairedItem": {"item": n - 1}} for n in (1, 2, 3)]
    # Three tasks on the first runner, then one more on a runner started again after idling.
    assert printed_results(output.of("stdout")) == Counter(
        {
            repr([{"json": {"sum": 285}}]): 2,
            repr([{"json": {"items": 3}}]): 1,
            repr(items): 1,
        }
    )


async def test_ctrl_c_stops_the_demo_and_its_runner_without_a_traceback() -> None:
    output = OutputLines()
    statuses: list[ExitStatus] = []

    async def demo(task_status: trio.TaskStatus[ChildProcess]) -> None:
        command = cli_command("demo", "--idle-timeout", "30")
        env = cli_environment()
        statuses.append(
            await run_child(command, env=env, on_output=output, task_status=task_status)
        )

    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            child = await nursery.start(demo)
            started = await output.wait_for("launcher started the runner (pid ")
            runner_pid = int(re.search(r"pid (\d+)", started).group(1))  # type: ignore[union-attr]
            (runner,) = open_pidfds([runner_pid]).values()
            os.kill(child.pid, signal.SIGINT)  # the demo only: the runner is not told
    try:
        assert statuses == [ExitStatus(returncode=130)], output.lines
        assert not any("Traceback" in line for line in output.of("stderr")), output.lines
        assert has_exited(runner)
    finally:
        os.close(runner)
