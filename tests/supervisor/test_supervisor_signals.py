"""``trio-launcher supervise`` and signals: SIGKILL leaves nothing, SIGHUP reloads."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest
import trio
from supervisor_helpers import (
    CLI,
    HANG_GUARD,
    SLEEPER,
    marked_processes,
    new_marker,
    read_pids,
    write_plugin,
)
from test_supervisor_control import wait_until_ready

from trio_launcher.process.owned import child_cgroups
from trio_launcher.supervisor import ControlClient

#: Starts a grandchild (in a session of its own with ESCAPE), writes both pids, says ready.
FAMILY = """
    import os, subprocess, time
    name = os.environ["TRIO_LAUNCHER_PLUGIN"]
    grandchild = subprocess.Popen(["sleep", "1000"], start_new_session=ESCAPE)
    with open(os.path.join(PIDS, name + ".pid"), "w") as file:
        file.write(str(os.getpid()))
    with open(os.path.join(PIDS, name + ".grandchild.pid"), "w") as file:
        file.write(str(grandchild.pid))
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""


class Supervise:
    """``trio-launcher supervise`` as a plain child of the test, its output as lines."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def pump(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        while data := await self.process.stdout.receive_some():
            *lines, buffer = (buffer + data).split(b"\n")
            self.lines += [line.decode(errors="replace") for line in lines]
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, text: str, after: int = 0) -> int:
        """Wait for a line holding ``text`` past line ``after``; its index."""
        while True:
            for index in range(after, len(self.lines)):
                if text in self.lines[index]:
                    return index
            await self._changed.wait()


@asynccontextmanager
async def supervise(tmp_path: Path, env: dict[str, str], *args: str) -> AsyncIterator[Supervise]:
    """Run it (not with run_child: nothing of ours may clean up what it leaves behind)."""
    command = [*CLI, "supervise", "--config", str(tmp_path / "launcher.yaml"), *args]
    process = await trio.lowlevel.open_process(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    running = Supervise(process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.pump)
            await running.wait_for("control socket listening")
            yield running
            nursery.cancel_scope.cancel()
    finally:
        process.kill()
        await process.wait()


def write_yaml(tmp_path: Path, text: str) -> None:
    (tmp_path / "launcher.yaml").write_text(textwrap.dedent(text))


async def test_sigkill_leaves_no_plugin_and_no_grandchild(tmp_path: Path) -> None:
    usable = child_cgroups().tree is not None
    pids = tmp_path / "pids"
    pids.mkdir()
    names = ["kept", "escaper", "third"]
    for name in names:
        body = FAMILY.replace("PIDS", repr(str(pids))).replace("ESCAPE", str(name == "escaper"))
        write_plugin(tmp_path / "plugins", name, body)
    write_yaml(
        tmp_path,
        f"""\
        autostart: [{", ".join(names)}]
        scan_interval: 0
        defaults: {{ready: {{line: "^ready$"}}}}
        """,
    )
    marker, value = new_marker()
    env = {**os.environ, marker: value}
    sock = str(tmp_path / "launcher.sock")
    with trio.fail_after(HANG_GUARD):
        async with supervise(tmp_path, env) as running:
            await trio.to_thread.run_sync(wait_until_ready, sock, set(names))
            found = read_pids(pids)
            plugins = {os.pidfd_open(found[name]) for name in names}
            # Everything it started: plugins, their children, its cgroup watcher.
            tree = [child.pid for child in psutil.Process(running.process.pid).children(True)]
            everything = {pid: os.pidfd_open(pid) for pid in tree}
            running.process.kill()
            await running.process.wait()
        try:
            for pidfd in plugins:
                await trio.lowlevel.wait_readable(pidfd)  # their parent-death signal
            if not usable:
                for pidfd in everything.values():
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                pytest.skip("no cgroup v2 here: a plugin's children are not tied to the supervisor")
            for pidfd in everything.values():
                await trio.lowlevel.wait_readable(pidfd)
        finally:
            for pidfd in [*plugins, *everything.values()]:
                os.close(pidfd)
    assert set(found.values()) <= set(tree)
    assert marked_processes(value) == []


def plugins_by_name(sock: str) -> dict[str, dict[str, object]]:
    with ControlClient(sock, timeout=HANG_GUARD) as client:
        return {plugin["name"]: plugin for plugin in client.ls()}


async def test_sighup_reloads_launcher_yaml_and_keeps_everything_on_a_bad_file(
    tmp_path: Path,
) -> None:
    sleeper = write_plugin(tmp_path / "bin", "sleeper", SLEEPER)
    write_yaml(
        tmp_path,
        f"""\
        autostart: [alpha, beta, gamma]
        scan_interval: 0
        defaults: {{ready: {{line: "^ready$"}}, command: {str(sleeper)!r}}}
        plugins:
          alpha: {{}}
          beta: {{env: {{COLOUR: blue}}}}
          gamma: {{}}
        """,
    )
    sock = str(tmp_path / "launcher.sock")
    with trio.fail_after(HANG_GUARD):
        async with supervise(tmp_path, dict(os.environ)) as running:
            await trio.to_thread.run_sync(wait_until_ready, sock, {"alpha", "beta", "gamma"})
            before = plugins_by_name(sock)
            write_yaml(
                tmp_path,
                f"""\
                autostart: [beta, gamma, delta]
                scan_interval: 0
                defaults: {{ready: {{line: "^ready$"}}, command: {str(sleeper)!r}}}
                plugins:
                  beta: {{env: {{COLOUR: green}}}}
                  gamma: {{}}
                  delta: {{}}
                """,
            )
            with ControlClient(sock, timeout=HANG_GUARD) as client:
                _, events = client.events()
                running.process.send_signal(signal.SIGHUP)
                seen: set[tuple[str, str]] = set()
                wanted = {("stopped", "alpha"), ("restarted", "beta"), ("ready", "delta")}
                for event in events:
                    seen.add((event["event"], event["name"]))
                    if wanted <= seen:
                        break
            after = plugins_by_name(sock)

            (tmp_path / "launcher.yaml").write_text("scan_interval: 0\ncolour: red\n")
            mark = len(running.lines)
            running.process.send_signal(signal.SIGHUP)
            reported = await running.wait_for("not reloaded", mark)
            kept = plugins_by_name(sock)

    assert sorted(after) == ["beta", "delta", "gamma"]
    assert after["beta"]["pid"] != before["beta"]["pid"]  # new settings: restarted
    assert after["gamma"]["pid"] == before["gamma"]["pid"]  # unchanged: left alone
    assert after["delta"]["status"] == "running"
    report = "\n".join(running.lines[reported:])
    assert "launcher.yaml" in report and "colour" in report
    assert {name: plugin["pid"] for name, plugin in kept.items()} == {
        name: plugin["pid"] for name, plugin in after.items()
    }
