"""How many runner WebSocket connections one broker process holds.

Three processes: this one orchestrates and measures; ``--role broker`` runs our broker
(``BrokerConfig(auth_rate_limit=0)``) and runs tasks on request; ``--role clients``
opens N connections, each fetching a grant token, registering as a ``bench`` runner and
offering once (``validFor: -1``, as the launcher does). Reported: registered count (the
broker's ``GET /status``), broker RSS before/after, time to connect them all, broker CPU
while they idle, and task round trips while they are all connected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import IO, Any

import httpx
import psutil
import trio
import trio_websocket
from _common import PYTHON, Target, arguments, emit, log, median, pct, raise_nofile, reap_children

from trio_launcher.broker import BrokerConfig, open_broker

TOKEN = "bench-token"


# --- the broker process --------------------------------------------------------------


async def broker_role() -> None:
    async with open_broker(BrokerConfig(port=0, auth_token=TOKEN, auth_rate_limit=0)) as broker:
        print(json.dumps({"url": broker.url}), flush=True)
        while line := await trio.to_thread.run_sync(sys.stdin.readline):
            times = []
            for _ in range(int(line)):
                start = time.perf_counter()
                await broker.run_task("bench", {"code": "return []"})
                times.append((time.perf_counter() - start) * 1000)
            print(json.dumps(times), flush=True)


# --- the clients process ---------------------------------------------------------------


async def one_client(
    n: int,
    url: str,
    http: httpx.AsyncClient,
    gate: trio.Semaphore,
    registered: list[int],
    nursery: trio.Nursery,
) -> None:
    async with gate:
        response = await http.post(f"{url}/runners/auth", json={"token": TOKEN})
        grant = response.json()["data"]["token"]
        ws_url = f"{url.replace('http', 'ws', 1)}/runners/_ws?id=bench-{n}"
        headers = [(b"Authorization", f"Bearer {grant}".encode())]
        ws = await trio_websocket.connect_websocket_url(nursery, ws_url, extra_headers=headers)
    offer = {"type": "runner:taskoffer", "taskType": "bench", "validFor": -1}
    offers = 0
    while True:
        try:
            message = json.loads(await ws.get_message())
        except trio_websocket.ConnectionClosed:
            return
        kind = message["type"]
        if kind == "broker:inforequest":
            await ws.send_message('{"type":"runner:info","name":"bench","types":["bench"]}')
        elif kind == "broker:runnerregistered":
            registered.append(n)
        elif kind == "broker:taskofferaccept":
            reply = {"type": "runner:taskaccepted", "taskId": message["taskId"]}
            await ws.send_message(json.dumps(reply))
            continue
        elif kind == "broker:tasksettings":
            reply = {"type": "runner:taskdone", "taskId": message["taskId"], "data": {"result": []}}
            await ws.send_message(json.dumps(reply))
        else:
            continue
        offers += 1
        await ws.send_message(json.dumps({**offer, "offerId": f"o{n}-{offers}"}))


async def clients_role(url: str, count: int) -> None:
    registered: list[int] = []
    gate = trio.Semaphore(64)
    # Pooled connections expire before the broker's 5 s keep-alive closes them.
    limits = httpx.Limits(max_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http, trio.open_nursery() as nursery:
        start = time.perf_counter()
        for n in range(count):
            nursery.start_soon(one_client, n, url, http, gate, registered, nursery)
        with trio.move_on_after(90):
            while len(registered) < count:  # noqa: ASYNC110 - a count, not an event
                await trio.sleep(0.01)
        elapsed = time.perf_counter() - start
        print(json.dumps({"registered": len(registered), "connect_s": elapsed}), flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)  # until the orchestrator closes stdin
        nursery.cancel_scope.cancel()


# --- the orchestrator -------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    command = [PYTHON, __file__, *args]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_json(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{proc.args!r} exited ({proc.wait()}) without an answer")
    return json.loads(line)


def send(stdin: IO[str] | None, text: str) -> None:
    assert stdin is not None
    stdin.write(text)
    stdin.flush()


def stop(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        if proc.stdin:
            proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def orchestrate(count: int, quick: bool) -> tuple[dict[str, Any], list[str]]:
    nofile = raise_nofile(2 * count + 256)  # inherited by both children
    tasks = "50\n" if quick else "200\n"
    broker = spawn("--role", "broker")
    url = read_json(broker)["url"]
    broker_ps = psutil.Process(broker.pid)
    single = spawn("--role", "clients", "--url", url, "--connections", "1")
    read_json(single)
    send(broker.stdin, tasks)
    rtt_single = read_json(broker)  # the baseline: one runner connected
    stop(single)
    while httpx.get(f"{url}/status").json()["connections"]:
        time.sleep(0.05)
    rss_before = broker_ps.memory_info().rss
    clients = spawn("--role", "clients", "--url", url, "--connections", str(count))
    clients_ps = psutil.Process(clients.pid)
    done = read_json(clients)
    clients_cpu = sum(clients_ps.cpu_times()[:2])
    broker_cpu = sum(broker_ps.cpu_times()[:2])
    log(f"{done['registered']} registered in {done['connect_s']:.2f} s")
    status = httpx.get(f"{url}/status").json()
    time.sleep(1)
    rss_after = broker_ps.memory_info().rss
    window = 2.0 if quick else 5.0
    cpu = broker_ps.cpu_times()
    time.sleep(window)
    idle_cpu = sum(broker_ps.cpu_times()[:2]) - sum(cpu[:2])
    send(broker.stdin, tasks)
    rtt = read_json(broker)
    stop(clients, broker)
    figures = {
        "connections_requested": count,
        "registered_runners": status["runners"],
        "open_connections": status["connections"],
        "connect_all_s": round(done["connect_s"], 2),
        "connections_per_s": round(done["registered"] / done["connect_s"], 1),
        "connect_cpu_s_broker": round(broker_cpu, 2),
        "connect_cpu_s_clients": round(clients_cpu, 2),
        "broker_rss_idle_mb": round(rss_before / 2**20, 1),
        "broker_rss_connected_mb": round(rss_after / 2**20, 1),
        "broker_kb_per_connection": round((rss_after - rss_before) / 1024 / max(count, 1), 1),
        "broker_idle_cpu_pct": round(idle_cpu / window * 100, 1),
        "round_trip_p50_ms": round(median(rtt), 2),
        "round_trip_p99_ms": round(pct(rtt, 99), 2),
        "round_trip_p50_ms_one_runner": round(median(rtt_single), 2),
        "round_trip_p99_ms_one_runner": round(pct(rtt_single, 99), 2),
    }
    return figures, [f"RLIMIT_NOFILE soft limit {nofile}", f"idle CPU window {window} s"]


def main() -> None:
    args = arguments(__doc__ or "", role="", url="", connections=0)
    if args.role == "broker":
        trio.run(broker_role)
        return
    if args.role == "clients":
        trio.run(clients_role, args.url, args.connections)
        return
    count = args.connections or (200 if args.quick else 1000)
    try:
        figures, notes = orchestrate(count, args.quick)
        if count < 1000:
            notes.append("fewer than the target's 1000 connections: target not checked")
    finally:
        left = reap_children()
    if left:
        notes.append(f"processes left behind and killed: {left}")
    targets: dict[str, Target] = {"registered_runners": (">=", 1000)} if count >= 1000 else {}
    emit(
        "broker_connections",
        {"connections": count, "clients": "one separate Trio process", "auth_rate_limit": 0},
        figures,
        targets,
        ["round trips: broker.run_task() in the broker process, a client answers", *notes],
    )


if __name__ == "__main__":
    main()
