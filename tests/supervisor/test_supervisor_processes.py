"""The supervisor with real plugin processes: order, restarts, limits, logs, inventory."""

from __future__ import annotations

import os
from pathlib import Path

import trio
from supervisor_helpers import (
    SLEEPER,
    read_pids,
    supervising,
    write_config,
    write_plugin,
)

from trio_launcher.supervisor import PluginState

#: A plugin that notes when it starts and when it is ready in ``journal``.
JOURNALING = """
    import os, time
    name = os.environ["TRIO_LAUNCHER_PLUGIN"]
    def note(what):
        with open(JOURNAL, "a") as journal:
            journal.write(f"{name} {what}\\n")
    note("started")
    time.sleep(0.2)  # some work before being ready: the next plugin must wait for it
    note("ready")
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""

#: Starts a grandchild that ignores SIGTERM, writes both pids, then is ready.
WITH_STUBBORN_GRANDCHILD = """
    import os, subprocess, sys, time
    name = os.environ["TRIO_LAUNCHER_PLUGIN"]
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('up', flush=True); time.sleep(1000)"
    )
    grandchild = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    grandchild.stdout.readline()  # its handler is installed
    with open(os.path.join(PIDS, name + ".grandchild.pid"), "w") as file:
        file.write(str(grandchild.pid))
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""


def journaling(journal: Path) -> str:
    return JOURNALING.replace("JOURNAL", repr(str(journal)))


async def test_core_then_autostart_in_order_each_once_ready(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    for name in ("core", "alpha", "beta", "gamma", "extra"):
        write_plugin(tmp_path / "plugins", name, journaling(journal))
    write_plugin(tmp_path / "plugins", "crashy", "import sys; sys.exit(3)")
    config = write_config(
        tmp_path,
        """\
        core: core
        autostart: [gamma, crashy, refused, alpha, missing, beta]
        scan_interval: 0
        defaults:
          ready: {line: "^ready$"}
        plugins:
          crashy: {restart: never}
          refused: {restart: sometimes}
        """,
    )
    async with supervising(config) as (supervisor, events):
        await supervisor.autostart()
        await events.wait_for("ready", "beta")
        statuses = {status.name: status for status in supervisor.status()}
        await supervisor.stop_all()
        await events.wait_for("stopped", "core")
    order = ["core", "gamma", "alpha", "beta"]
    assert journal.read_text().split() == [w for n in order for w in (n, "started", n, "ready")]
    assert [e.name for e in events.of("ready")] == order
    assert [e.name for e in events.of("stopped")] == order[::-1]
    assert statuses["crashy"].status is PluginState.FAILED
    assert statuses["crashy"].last_error == "exit code 3"
    assert statuses["refused"].status is PluginState.FAILED
    assert "refused" in statuses["refused"].last_error
    assert statuses["missing"].status is PluginState.FAILED
    assert "not found" in statuses["missing"].last_error
    assert statuses["extra"].status is PluginState.STOPPED  # not in autostart
    assert all(statuses[name].status is PluginState.RUNNING for name in order)


async def test_ready_after_staying_up(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "slow", SLEEPER)
    write_plugin(tmp_path / "plugins", "dies", "import sys; print('starting'); sys.exit(1)")
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        defaults: {ready: {after: 0.3}, restart: never}
        plugins:
          dies: {ready: {line: "^ready$"}}
        """,
    )
    async with supervising(config) as (supervisor, events):
        status = await supervisor.start("slow")
        assert status.ready
        ready = await events.wait_for("ready", "slow")
        started = events.of("started", "slow")[0]
        assert ready.clock - started.clock >= 0.3
        status = await supervisor.start("dies")  # returns when it dies, never ready
        assert not status.ready
        assert status.status is PluginState.FAILED
        assert events.of("ready", "dies") == []


async def test_a_flapping_plugin_never_restarts_faster_than_its_policy(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "flappy", "import sys; sys.exit(1)")
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        plugins:
          flappy:
            backoff: {initial: 0.05, max: 0.2, factor: 2, jitter: 0.5, reset_after: 60}
            start_retries: 100
        """,
    )
    async with supervising(config) as (supervisor, events):
        await supervisor.start("flappy")
        await events.wait_for("started", "flappy", count=8)
        await supervisor.stop("flappy")
    crashes = events.of("crashed", "flappy")
    backoffs = events.of("backing_off", "flappy")
    starts = events.of("started", "flappy")
    assert len(starts) >= 8
    for number in range(7):
        base = min(0.2, 0.05 * 2**number)
        delay = backoffs[number].delay
        assert base * 0.5 <= delay <= min(0.2, base * 1.5)
        assert starts[number + 1].clock - crashes[number].clock >= delay
        assert starts[number + 1].clock - starts[number].clock >= delay


