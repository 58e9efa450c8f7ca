"""The control socket and the CLI, from other processes; SIGTERM leaves no process behind."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import stat
import subprocess
from functools import partial
from pathlib import Path

import pytest
import trio
from supervisor_helpers import (
    CLI,
    HANG_GUARD,
    SLEEPER,
    process_gone,
    read_pids,
    supervising,
    write_config,
    write_plugin,
)

from trio_launcher.process import ChildProcess, run_child
from trio_launcher.supervisor import ControlClient, ControlError, run_supervisor

#: Starts a `sleep` grandchild, writes both pids, then says it is ready.
WITH_GRANDCHILD = """
    import os, subprocess, time
    name = os.environ["TRIO_LAUNCHER_PLUGIN"]
    grandchild = subprocess.Popen(["sleep", "1000"])
    with open(os.path.join(PIDS, name + ".pid"), "w") as file:
        file.write(str(os.getpid()))
    with open(os.path.join(PIDS, name + ".grandchild.pid"), "w") as file:
        file.write(str(grandchild.pid))
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""


async def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``trio-launcher ARGS`` in another process."""
    return await trio.run_process(
        [*CLI, *args], capture_stdout=True, capture_stderr=True, check=False
    )


async def test_control_api_from_a_second_process(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    write_plugin(tmp_path / "plugins", "beta", "import sys; print('bye'); sys.exit(2)")
    config = write_config(
        tmp_path,
        """\
        control_socket: run/control.sock
        scan_interval: 0
        defaults: {ready: {line: "^ready$"}, restart: never}
        """,
    )
    sock = str(tmp_path / "run" / "control.sock")
    async with supervising(config) as (supervisor, events):
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600

        listing = await cli("plugins", "--socket", sock, "ls", "--json")
        assert listing.returncode == 0
        plugins = json.loads(listing.stdout)
        assert [(p["name"], p["status"], p["pid"], p["starts"]) for p in plugins] == [
            ("alpha", "stopped", None, 0),
            ("beta", "stopped", None, 0),
        ]

        started = await cli("plugins", "--socket", sock, "start", "alpha")
        assert started.returncode == 0
        assert "running" in started.stdout.decode()
        pid = supervisor.plugin_status("alpha").pid
        assert pid is not None

        table = await cli("plugins", "--config", str(tmp_path / "launcher.yaml"), "ls")
        header, *rows = table.stdout.decode().splitlines()
        assert header.split() == ["NAME", "PID", "STARTS", "CPU%", "MEMORY", "STATUS", "READY",
                                  "SINCE", "LAST", "ERROR"]  # fmt: skip
        assert rows[0].split()[:3] == ["alpha", str(pid), "1"]
        assert rows[0].split()[6] == "yes"  # it printed "ready"
        assert rows[1].split()[6] == "-"  # not running
        assert "running" in rows[0]

        failed = await cli("plugins", "--socket", sock, "start", "beta")
        assert failed.returncode == 1  # it exited: not running
        assert "exit code 2" in failed.stdout.decode()

        restarted = await cli("plugins", "--socket", sock, "restart", "alpha", "--json")
        (after,) = json.loads(restarted.stdout)
        assert after["status"] == "running"
        assert after["pid"] not in (None, pid)
        assert after["starts"] == 2
        await events.wait_for("restarted", "alpha")

        logs = await cli("plugins", "--socket", sock, "logs", "beta", "-n", "5")
        assert " stdout bye" in logs.stdout.decode()

        stopped = await cli("plugins", "--socket", sock, "stop", "all", "--json")
        assert {p["status"] for p in json.loads(stopped.stdout)} == {"stopped", "failed"}

        write_plugin(tmp_path / "plugins", "gamma", SLEEPER)  # scan_interval is 0 here
        rescanned = await cli("plugins", "--socket", sock, "rescan")
        assert [row.split()[0] for row in rescanned.stdout.decode().splitlines()[1:]] == [
            "alpha",
            "beta",
            "gamma",
        ]
        await events.wait_for("added", "gamma")

        unknown = await cli("plugins", "--socket", sock, "start", "nope")
        assert unknown.returncode == 1
        assert "unknown plugin 'nope'" in unknown.stderr.decode()

        several = await cli(
            "plugins", "--socket", sock, "start", "alpha", "nope", "gamma", "--json"
        )
        assert several.returncode == 1  # one was refused; the others were started
        assert [(p["name"], p["status"]) for p in json.loads(several.stdout)] == [
            ("alpha", "running"),
            ("gamma", "running"),
        ]
        assert "unknown plugin 'nope'" in several.stderr.decode()
        both = await cli("plugins", "--socket", sock, "stop", "alpha", "gamma", "--json")
        assert both.returncode == 0
        assert {p["status"] for p in json.loads(both.stdout)} == {"stopped"}
        assert supervisor.plugin_status("alpha").pid is None
        assert supervisor.plugin_status("gamma").pid is None


async def test_logs_follow_prints_the_lines_added_until_interrupted(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    config = write_config(
        tmp_path,
        """        scan_interval: 0
        defaults: {ready: {line: "^ready$"}, log: {max_size: 500, backups: 2}}
        """,
    )
    sock = str(tmp_path / "launcher.sock")
    async with supervising(config) as (supervisor, _events):
        first = (await supervisor.start("alpha")).pid
        follower = await trio.lowlevel.open_process(
            [*CLI, "plugins", "--socket", sock, "logs", "alpha", "-f", "-n", "1"],
            stdout=subprocess.PIPE,
        )
        try:
            assert follower.stdout is not None
            lines = LineReader(follower.stdout)
            assert (await lines.next()).endswith(" stdout ready")  # the last line so far
            pids = [first]
            for _ in range(2):  # each restart writes over 200 bytes: the file rotates once
                pids.append((await supervisor.restart("alpha")).pid)
            started: list[str] = []
            while len(started) < 2:
                if "started pid " in (line := await lines.next()):
                    started.append(line.split("started pid ", 1)[1].split(":")[0])
        finally:
            follower.send_signal(signal.SIGINT)
            code = await follower.wait()
    assert (tmp_path / "logs" / "alpha.log.1").exists()
    assert started == [str(pid) for pid in pids[1:]]
    assert code == 130


class LineReader:
    """Lines of a stream, one at a time."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some()
            assert data, "the stream ended"
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()


