"""The Python runner's executor alone: trivial tasks through the worker, no broker.

Separates the cost of process-per-task isolation (the worker forking a task
process, the task running and exiting, the reap) from the protocol layers
that ``bench_runner_tasks.py`` adds on top. Figures: tasks/s at concurrency
1 and 5, and CPU per task in the runner process and in the worker with its
task processes.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import trio
from _common import TRIVIAL_TASK, arguments, emit, log, tree_cpu

from trio_launcher.runner.executor.task_executor import TaskExecutor, open_executor
from trio_launcher.runner.sandbox.policy import SandboxPolicy


async def _run(executor: TaskExecutor, tasks: int, concurrency: int) -> float:
    started = time.perf_counter()

    async def worker() -> None:
        for _ in range(tasks // concurrency):
            await executor.run(TRIVIAL_TASK, timeout=30)

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    await executor.wait_reaped()
    return tasks / (time.perf_counter() - started)


async def measure(tasks: int) -> dict[str, Any]:
    async with open_executor(SandboxPolicy.from_strings()) as executor:
        await _run(executor, 30, 1)  # warm up
        worker_pid = executor.statistics().worker_pid
        assert worker_pid is not None
        runner = psutil.Process()
        sequential = await _run(executor, tasks, 1)
        # The tree: in its own PID namespace the worker is the child of the pid we know.
        worker_before, runner_before = tree_cpu(worker_pid), runner.cpu_times()
        concurrent = await _run(executor, tasks, 5)
        worker_after, runner_after = tree_cpu(worker_pid), runner.cpu_times()
    runner_cpu = (runner_after.user + runner_after.system) - (
        runner_before.user + runner_before.system
    )
    return {
        "tasks_per_s_c1": round(sequential, 1),
        "tasks_per_s_c5": round(concurrent, 1),
        "cpu_ms_per_task_runner_process": round(1000 * runner_cpu / tasks, 2),
        "cpu_ms_per_task_worker_and_tasks": round(1000 * (worker_after - worker_before) / tasks, 2),
    }


def main() -> None:
    args = arguments(__doc__ or "")
    tasks = 200 if args.quick else 1000
    figures = trio.run(measure, tasks)
    log(str(figures))
    emit(
        "executor",
        {"tasks": tasks, "code": TRIVIAL_TASK["code"]},
        figures,
        {},
        ["no target in the issues: the floor under bench_runner_tasks.py's figures"],
    )


if __name__ == "__main__":
    main()
