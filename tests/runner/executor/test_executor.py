"""TaskExecutor: tasks in real processes forked by the pre-started worker."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from worker_pids import running_in_worker

from trio_launcher.runner.executor.outcome import WORKER_LOST_ERROR
from trio_launcher.runner.executor.task_executor import TaskExecutor, TaskOutcome, open_executor
from trio_launcher.runner.sandbox.confinement_check import is_on
from trio_launcher.runner.sandbox.policy import SandboxPolicy

ALL = "runOnceForAllItems"
EACH = "runOnceForEachItem"
HANG_GUARD = 30


def task(code: str, **settings: Any) -> dict[str, Any]:
    return {"code": code, "nodeMode": ALL, "items": [], **settings}


def process_gone(pid: int) -> bool:
    """True once *pid* no longer runs (a zombie waiting for init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
async def executor() -> AsyncIterator[TaskExecutor]:
    # These tests hold tasks on FIFOs and marker files in tmp_path: no Landlock here
    # (tests/runner/test_sandbox_kernel.py covers it).
    policy = SandboxPolicy.from_strings(stdlib_allow="os,sys", disabled_layers="landlock")
    with trio.fail_after(HANG_GUARD):
        async with open_executor(policy, memory_limit_mb=200) as running:
            yield running


class Started:
    """``on_started`` callback that records pids and lets a test wait for them."""

    def __init__(self, expected: int = 1) -> None:
        self.pids: list[int] = []
        #: The same processes' pids in their own PID namespace (the worker's), if alive.
        self.own_pids: list[int | None] = []
        self._expected = expected
        self.all_started = trio.Event()

    def __call__(self, pid: int) -> None:
        self.pids.append(pid)
        self.own_pids.append(_pid_inside(pid))
        if len(self.pids) == self._expected:
            self.all_started.set()


def _pid_inside(pid: int) -> int | None:
    """Process *pid*'s pid in the innermost PID namespace it is in (``NSpid``)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    line = next(line for line in status.splitlines() if line.startswith("NSpid:"))
    return int(line.split()[-1])


# -- running tasks -----------------------------------------------------------


async def test_a_task_runs_in_its_own_process_forked_by_the_worker(
    executor: TaskExecutor, capfd: pytest.CaptureFixture[str]
) -> None:
    started = Started()
    code = (
        'import os\nprint("hello")\nreturn [{"json": {"pid": os.getpid(), "ppid": os.getppid()}}]'
    )
    outcome = await executor.run(task(code), timeout=20, on_started=started)
    assert outcome.ok
    assert outcome.print_args == [["'hello'"]]
    assert isinstance(outcome.result, list)
    [item] = outcome.result
    assert started.pids[0] != os.getpid()
    if is_on(executor.worker_confinement()["namespaces"]):  # the worker is PID 1 in there
        assert item["json"]["ppid"] == 1 != item["json"]["pid"]
    else:
        assert item["json"]["pid"] == started.pids[0]
        assert item["json"]["ppid"] == executor.statistics().worker_pid
    await executor.wait_reaped()
    assert process_gone(started.pids[0])
    assert "[user code] hello" in capfd.readouterr().out


async def test_both_node_modes_run_in_task_processes(executor: TaskExecutor) -> None:
    items = [{"json": {"v": 1}}, {"json": {"v": 2}}]
    each = await executor.run(
        {"code": "return {'v': _item['json']['v'] * 2}", "nodeMode": EACH, "items": items},
        timeout=20,
    )
    assert each.result == [
        {"json": {"v": 2}, "pairedItem": {"item": 0}},
        {"json": {"v": 4}, "pairedItem": {"item": 1}},
    ]
    every = await executor.run(task("return len(_items)", items=items), timeout=20)
    assert every == TaskOutcome(result=2)


async def test_statistics_describe_the_executor(executor: TaskExecutor) -> None:
    stats = executor.statistics()
    assert stats.worker_pid is not None
    assert not process_gone(stats.worker_pid)
    assert stats.tasks_running == 0
    assert stats.worker_restarts == 0


async def test_rejected_code_never_starts_a_process(executor: TaskExecutor) -> None:
    started = Started()
    security = await executor.run(task("import subprocess"), timeout=20, on_started=started)
    syntax = await executor.run(task("return ("), timeout=20, on_started=started)
    assert security.error is not None
    assert security.error["message"] == "Security violations detected"
    assert syntax.error is not None
    assert "line 1" in syntax.error["message"]
    assert started.pids == []


async def test_large_payloads_go_both_ways(executor: TaskExecutor) -> None:
    items = [{"json": {"index": i, "text": "x" * 200}} for i in range(5000)]  # ~1.2 MB
    outcome = await executor.run(task("return _items", items=items), timeout=20)
    assert outcome.result == items


async def test_items_that_are_not_json_data_fail_only_their_task(executor: TaskExecutor) -> None:
    started = Started()
    outcome = await executor.run(
        task("return _items", items=[{"json": {"when": object()}}]), timeout=20, on_started=started
    )
    assert outcome.error is not None
    assert outcome.error["message"].startswith("Invalid task settings")
    assert started.pids == []
    assert (await executor.run(task("return [1]"), timeout=20)).result == [1]


async def test_concurrent_tasks_each_get_a_process(executor: TaskExecutor, tmp_path: Path) -> None:
    """Six tasks block on one FIFO until all six are running: only concurrency finishes this."""
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    code = (
        f"import os\nfd = os.open({str(fifo)!r}, os.O_RDONLY)\nos.read(fd, 1)\nreturn os.getpid()"
    )
    started = Started(expected=6)
    results: list[TaskOutcome] = []

    async def one() -> None:
        results.append(await executor.run(task(code), timeout=HANG_GUARD, on_started=started))

    writer: int | None = None
    try:
        with trio.fail_after(HANG_GUARD):
            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(one)
                await started.all_started.wait()
                assert executor.statistics().tasks_running == 6
                writer = await trio.to_thread.run_sync(
                    os.open, fifo, os.O_WRONLY, abandon_on_cancel=True
                )
                os.write(writer, b"x" * 6)
    finally:
        if writer is not None:
            os.close(writer)
    assert all(outcome.ok for outcome in results)
    assert {outcome.result for outcome in results} == set(started.own_pids)
    assert len(set(started.pids)) == 6


async def test_stderr_of_a_failed_task_becomes_the_description(executor: TaskExecutor) -> None:
    code = "import sys\nsys.stderr.write('details on stderr')\nraise ValueError('short')"
    outcome = await executor.run(task(code), timeout=20)
    assert outcome.error is not None
    assert outcome.error["message"] == "short"
    assert outcome.error["description"] == "details on stderr"
    assert outcome.error["lineNumber"] == 3


# -- timeouts, cancellation, resource limits --------------------------------


async def test_a_task_past_its_timeout_is_killed_and_reported(executor: TaskExecutor) -> None:
    started = Started()
    outcome = await executor.run(task("while True:\n    pass"), timeout=0.5, on_started=started)
    assert outcome.error == {
        "message": "Task execution timed out after 0.5 seconds",
        "description": "",
    }
    assert process_gone(started.pids[0])


async def test_continue_on_fail_turns_a_timeout_into_an_error_item(executor: TaskExecutor) -> None:
    outcome = await executor.run(task("while True:\n    pass", continueOnFail=True), timeout=0.5)
    assert outcome == TaskOutcome(
        result=[{"json": {"error": "Task execution timed out after 0.5 seconds"}}]
    )


async def test_cancelling_run_kills_the_task_process(executor: TaskExecutor) -> None:
    started = Started()

    async def forever() -> None:
        await executor.run(task("while True:\n    pass"), timeout=60, on_started=started)

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(forever)
            await started.all_started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert process_gone(started.pids[0])
    assert executor.statistics().tasks_running == 0


async def test_processes_the_task_started_die_with_it(executor: TaskExecutor) -> None:
    code = (
        "import os\n"
        "r, w = os.pipe()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.read(r, 1)  # blocks forever: this process holds the write end too\n"
        "return child"
    )
    outcome = await executor.run(task(code), timeout=20)
    assert isinstance(outcome.result, int)
    await executor.wait_reaped()
    assert not running_in_worker(executor, outcome.result)


async def test_running_out_of_memory_is_a_task_error(executor: TaskExecutor) -> None:
    outcome = await executor.run(task("x = 1\nblob = bytearray(4 * 1024**3)"), timeout=20)
    assert outcome.error is not None
    assert outcome.error["message"] == "Task ran out of memory (limit 200 MB)"
    assert outcome.error["lineNumber"] == 2
    assert (await executor.run(task("return 'fine'"), timeout=20)).result == "fine"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os\nos.abort()", "Task subprocess exited with code -6"),
        ("import os\nos.kill(os.getpid(), 9)", "Process was forcefully killed (SIGKILL)"),
    ],
)
async def test_a_process_that_ends_without_a_result(
    executor: TaskExecutor, code: str, message: str
) -> None:
    outcome = await executor.run(task(code), timeout=20)
    assert outcome.error is not None
    assert outcome.error["message"] == message
    converted = await executor.run(task(code, continueOnFail=True), timeout=20)
    assert converted.result == [{"json": {"error": message}}]


async def test_a_result_that_is_not_json_is_an_error(executor: TaskExecutor) -> None:
    outcome = await executor.run(task("a = []\na.append(a)\nreturn a"), timeout=20)
    assert outcome.error is not None
    assert outcome.error["message"].startswith("Task result could not be serialised")
    as_text = await executor.run(task("return {'f': print}"), timeout=20)
    assert as_text.result == {"f": "<built-in function print>"}  # default=str, as n8n


# -- the worker --------------------------------------------------------------


async def test_a_killed_worker_is_replaced_transparently(executor: TaskExecutor) -> None:
    old_pid = executor.statistics().worker_pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    outcome = await executor.run(task("return 'after'"), timeout=20)
    assert outcome.result == "after"
    stats = executor.statistics()
    assert stats.worker_restarts == 1
    assert stats.worker_pid not in (None, old_pid)


async def test_tasks_in_flight_fail_clearly_when_the_worker_dies(executor: TaskExecutor) -> None:
    started = Started()
    outcome: TaskOutcome | None = None

    async def long_task() -> None:
        nonlocal outcome
        outcome = await executor.run(task("while True:\n    pass"), timeout=60, on_started=started)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(long_task)
        await started.all_started.wait()
        worker_pid = executor.statistics().worker_pid
        assert worker_pid is not None
        os.kill(worker_pid, signal.SIGKILL)
    assert outcome is not None
    assert outcome.error == WORKER_LOST_ERROR
    assert process_gone(started.pids[0])
    assert (await executor.run(task("return 1"), timeout=20)).result == 1


async def test_closing_the_executor_stops_the_worker() -> None:
    with trio.fail_after(HANG_GUARD):
        async with open_executor(SandboxPolicy()) as executor:
            worker_pid = executor.statistics().worker_pid
            assert worker_pid is not None
            assert (await executor.run(task("return 1"), timeout=20)).ok
        assert process_gone(worker_pid)
        with pytest.raises(trio.ClosedResourceError):
            await executor.run(task("return 1"), timeout=20)
