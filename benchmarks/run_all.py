"""Run every benchmark and print their figures as a markdown table.

    python benchmarks/run_all.py [--quick] [--n8n] [--only NAME ...] [--json-out FILE]

Each ``bench_*.py`` runs in its own process and prints one JSON line; the table lists
every scalar figure, its target if it has one, and whether it was met.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ORDER = [
    "broker_matching",
    "broker_connections",
    "runner_startup",
    "runner_tasks",
    "launcher_cold_start",
    "codec",
    "executor",
    "flows_runtime",
]


def run(name: str, quick: bool, n8n: bool) -> dict[str, Any]:
    command = [sys.executable, str(HERE / f"bench_{name}.py")]
    command += ["--quick"] * quick + ["--n8n"] * (n8n and name == "launcher_cold_start")
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=600, check=True)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        result = {"name": name, "figures": {}, "target": {}, "met": {}, "error": str(exc)}
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | figure | value | target | met |", "| --- | --- | --- | --- | --- |"]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['name']} | **failed** | {result['error']} | | |")
        for key, value in result["figures"].items():
            if isinstance(value, dict | list):
                continue
            met = result["met"].get(key)
            mark = "" if met is None else ("yes" if met else "**no**")
            lines.append(
                f"| {result['name']} | {key} | {value} | {result['target'].get(key, '')} | {mark} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n8n", action="store_true", help="also the cold start through n8n")
    parser.add_argument("--only", nargs="+", choices=ORDER, default=ORDER)
    parser.add_argument("--json-out", type=Path, help="also write the JSON lines here")
    args = parser.parse_args()
    results = [run(name, args.quick, args.n8n) for name in ORDER if name in args.only]
    if args.json_out:
        args.json_out.write_text("".join(json.dumps(r) + "\n" for r in results))
    print(table(results))
    print(
        "\n| benchmark | date (UTC) | load average start -> end | test processes running"
        " | reference loop (ms) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        m = r.get("machine", {})
        load = f"{m.get('loadavg_start', ['?'])[0]} -> {m.get('loadavg_end', ['?'])[0]}"
        print(
            f"| {r['name']} | {m.get('date')} | {load} | {m.get('concurrent_test_processes')}"
            f" | {m.get('reference_loop_ms')} |"
        )


if __name__ == "__main__":
    main()
