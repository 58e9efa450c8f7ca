"""Node-RED's side of the flow runner's comparison: the hop cost and the hot update.

Node-RED 4.1.15 from npm (installed on first use into
``~/.cache/trio-launcher-bench/node-red``) runs embedded in one Node process per
figure, with no editor and no HTTP endpoints (``benchmarks/nodered/*.mjs``), on the
system ``node`` and on the Node 24 of the n8n peer where it is installed.

- ``hop.mjs``: generator -> 10 ``return msg;`` function nodes -> sink; microseconds per
  delivery along one of the 11 wires, median of 3 runs after a warm-up.
- ``hot_update.mjs``: a generator at 2,000 msg/s, the module under test, a sink
  counting sequence numbers; ``nodes`` deploys change only the module (one deploy, then
  100 deploys 50 ms apart): sequence numbers lost, duplicated and reordered once the
  flow has drained, whether the module's context count survived each deploy, and how
  long ``setFlows`` took. Modules: ``sync``, ``async`` (20 ms of work), ``buffer``
  (holds 400 messages in its context) and ``delay`` (the delay node, 200 ms), with
  Node-RED's default context settings; the function modules again with
  ``contextStorage`` configured (``memory``), which keeps a redeployed node's context.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from _common import CHILD_OUTPUT, NODE, arguments, emit, log, reap_children

NODE_RED = "node-red@4.1.15"
CACHE = Path(os.environ.get("BENCH_CACHE", "~/.cache/trio-launcher-bench")).expanduser()
NODE_RED_HOME = CACHE / "node-red"
SCRIPTS = Path(__file__).resolve().parent / "nodered"
#: (module, context store) pairs of the hot-update figure.
SCENARIOS = [
    ("sync", "default"),
    ("async", "default"),
    ("buffer", "default"),
    ("delay", "default"),
    ("sync", "memory"),
    ("async", "memory"),
    ("buffer", "memory"),
]


def node_binaries() -> list[str]:
    """The system ``node`` and the n8n peer's Node 24, those that exist."""
    found = [path for path in (shutil.which("node"), NODE) if path and os.path.exists(path)]
    return list(dict.fromkeys(os.path.realpath(path) for path in found))


def install_node_red() -> str | None:
    """Install Node-RED into the cache unless it is there; why it cannot be, or None."""
    installed = NODE_RED_HOME / "node_modules" / "node-red" / "package.json"
    wanted = NODE_RED.rpartition("@")[2]
    if installed.exists() and json.loads(installed.read_text())["version"] == wanted:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return f"npm not found: cannot install {NODE_RED}"
    NODE_RED_HOME.mkdir(parents=True, exist_ok=True)
    manifest = NODE_RED_HOME / "package.json"
    if not manifest.exists():
        manifest.write_text('{"private": true}\n')
    log(f"installing {NODE_RED} into {NODE_RED_HOME} ...")
    command = [npm, "install", "--no-audit", "--no-fund", NODE_RED]
    done = subprocess.run(
        command, cwd=NODE_RED_HOME, capture_output=True, text=True, timeout=600, check=False
    )
    return None if done.returncode == 0 else f"npm install {NODE_RED} failed: {done.stderr[-500:]}"


def run_script(node: str, cpu: str, script: str, *args: object) -> dict[str, Any]:
    """Run ``benchmarks/nodered/<script>`` on ``node``; the JSON of its last line."""
    command = [node, str(SCRIPTS / script), *map(str, args)]
    if cpu != "unpinned":
        command = ["taskset", "-c", cpu, *command]
    env = {**os.environ, "NODE_RED_HOME": str(NODE_RED_HOME)}
    done = subprocess.run(
        command, env=env, stdout=subprocess.PIPE, stderr=CHILD_OUTPUT, text=True, timeout=300
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"{script} {args} exited {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def major(result: dict[str, Any]) -> str:
    """``node20`` for a result from Node v20.x."""
    return "node" + str(result.get("node", "v?")).lstrip("v").split(".")[0]


def measure(
    node: str, scenarios: list[tuple[str, str]], args: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The hop figure and the hot-update ``scenarios`` on one Node binary."""
    hop = run_script(node, args.cpu, "hop.mjs", args.hop_messages, 3)
    log(f"hop: {hop}")
    updates = []
    for module, store in scenarios:
        for deploys in (1, args.deploys):
            result = run_script(node, args.cpu, "hot_update.mjs", module, deploys, store, args.rate)
            log(f"hot update: {result}")
            updates.append(result)
    return hop, updates


def summary(hops: list[dict[str, Any]], updates: list[dict[str, Any]]) -> dict[str, Any]:
    """The scalar figures: hop cost and messages lost, per Node major version."""
    figures: dict[str, Any] = {
        f"{major(hop)}_hop_us_p50": hop["us_per_hop_p50"] for hop in hops if "error" not in hop
    }
    for u in updates:
        if "error" not in u:
            key = f"{major(u)}_{u['scenario']}_{u['context_store']}_x{u['deploys']}_lost"
            figures[key] = u["lost"]
    return figures


def main() -> None:
    args = arguments(__doc__ or "", hop_messages=20_000, deploys=100, rate=2000, cpu="unpinned")
    scenarios = SCENARIOS
    if args.quick:
        args.hop_messages, args.deploys = 5000, 10
        scenarios = [(module, store) for module, store in SCENARIOS if store == "default"]
    parameters = {
        "node_red": NODE_RED,
        "hop_messages": args.hop_messages,
        "hop_runs": 3,
        "rate_msg_s": args.rate,
        "deploys": [1, args.deploys],
        "deploy_gap_ms": 50,
        "cpu": args.cpu,
        "scenarios": [f"{module}/{store}" for module, store in scenarios],
    }
    nodes = node_binaries()[:1] if args.quick else node_binaries()
    skipped = "node not found" if not nodes else install_node_red()
    if skipped is not None:
        emit("flows_nodered", parameters, {"skipped": skipped}, {}, [f"skipped: {skipped}"])
        return
    hops, updates = [], []
    try:
        for node in nodes:
            hop, results = measure(node, scenarios, args)
            hops.append(hop)
            updates += results
    finally:
        left = reap_children()
    figures = {**summary(hops, updates), "hop": hops, "hot_update": updates}
    notes = [
        "hop: one delivery along one of the 11 wires generator -> 10 functions -> sink",
        "lost: sequence numbers sent by the generator that the sink never received",
        "context_kept: each new instance started with the count its predecessor closed with",
        "default store: no contextStorage setting, so Node-RED deletes a closed node's context",
    ]
    if left:
        notes.append(f"processes left behind and killed: {left}")
    emit("flows_nodered", parameters, figures, {}, notes)


if __name__ == "__main__":
    main()