async def test_memory_threshold_restarts_the_plugin(tmp_path: Path) -> None:
    write_plugin(
        tmp_path / "plugins",
        "hog",
        """
        import time
        print("ready", flush=True)
        ballast = b"x" * (120 * 1024 * 1024)
        print("allocated", flush=True)
        while True:
            time.sleep(3600)
        """,
    )
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        monitor_interval: 0.05
        plugins:
          hog:
            ready: {line: "^ready$"}
            limits: {memory: 64MB, for: 0.1}
            backoff: {initial: 0.01}
        """,
    )
    async with supervising(config) as (supervisor, events):
        first = await supervisor.start("hog")
        exceeded = await events.wait_for("threshold_exceeded", "hog")
        restarted = await events.wait_for("restarted", "hog")
        stopped = events.of("stopped", "hog")[0]
    assert exceeded.resource == "memory"
    assert exceeded.value >= 64 * 2**20
    assert exceeded.duration >= 0.1
    assert exceeded.pid == stopped.pid == first.pid
    assert stopped.reason == "restart"
    assert restarted.reason == "memory threshold"
    assert restarted.pid != first.pid


async def test_grandchildren_die_with_their_plugin(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    write_plugin(
        tmp_path / "plugins",
        "parent",
        WITH_STUBBORN_GRANDCHILD.replace("PIDS", repr(str(pids))),
    )
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        plugins:
          parent: {ready: {line: "^ready$"}, grace_period: 0.2}
        """,
    )
    async with supervising(config) as (supervisor, _events):
        status = await supervisor.start("parent")
        assert status.ready
        grandchild = read_pids(pids)["parent.grandchild"]
        pidfd = os.pidfd_open(grandchild)
        try:
            await supervisor.stop("parent")
            await trio.lowlevel.wait_readable(pidfd)  # it exited
        finally:
            os.close(pidfd)


async def test_logs_are_timestamped_kept_across_restarts_and_rotated(tmp_path: Path) -> None:
    write_plugin(
        tmp_path / "plugins",
        "chatty",
        """
        import sys
        for number in range(40):
            print(f"out {number} " + "x" * 30)
            print(f"err {number}", file=sys.stderr)
        sys.exit(1)
        """,
    )
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        plugins:
          chatty:
            backoff: {initial: 0.01, max: 0.01}
            log: {max_size: 4KB, backups: 2}
        """,
    )
    async with supervising(config) as (supervisor, events):
        await supervisor.start("chatty")
        await events.wait_for("crashed", "chatty", count=4)
        await supervisor.stop("chatty")
        tail = supervisor.tail_log("chatty", 3)
    logs = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert logs == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    assert all((tmp_path / "logs" / name).stat().st_size <= 4096 for name in logs)
    text = "".join((tmp_path / "logs" / name).read_text() for name in reversed(logs))
    assert text.count("supervisor started pid") >= 2  # several runs in the kept files
    assert " stdout out 39 " in text
    assert " stderr err 39\n" in text
    assert "supervisor pid" in tail[-1] or "err" in tail[-1]


async def test_credentials_are_made_and_passed_to_the_plugin(tmp_path: Path) -> None:
    write_plugin(
        tmp_path / "plugins",
        "secure",
        """
        import os, stat, time
        key = os.environ["TRIO_LAUNCHER_KEY_FILE"]
        token = os.environ["TRIO_LAUNCHER_TOKEN_FILE"]
        mode = stat.S_IMODE(os.stat(key).st_mode)
        print("key", open(key).readline().strip(), oct(mode), os.path.exists(token), flush=True)
        print("ready", flush=True)
        while True:
            time.sleep(3600)
        """,
    )
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        credentials_dir: secrets
        plugins:
          secure: {ready: {line: "^ready$"}}
        """,
    )
    async with supervising(config) as (supervisor, _events):
        await supervisor.start("secure")
        lines = supervisor.tail_log("secure", 10)
    assert any(line.endswith("key -----BEGIN PRIVATE KEY----- 0o400 True") for line in lines)
    assert sorted(os.listdir(tmp_path / "secrets")) == ["secure.key", "secure.pub", "secure.token"]


