"""Matching throughput of the sans-IO BrokerCore with in-memory runners.

Each cycle is the whole life of a task: requester:taskrequest -> runner offer ->
broker:taskofferaccept -> runner:taskaccepted -> broker:taskready -> requester:tasksettings
-> broker:tasksettings -> runner:taskdone -> broker:taskdone, then the runner offers again.
As many requests are in flight as there are runners. ``server_loop`` also calls what
``Broker._apply`` calls after every core call (``next_deadline()``, and the cheap
``tasks_in_flight`` count it checks while shutting down).
"""

from __future__ import annotations

import time
from collections import deque

from _common import Target, arguments, emit, log, median

from trio_launcher.protocol.broker import BrokerCore, Output, SendToRequester, SendToRunner
from trio_launcher.protocol.messages import (
    BrokerTaskDone,
    BrokerTaskOfferAccept,
    BrokerTaskReady,
    BrokerTaskSettings,
    Message,
    RequesterTaskRequest,
    RequesterTaskSettings,
    RunnerInfo,
    RunnerTaskAccepted,
    RunnerTaskDone,
    RunnerTaskOffer,
)

SETTINGS = {"code": "return []", "nodeMode": "runOnceForAllItems", "items": [{"json": {}}]}
OFFER_MS = 5000  # as n8n's runners: validFor 5000 ms (+ jitter)


def registered_core(runners: int) -> BrokerCore:
    core = BrokerCore()
    for conn in range(runners):
        core.connect_runner(conn, f"runner-{conn}", time.perf_counter())
        core.receive_from_runner(conn, RunnerInfo("bench", ("python",)), time.perf_counter())
    return core


def run_cycles(runners: int, cycles: int, server_loop: bool) -> float:
    """Assignments per second over ``cycles`` full task cycles."""
    core = registered_core(runners)
    queue: deque[tuple[Message, str | int]] = deque()  # (message, runner or requester)
    offers = 0
    submitted = done = 0
    clock = time.perf_counter

    def feed(outputs: list[Output]) -> None:
        if server_loop:
            core.next_deadline()
            core.tasks_in_flight  # noqa: B018 - what the server reads, for its cost
        for o in outputs:
            if isinstance(o, SendToRunner):
                queue.append((o.message, o.connection))
            elif isinstance(o, SendToRequester):
                queue.append((o.message, o.requester))

    def offer(conn: int) -> None:
        nonlocal offers
        offers += 1
        message = RunnerTaskOffer(f"o{offers}", "python", OFFER_MS)
        feed(core.receive_from_runner(conn, message, clock()))

    def submit() -> None:
        nonlocal submitted
        submitted += 1
        request = RequesterTaskRequest(f"q{submitted}", "python")
        feed(core.receive_from_requester(f"local-{submitted}", request, clock()))

    start = clock()
    for conn in range(runners):
        offer(conn)
    for _ in range(min(runners, cycles)):
        submit()
    while done < cycles:
        message, peer = queue.popleft()
        if isinstance(peer, int):
            if isinstance(message, BrokerTaskOfferAccept):
                accepted = RunnerTaskAccepted(message.task_id)
                feed(core.receive_from_runner(peer, accepted, clock()))
            elif isinstance(message, BrokerTaskSettings):
                result = RunnerTaskDone(message.task_id, {"result": []})
                feed(core.receive_from_runner(peer, result, clock()))
                offer(peer)
        elif isinstance(message, BrokerTaskReady):
            settings = RequesterTaskSettings(message.task_id, SETTINGS)
            feed(core.receive_from_requester(peer, settings, clock()))
        elif isinstance(message, BrokerTaskDone):
            done += 1
            feed(core.forget_requester(peer, clock()))
            if submitted < cycles:
                submit()
    elapsed = clock() - start
    assert core.statistics().tasks_done == cycles
    return cycles / elapsed


def statistics_cost_us(runners: int, calls: int = 2000) -> float:
    core = registered_core(runners)
    start = time.perf_counter()
    for _ in range(calls):
        core.statistics()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    args = arguments(__doc__ or "", runners=100)
    cycles, repeats = (5000, 3) if args.quick else (20000, 5)
    figures: dict[str, float] = {}
    for label, server_loop in (("", False), ("_server_loop", True)):
        rates = [run_cycles(args.runners, cycles, server_loop) for _ in range(repeats)]
        log(f"server_loop={server_loop}: {[round(r) for r in rates]} assignments/s")
        figures[f"assignments_per_s{label}"] = round(median(rates))
        figures[f"assignments_per_s{label}_best"] = round(max(rates))
    for runners in (100, 1000):
        figures[f"statistics_call_us_{runners}_runners"] = round(statistics_cost_us(runners), 1)
    targets: dict[str, Target] = {
        "assignments_per_s": (">=", 5000),
        "assignments_per_s_server_loop": (">=", 5000),
    }
    emit(
        "broker_matching",
        {"runners": args.runners, "cycles": cycles, "repeats": repeats, "offer_valid_ms": OFFER_MS},
        figures,
        targets,
        ["median of repeats; one core; assignment = full request->done cycle"],
    )


if __name__ == "__main__":
    main()
