"""``trio-launcher demo``: the whole on-demand lifecycle, run as a user would run it."""

from __future__ import annotations

import ast
import re
from collections import Counter

import trio
from launcher_fakes import OutputLines, cli_command, cli_environment

from trio_launcher.process import ExitStatus, run_child

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