async def test_new_and_removed_plugins_are_noticed_while_running(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "old", SLEEPER)
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0.02
        autostart: [old, late]
        defaults: {ready: {line: "^ready$"}}
        """,
    )
    async with supervising(config) as (supervisor, events):
        await supervisor.autostart()
        assert supervisor.plugin_status("late").status is PluginState.FAILED  # not there yet
        write_plugin(tmp_path / "plugins", "new", SLEEPER)
        await events.wait_for("added", "new")
        assert supervisor.plugin_status("new").status is PluginState.STOPPED
        write_plugin(tmp_path / "plugins", "late", SLEEPER)  # in autostart: started
        await events.wait_for("ready", "late")
        (tmp_path / "plugins" / "new").unlink()
        await events.wait_for("removed", "new")
        assert "new" not in supervisor.plugins
        (tmp_path / "plugins" / "old").unlink()  # running, and named by autostart
        await events.wait_for("removed", "old")
        await events.wait_for("stopped", "old")
        status = supervisor.plugin_status("old")
        assert status.status is PluginState.FAILED
        assert "not found" in status.last_error


async def test_a_plugin_that_cannot_be_executed_fails_and_backs_off(tmp_path: Path) -> None:
    broken = tmp_path / "plugins" / "broken"
    broken.parent.mkdir()
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        plugins:
          broken: {backoff: {initial: 0.01, max: 0.02}}
        """,
    )
    async with supervising(config) as (supervisor, events):
        status = await supervisor.start("broken")
        assert status.status is PluginState.BACKOFF
        failed = await events.wait_for("failed", "broken", count=2)
        await supervisor.stop("broken")
    assert "cannot start" in failed.error
    assert events.of("started") == []


async def test_ready_when_the_readiness_command_passes(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    write_plugin(
        tmp_path / "plugins",
        "server",
        f"""
        import time
        time.sleep(0.2)
        open({str(flag)!r}, "w").close()
        while True:
            time.sleep(3600)
        """,
    )
    config = write_config(
        tmp_path,
        f"""\
        scan_interval: 0
        plugins:
          server: {{ready: {{command: [test, -e, {flag}], interval: 0.05}}}}
        """,
    )
    async with supervising(config) as (supervisor, _events):
        status = await supervisor.start("server")
        assert status.ready
        assert await trio.Path(flag).exists()


async def test_a_plugin_whose_command_is_missing_ends_failed(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """\
        scan_interval: 0
        plugins:
          ghost:
            command: [/no/such/program]
            start_retries: 1
            backoff: {initial: 0.01, max: 0.01}
        """,
    )
    async with supervising(config) as (supervisor, events):
        await supervisor.start("ghost")
        gave_up = await events.wait_for("gave_up", "ghost")
        status = supervisor.plugin_status("ghost")
    assert len(events.of("failed", "ghost")) == 2  # the first try and one retry
    assert status.status is PluginState.FAILED
    assert "/no/such/program" in gave_up.error