async def test_events_as_json_lines_for_other_processes(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    config = write_config(tmp_path, "scan_interval: 0\ndefaults: {ready: {line: '^ready$'}}\n")
    lines: list[str] = []
    got_line = trio.Event()

    def on_output(stream: str, line: str) -> None:
        if stream == "stdout":
            lines.append(line)
            got_line.set()

    async with supervising(config) as (supervisor, _events):
        command = [*CLI, "plugins", "--socket", str(config.control_socket), "events"]
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(run_child, command, on_output=on_output))
            while not lines:  # the snapshot: it is subscribed
                await got_line.wait()
                got_line = trio.Event()
            await supervisor.start("alpha")
            await supervisor.restart("alpha")
            while not any('"restarted"' in line for line in lines):
                await got_line.wait()
                got_line = trio.Event()
            nursery.cancel_scope.cancel()
    snapshot, *events = [json.loads(line) for line in lines]
    assert snapshot["event"] == "snapshot"
    assert [(p["name"], p["status"]) for p in snapshot["plugins"]] == [("alpha", "stopped")]
    kinds = [event["event"] for event in events]
    assert kinds[:5] == ["started", "ready", "stopped", "started", "restarted"]
    assert all(event["name"] == "alpha" for event in events)


async def test_the_socket_is_not_stolen_and_stale_ones_are_replaced(tmp_path: Path) -> None:
    config = write_config(tmp_path, "scan_interval: 0\nmonitor_interval: 0\n")
    path = config.control_socket
    assert path is not None
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # bound, never listening: as if left by a dead supervisor
    stale.close()
    async with supervising(config):
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError, match="another supervisor"):
                await nursery.start(run_supervisor, config)
        assert await trio.to_thread.run_sync(ask, path, "ls") == {"ok": True, "plugins": []}
        with pytest.raises(ControlError, match="unknown command"):
            await trio.to_thread.run_sync(ask, path, "dance")
    assert not path.exists()


def ask(path: Path, cmd: str) -> dict[str, object]:
    """One request with the blocking client (call it from a thread)."""
    with ControlClient(path, timeout=HANG_GUARD) as client:
        return client.request(cmd)


