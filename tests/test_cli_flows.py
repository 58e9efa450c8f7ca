"""``trio-launcher flows serve`` and its client commands, as processes."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from cli_processes import CLI, Lines, environment, running
from cli_processes import flows_command as flows

from trio_launcher.process import ExitStatus, run_child

DOUBLE = {
    "id": "double",
    "processes": {
        "double": {
            "component": "Double",
            "metadata": {
                "runtime": "python",
                "source": "def handle(message, context, send):\n    send('out', message * 2)\n",
            },
        }
    },
    "inports": {"numbers": {"process": "double", "port": "in"}},
    "outports": {"doubled": {"process": "double", "port": "out"}},
}


@asynccontextmanager
async def serving(*options: str, **settings: str) -> AsyncIterator[str]:
    """``flows serve`` on a free port: its URL; stopped with SIGTERM after the block."""
    async with running("flows", "serve", "--port", "0", *options, **settings) as (
        child,
        output,
        statuses,
    ):
        line = await output.wait_for("listening on")
        while line not in output.of("stdout"):  # the log line on stderr says it too
            line = await output.wait_for("listening on")
        yield line.rsplit(" ", 1)[1]
        child.send_signal(signal.SIGTERM)
    assert statuses == [ExitStatus(returncode=0)]
    assert output.of("stdout") == [line]


async def tail(url: str, *argv: str, task_status: trio.TaskStatus[Lines]) -> None:
    """``flows tail`` as a child: its lines, once it follows the port."""
    lines = Lines()
    command = [*CLI, "flows", "tail", *argv, "--url", url]

    async def run() -> None:
        status = await run_child(command, env=environment(), on_output=lines)
        lines("exit", str(status.returncode))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await lines.wait_for("tailing")
        task_status.started(lines)


async def test_deploy_start_send_tail_stop_and_rm(tmp_path: Path) -> None:
    (tmp_path / "double.json").write_text(json.dumps(DOUBLE))
    async with serving() as url:
        deployed = await flows(url, "deploy", str(tmp_path / "double.json"))
        assert deployed == (0, "deployed double (revision 0)\n", "")
        assert (await flows(url, "start", "double"))[:2] == (0, "started double\n")
        async with trio.open_nursery() as nursery:
            tailed = await nursery.start(tail, url, "double", "doubled", "-n", "2")
            assert (await flows(url, "send", "double", "numbers", "21"))[0] == 0
            assert (await flows(url, "send", "double", "numbers", '"ab"'))[0] == 0
        assert tailed.of("stdout") == ["42", '"abab"']
        assert tailed.of("exit") == ["0"]
        code, out, _ = await flows(url, "ls", "--json")
        listed = [{"id": "double", "revision": 0, "state": "running", "deployed": True}]
        assert (code, json.loads(out)) == (0, listed)
        assert (await flows(url, "stop", "double"))[:2] == (0, "stopped double\n")
        assert (await flows(url, "rm", "double"))[:2] == (0, "removed double\n")
        assert (await flows(url, "ls"))[:2] == (0, "no flows\n")


async def test_runtimes_break_step_and_unbreak(tmp_path: Path) -> None:
    (tmp_path / "double.json").write_text(json.dumps(DOUBLE))
    async with serving() as url:
        code, out, _ = await flows(url, "runtimes", "--json")
        assert (
            code == 0
            and [r["id"] for r in json.loads(out)] == ["python", "node"][: len(json.loads(out))]
        )
        await flows(url, "deploy", str(tmp_path / "double.json"))
        await flows(url, "start", "double")
        code, out, _ = await flows(url, "break", "double/double", "--port", "in")
        assert (code, out) == (0, "breakpoint on double/double port in (pauses the module)\n")
        await flows(url, "send", "double", "numbers", "5")
        code, out, _ = await flows(url, "step", "--json")
        steps = json.loads(out)
        assert code == 0 and steps["double/double"]["outputStates"] == {"out": [10]}
        assert (await flows(url, "unbreak", "double/double"))[:2] == (
            0,
            "no breakpoint on double/double\n",
        )


async def test_a_refusal_exits_1_with_the_reason_and_bad_usage_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({**DOUBLE, "processes": {}}))
    (tmp_path / "not.json").write_text("{")
    async with serving() as url:
        code, _, err = await flows(url, "deploy", str(tmp_path / "bad.json"))
        assert code == 1
        assert (
            "refused: invalid flow" in err and "processes: a flow needs at least one process" in err
        )
        code, _, err = await flows(url, "start", "nope")
        assert (code, err) == (1, "trio-launcher flows start: refused: Requested graph not found\n")
        assert (await flows(url, "deploy", str(tmp_path / "not.json")))[0] == 2
        assert (await flows(url, "send", "double", "numbers", "{"))[0] == 2
        assert (await flows(url, "break", "double"))[0] == 2
        assert (await flows(url, "tail", "double", "doubled", "-n", "0"))[0] == 2
    code, _, err = await flows("ws://127.0.0.1:1", "ls")
    assert code == 1 and "cannot talk to ws://127.0.0.1:1" in err
    assert (await flows("http://127.0.0.1:1", "ls"))[0] == 2


async def test_serve_off_loopback_needs_a_secret_and_the_clients_send_it() -> None:
    async with running("flows", "serve", "--host", "0.0.0.0", "--port", "0") as (
        _,
        output,
        statuses,
    ):
        pass
    assert statuses == [ExitStatus(returncode=2)]
    assert "without a secret" in output.of("stderr")[0]
    async with serving(TRIO_LAUNCHER_FLOWS_SECRET="s3cret") as url:
        code, _, err = await flows(url, "ls")
        assert (code, err) == (
            1,
            "trio-launcher flows ls: refused: access denied: this runtime needs the right secret\n",
        )
        assert (await flows(url, "ls", "--secret", "s3cret"))[0] == 0
        assert (await flows(url, "ls", TRIO_LAUNCHER_FLOWS_SECRET="s3cret"))[0] == 0
