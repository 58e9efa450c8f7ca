"""The sans-IO and file parts: log rotation, credentials, event bus, thresholds, inventory."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from supervisor_helpers import SLEEPER, write_config, write_plugin

from trio_launcher.process import ResourceSample
from trio_launcher.supervisor import (
    EventBus,
    Limits,
    PluginAdded,
    RotatingLog,
    Started,
    ensure_credentials,
    take_inventory,
)
from trio_launcher.supervisor.logfile import tail
from trio_launcher.supervisor.monitor import ThresholdTracker

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr) line \d+$")


# -- log files ------------------------------------------------------------------


def test_log_lines_are_timestamped_and_rotated_by_size_and_count(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.log"
    log = RotatingLog(path, max_bytes=1000, backups=2)
    for number in range(200):
        log.write("stdout" if number % 2 else "stderr", f"line {number}")
    log.close()
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["p.log", "p.log.1", "p.log.2"]
    assert all(f.stat().st_size <= 1000 for f in files)
    newest = path.read_text().splitlines()
    older = (tmp_path / "logs" / "p.log.1").read_text().splitlines()
    oldest = (tmp_path / "logs" / "p.log.2").read_text().splitlines()
    lines = oldest + older + newest
    assert all(STAMPED.match(line) for line in lines)
    numbers = [int(line.rsplit(" ", 1)[1]) for line in lines]
    assert numbers == list(range(numbers[0], 200))  # contiguous, newest kept, oldest dropped
    assert numbers[0] > 0


def test_log_is_appended_to_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    for run in range(3):
        log = RotatingLog(path, max_bytes=10_000, backups=1)
        log.write("stdout", f"run {run}")
        log.close()
    assert [line.split(" ", 2)[2] for line in path.read_text().splitlines()] == [
        "run 0",
        "run 1",
        "run 2",
    ]


def test_log_without_backups_starts_over_and_cuts_huge_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    log = RotatingLog(path, max_bytes=100, backups=0)
    log.write("stdout", "x" * 500)
    log.write("stdout", "short")
    log.close()
    assert list(tmp_path.iterdir()) == [path]
    assert path.read_text().endswith("stdout short\n")


def test_tail_reads_into_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    log = RotatingLog(path, max_bytes=300, backups=3)
    for number in range(30):
        log.write("stdout", f"line {number}")
    log.close()
    assert [line.rsplit(" ", 1)[1] for line in tail(path, 12)] == [str(n) for n in range(18, 30)]
    assert tail(tmp_path / "missing.log", 5) == []


# -- credentials ----------------------------------------------------------------


def test_credentials_are_made_once_with_owner_read_only_files(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    credentials = ensure_credentials(folder, "weather")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in (credentials.key_file, credentials.public_key_file, credentials.token_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o400
    key = serialization.load_pem_private_key(credentials.key_file.read_bytes(), None)
    public = serialization.load_pem_public_key(credentials.public_key_file.read_bytes())
    assert isinstance(key, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    assert key.public_key().public_bytes_raw() == public.public_bytes_raw()
    assert len(credentials.token_file.read_text().strip()) >= 40
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = ensure_credentials(folder, "weather")
    assert again == credentials
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert credentials.env()["TRIO_LAUNCHER_KEY_FILE"] == str(credentials.key_file)


def test_missing_credential_files_are_completed(tmp_path: Path) -> None:
    credentials = ensure_credentials(tmp_path, "p")
    key = credentials.key_file.read_bytes()
    credentials.token_file.unlink()
    credentials.public_key_file.unlink()
    ensure_credentials(tmp_path, "p")
    assert credentials.key_file.read_bytes() == key
    assert credentials.token_file.exists()
    public = serialization.load_pem_public_key(credentials.public_key_file.read_bytes())
    private = serialization.load_pem_private_key(key, None)
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    assert private.public_key().public_bytes_raw() == public.public_bytes_raw()
    assert sorted(os.listdir(tmp_path)) == ["p.key", "p.pub", "p.token"]  # no temporary left


# -- events ---------------------------------------------------------------------


async def test_events_reach_every_subscriber_in_order() -> None:
    bus = EventBus()
    with bus.subscribe() as first, bus.subscribe() as second:
        for number in range(3):
            bus.publish(Started(name="p", pid=100 + number, starts=number + 1))
        bus.close()
        assert [e.pid async for e in first] == [100, 101, 102]  # type: ignore[attr-defined]
        assert [e.pid async for e in second] == [100, 101, 102]  # type: ignore[attr-defined]


async def test_a_slow_subscriber_is_dropped_and_never_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    with bus.subscribe(buffer=2) as slow, bus.subscribe(buffer=100) as fast:
        for number in range(5):  # synchronous: publishing cannot wait for anyone
            bus.publish(PluginAdded(name=f"p{number}"))
        assert slow.dropped
        assert [e.name async for e in slow] == ["p0", "p1"]  # what it had, then the end
        bus.publish(PluginAdded(name="later"))
        bus.close()
        assert not fast.dropped
        assert [e.name async for e in fast] == ["p0", "p1", "p2", "p3", "p4", "later"]
    assert "dropped" in caplog.text


def test_events_as_json() -> None:
    event = Started(name="p", pid=42, starts=3, time=0.0)
    assert event.to_json() == {
        "event": "started",
        "name": "p",
        "time": "1970-01-01T00:00:00.000+00:00",
        "pid": 42,
        "starts": 3,
    }


# -- thresholds -----------------------------------------------------------------


def sample(cpu: float = 0.0, rss: int = 0) -> ResourceSample:
    return ResourceSample(cpu_percent=cpu, rss_bytes=rss, process_count=1)


def test_threshold_must_hold_for_the_whole_duration() -> None:
    tracker = ThresholdTracker(Limits(cpu_percent=50.0, memory_bytes=1000, duration=10.0))
    assert tracker.update(0.0, sample(cpu=80)) == []
    assert tracker.update(5.0, sample(cpu=80)) == []
    assert tracker.update(9.0, sample(cpu=10)) == []  # dipped: start again
    assert tracker.update(12.0, sample(cpu=90)) == []
    (exceeded,) = tracker.update(22.0, sample(cpu=95))
    assert (exceeded.resource, exceeded.value, exceeded.limit) == ("cpu", 95, 50)
    assert exceeded.duration == 10.0
    assert tracker.update(23.0, sample(cpu=95)) == []  # counted again from here


def test_memory_threshold_with_no_duration_fires_at_once() -> None:
    tracker = ThresholdTracker(Limits(memory_bytes=1000, duration=0.0))
    assert tracker.update(0.0, sample(rss=999)) == []
    (exceeded,) = tracker.update(1.0, sample(rss=5000))
    assert exceeded.resource == "memory"
    tracker.reset()
    assert ThresholdTracker(Limits()).update(0.0, sample(cpu=1e6, rss=10**12)) == []


# -- inventory ------------------------------------------------------------------


def test_inventory_finds_executables_and_configured_plugins(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "alpha", SLEEPER)
    write_plugin(tmp_path / "extra", "alpha", SLEEPER)  # the first folder wins
    write_plugin(tmp_path / "extra", "beta", SLEEPER)
    (tmp_path / "plugins" / "notes.txt").write_text("not executable")
    write_plugin(tmp_path / "plugins", ".hidden", SLEEPER)
    config = write_config(
        tmp_path,
        """\
        plugins_dir: [plugins, extra, missing]
        autostart: [ghost]
        plugins:
          tool: {command: [/bin/true]}
          beta: {args: [--fast]}
        """,
    )
    inventory = take_inventory(config)
    assert sorted(inventory) == ["alpha", "beta", "ghost", "tool"]
    assert inventory["alpha"].command == (str(tmp_path / "plugins" / "alpha"),)
    assert inventory["beta"].command == (str(tmp_path / "extra" / "beta"), "--fast")
    assert inventory["tool"].command == ("/bin/true",)
    assert inventory["ghost"].command is None


def test_the_control_client_imports_neither_trio_nor_yaml() -> None:
    code = (
        "import sys; from trio_launcher.supervisor import ControlClient; "
        "print(sorted({'trio', 'yaml', 'psutil'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