async def test_supervise_with_bad_config_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "launcher.yaml").write_text("autostart: [a]\ncolour: blue\nplugins: 3\n")
    result = await cli("supervise", "--config", str(tmp_path / "launcher.yaml"))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "launcher.yaml:2: colour: unknown key" in err
    assert "launcher.yaml:3: plugins: expected a mapping, got 3" in err


async def test_supervise_reports_a_bad_config_in_the_log_format_asked_for(tmp_path: Path) -> None:
    (tmp_path / "launcher.yaml").write_text("colour: blue\n")
    config = str(tmp_path / "launcher.yaml")
    result = await cli("--log-format", "json", "supervise", "--config", config)
    assert result.returncode == 2
    records = [json.loads(line) for line in result.stderr.decode().splitlines()]
    assert [record["level"] for record in records] == ["ERROR"]
    assert "launcher.yaml:1: colour: unknown key" in records[0]["message"]


async def test_sigterm_stops_20_plugins_and_leaves_no_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    names = [f"plugin{number:02}" for number in range(20)]
    for name in names:
        write_plugin(tmp_path / "plugins", name, WITH_GRANDCHILD.replace("PIDS", repr(str(pids))))
    write_config(
        tmp_path,
        f"""\
        autostart: [{", ".join(names)}]
        scan_interval: 0
        monitor_interval: 1
        defaults: {{ready: {{line: "^ready$"}}}}
        """,
    )
    sock = str(tmp_path / "launcher.sock")
    listening = trio.Event()

    def on_output(stream: str, line: str) -> None:
        if "control socket listening" in line:
            listening.set()

    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            command = [*CLI, "supervise", "--config", str(tmp_path / "launcher.yaml")]
            supervisor: ChildProcess = await nursery.start(
                partial(run_child, command, on_output=on_output)
            )
            await listening.wait()
            await trio.to_thread.run_sync(wait_until_ready, sock, set(names))
            everything = read_pids(pids)
            assert len(everything) == 40
            pidfds = {pid: os.pidfd_open(pid) for pid in everything.values()}
            os.kill(supervisor.pid, signal.SIGTERM)
            status = await supervisor.wait()
    assert status.ok
    try:
        for pidfd in pidfds.values():
            with trio.fail_after(HANG_GUARD):
                await trio.lowlevel.wait_readable(pidfd)  # every plugin and grandchild exited
    finally:
        for pidfd in pidfds.values():
            os.close(pidfd)
    assert all(process_gone(pid) for pid in everything.values())
    assert not await trio.Path(sock).exists()


def wait_until_ready(sock: str, names: set[str]) -> None:
    """Block until every plugin in ``names`` is running and ready (via the control socket)."""
    with ControlClient(sock, timeout=HANG_GUARD) as client:
        snapshot, events = client.events()
        ready = {p["name"] for p in snapshot if p["status"] == "running" and p["ready"]}
        for event in itertools.chain([{"event": "snapshot"}], events):
            if event["event"] == "ready":
                ready.add(event["name"])
            if ready >= names:
                return
        raise AssertionError(f"not ready: {sorted(names - ready)}")


async def test_clients_that_misbehave_do_not_hurt_the_supervisor(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    config = write_config(tmp_path, "scan_interval: 0\ndefaults: {ready: {line: '^ready$'}}\n")
    path = config.control_socket
    assert path is not None
    async with supervising(config) as (supervisor, events):
        quitter = await trio.open_unix_socket(str(path))
        await quitter.send_all(b'{"cmd": "events"}\n')
        assert b'"ok": true' in await quitter.receive_some(65536)
        await quitter.aclose()  # gone without a word, events still to come
        rude = await trio.open_unix_socket(str(path))
        await rude.send_all(b"not json\n[1, 2]\n")
        answers = b""
        while answers.count(b"\n") < 2:
            answers += await rude.receive_some(65536)
        assert [json.loads(line)["ok"] for line in answers.splitlines()] == [False, False]
        await rude.send_all(b"x" * 70_000)  # a line that never ends
        last = b""
        while data := await rude.receive_some(65536):
            last += data
        assert json.loads(last)["ok"] is False  # told why, then dropped
        await rude.aclose()
        await supervisor.start("alpha")
        await supervisor.restart("alpha")
        await events.wait_for("restarted", "alpha")
        answer = await trio.to_thread.run_sync(ask, path, "ls")
        assert [p["status"] for p in answer["plugins"]] == ["running"]  # type: ignore[index]
