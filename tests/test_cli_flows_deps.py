"""``trio-launcher flows deps ...`` against ``flows serve``, as processes, offline."""

from __future__ import annotations

import io
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from cli_processes import flows_command, running
from package_builds import build_wheel, offline_python_env

from trio_launcher.cli.flows_deps import ProgressBar

SECRET = "cli-packages-secret"
#: A client command with the endpoint's secret.
flows = partial(flows_command, TRIO_LAUNCHER_FLOWS_SECRET=SECRET)
SOURCE = "import tinypkg\ndef handle(message, context, send):\n    send('out', tinypkg.VERSION)\n"


def flow(deps: list[str]) -> dict[str, Any]:
    metadata = {"runtime": "python", "source": SOURCE, "deps": deps}
    return {
        "id": "pinned",
        "processes": {"middle": {"component": "m", "metadata": metadata}},
        "inports": {"in": {"process": "middle", "port": "in"}},
        "outports": {"out": {"process": "middle", "port": "out"}},
    }


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[str]:
    """``flows serve`` with a secret, installing from a folder of wheels: its URL."""
    for version in ("1.0.0", "2.0.0"):
        build_wheel(tmp_path / "wheels", "tinypkg", version, f"VERSION = {version!r}\n")
    offline = offline_python_env(tmp_path / "wheels")
    store = str(tmp_path / "store")
    argv = ("flows", "serve", "--port", "0", "--packages", store, "--python-installer", "pip")
    async with running(*argv, TRIO_LAUNCHER_FLOWS_SECRET=SECRET, **offline) as (child, output, _):
        line = await output.wait_for("listening on")
        while line not in output.of("stdout"):
            line = await output.wait_for("listening on")
        yield line.rsplit(" ", 1)[1]
        child.send_signal(signal.SIGTERM)


async def test_install_list_lock_remove_and_gc_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "flow.json").write_text(json.dumps(flow(["tinypkg==1.0.0"])))
    async with serving(tmp_path) as url:
        deployed = await flows(url, "deploy", str(tmp_path / "flow.json"))
        installed = await flows(url, "deps", "install", "pinned/middle", "tinypkg==2.0.0")
        listed = await flows(url, "deps", "list", "--json", "--runtime", "python")
        locked = await flows(url, "deps", "lock", "pinned")
        collected = await flows(url, "deps", "gc")
        refused = await flows(url, "deps", "install", "pinned/middle", "tinypkg==9")
        bad = await flows(url, "deps", "install", "pinned", "tinypkg")
        removed = await flows(url, "deps", "remove", "pinned/middle", "tinypkg")
    assert deployed[0] == 0
    code, out, err = installed
    assert (code, out) == (0, "pinned/middle: tinypkg 2.0.0\n")
    assert "pinned/middle: installing tinypkg==2.0.0 (0/1)" in err.splitlines()
    assert "pinned/middle: installed tinypkg==2.0.0 (1/1)" in err.splitlines()
    assert [(p["name"], p["version"]) for p in json.loads(listed[1])] == [("tinypkg", "2.0.0")]
    assert locked[:2] == (0, "pinned/middle: tinypkg 2.0.0\n")
    assert collected[0] == 0 and collected[1].startswith("removed python/tinypkg==1.0.0-")
    assert refused[0] == 1 and "tinypkg==9" in refused[2]  # pip's own error, named
    assert bad[0] == 2 and "FLOW/MODULE" in bad[2]
    # its source imports tinypkg: without it, it would not compile, so nothing changes
    assert removed[0] == 1 and "No module named 'tinypkg'" in removed[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_one_line_on_a_terminal() -> None:
    terminal = Terminal()
    bar = ProgressBar(terminal)
    step = {"module": "f/m", "step": "installing", "package": "a==1", "done": 1, "total": 4}
    bar.show(step)
    bar.show({**step, "step": "installed", "done": 4})
    bar.end()
    drawn = terminal.getvalue()
    assert drawn.count("\n") == 1 and drawn.endswith("\n")
    assert "[######------------------] 1/4 f/m: installing a==1" in drawn
    assert "[########################] 4/4 f/m: installed a==1" in drawn


def test_progress_is_a_line_a_step_when_not_a_terminal() -> None:
    lines = io.StringIO()
    bar = ProgressBar(lines)
    bar.show({"module": "f/m", "step": "resolving", "package": "", "done": 0, "total": 0})
    bar.show({"module": "f/m", "step": "cached", "package": "a==1", "done": 1, "total": 1})
    bar.end()
    assert lines.getvalue() == "f/m: resolving\nf/m: cached a==1 (1/1)\n"
