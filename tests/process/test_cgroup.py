"""The cgroup v2 helper with real processes: kill what escaped the process group, clean up.

Tests that need a usable cgroup v2 directory skip with the reason when there is none;
the parsing tests run everywhere. Every test checks that it left no subtree behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import trio
from process_helpers import HANG_GUARD, Output, python, say_line, sleeper, wait_gone

from trio_launcher.process import ChildProcess, ExitStatus, run_child
from trio_launcher.process.cgroup import Cgroup, CgroupError
from trio_launcher.process.cgroup_discovery import (
    cgroup_directory,
    discover_cgroup,
    parse_cgroup2_mounts,
    parse_own_cgroup,
)
from trio_launcher.process.cgroup_pool import CgroupPool
from trio_launcher.process.cgroup_stale import remove_stale_trees
from trio_launcher.process.cgroup_tree import (
    TREE_PREFIX,
    CgroupTree,
    parse_tree_name,
    process_start_time,
    tree_name,
)
from trio_launcher.process.owned import child_cgroups

REPO = Path(__file__).resolve().parents[2]

# --- parsing: no cgroups needed ---------------------------------------------------------

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2_MOUNTINFO = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
"""
HYBRID_CGROUP = "9:name=systemd:/\n4:memory:/x\n0::/\n"
V1_ONLY_CGROUP = "9:name=systemd:/user.slice\n4:memory:/user.slice\n"


def test_the_v2_line_gives_this_process_cgroup() -> None:
    assert parse_own_cgroup(HYBRID_CGROUP) == "/"
    assert parse_own_cgroup("0::/user.slice/session-2.scope\n") == "/user.slice/session-2.scope"
    assert parse_own_cgroup(V1_ONLY_CGROUP) is None


def test_hybrid_hosts_mount_cgroup2_under_unified() -> None:
    mounts = parse_cgroup2_mounts(HYBRID_MOUNTINFO)
    assert [(m.root, m.mount_point, m.read_only) for m in mounts] == [
        ("/", "/sys/fs/cgroup/unified", False)
    ]
    assert cgroup_directory("/", mounts) == "/sys/fs/cgroup/unified"


def test_pure_v2_hosts_mount_it_at_sys_fs_cgroup() -> None:
    mounts = parse_cgroup2_mounts(PURE_V2_MOUNTINFO)
    directory = cgroup_directory("/user.slice/session-2.scope", mounts)
    assert directory == "/sys/fs/cgroup/user.slice/session-2.scope"


def test_a_mount_of_part_of_the_hierarchy_and_escaped_paths() -> None:
    mountinfo = "40 31 0:38 /docker/abc /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n"
    mounts = parse_cgroup2_mounts(mountinfo)
    assert mounts[0].mount_point == "/sys/fs/my cgroup"
    assert cgroup_directory("/docker/abc/task", mounts) == "/sys/fs/my cgroup/task"
    assert cgroup_directory("/docker/abc", mounts) == "/sys/fs/my cgroup"


@pytest.mark.parametrize(
    ("path", "mountinfo", "reason"),
    [
        ("/", "", "no cgroup2 file system is mounted"),
        ("/", HYBRID_MOUNTINFO.replace("cgroup2 rw", "cgroup2 ro"), "is read-only"),
        ("/", HYBRID_MOUNTINFO.replace("/unified rw,", "/unified ro,"), "is read-only"),
        ("/elsewhere", "1 2 0:1 /docker/abc /c rw - cgroup2 cgroup2 rw\n", "not under any"),
        ("/../outside", PURE_V2_MOUNTINFO, "not under any"),
    ],
    ids=["no mount", "read-only fs", "read-only mount", "outside the mount", "outside the ns"],
)
def test_unusable_mounts_say_why(path: str, mountinfo: str, reason: str, tmp_path: Path) -> None:
    discovery = discover_cgroup(str(fake_proc(tmp_path, f"0::{path}\n", mountinfo)))
    assert discovery.directory is None and not discovery.usable
    assert reason in discovery.reason


def test_a_host_with_cgroup_v1_only_says_so(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, V1_ONLY_CGROUP, HYBRID_MOUNTINFO)
    assert "no cgroup v2 hierarchy" in discover_cgroup(str(proc)).reason


def test_a_directory_that_is_no_cgroup_is_refused(tmp_path: Path) -> None:
    mountinfo = f"1 2 0:1 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    proc = fake_proc(tmp_path / "proc", "0::/\n", mountinfo)
    assert "is not a cgroup2 directory" in discover_cgroup(str(proc)).reason


def test_missing_proc_files_are_reported(tmp_path: Path) -> None:
    assert "cannot read" in discover_cgroup(str(tmp_path)).reason


def fake_proc(root: Path, cgroup: str, mountinfo: str) -> Path:
    (root / "self").mkdir(parents=True)
    (root / "self" / "cgroup").write_text(cgroup)
    (root / "self" / "mountinfo").write_text(mountinfo)
    return root


def test_tree_names_carry_the_owner_and_its_start_time() -> None:
    name = tree_name()
    assert name.startswith(TREE_PREFIX)
    owner = parse_tree_name(name)
    assert owner is not None
    pid, start, pid_namespace = owner
    assert (pid, start) == (os.getpid(), process_start_time(os.getpid()))
    assert pid_namespace == os.stat("/proc/self/ns/pid").st_ino
    assert tree_name() != name
    for other in ("trio-launcher-", "trio-launcher-1-2-x-ab", "slot-1", "trio-launcher-1-2-3"):
        assert parse_tree_name(other) is None


def test_kill_refuses_a_root_cgroup(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "cgroup.procs").write_text("")
    with pytest.raises(CgroupError, match="root cgroup"):
        Cgroup(str(root)).kill_with_signals()


def stub_packages() -> list[str]:
    """Lines that install empty parent packages, as the runner's stdlib-only worker does."""
    packages = [
        ("trio_launcher", REPO / "trio_launcher"),
        ("trio_launcher.process", REPO / "trio_launcher" / "process"),
    ]
    return [
        "import sys",
        f"for name, path in {[(name, str(path)) for name, path in packages]!r}:",
        "    module = type(sys)(name)",
        "    module.__path__ = [path]",
        "    sys.modules[name] = module",
    ]


CGROUP_MODULES = sorted(
    path.stem for path in (REPO / "trio_launcher" / "process").glob("cgroup*.py")
)


def test_the_cgroup_modules_are_the_core_and_its_siblings() -> None:
    assert CGROUP_MODULES == [
        "cgroup",
        "cgroup_discovery",
        "cgroup_pool",
        "cgroup_stale",
        "cgroup_tree",
    ]


@pytest.mark.parametrize("module", CGROUP_MODULES)
def test_the_module_imports_only_the_standard_library_without_typing(module: str) -> None:
    code = [
        *stub_packages(),
        f"import trio_launcher.process.{module}",
        "print(sorted(m for m in ('typing', 'trio', 'attrs') if m in sys.modules))",
    ]
    result = subprocess.run(python("\n".join(code)), capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_core_loads_alone_by_path_as_the_watcher_loads_it() -> None:
    core = str(REPO / "trio_launcher" / "process" / "cgroup.py")
    code = [
        "import importlib.util, sys",
        f"spec = importlib.util.spec_from_file_location('alone', {core!r})",
        "cgroup = importlib.util.module_from_spec(spec)",
        "spec.loader.exec_module(cgroup)",
        "print(cgroup.Cgroup.remove.__name__, sorted(m for m in sys.modules if 'trio' in m))",
    ]
    command = [sys.executable, "-I", "-S", "-c", "\n".join(code)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "remove []"


# --- with real cgroups ------------------------------------------------------------------


def own_tree_leftovers(parent: str, before: set[str]) -> list[str]:
    """Subtrees made during the test by this process, or by an owner that is gone."""
    leftovers = []
    for name in set(os.listdir(parent)) - before:
        owner = parse_tree_name(name)
        if owner is None:
            continue
        pid, start, _ = owner
        if pid == os.getpid() or process_start_time(pid) != start:
            leftovers.append(os.path.join(parent, name))
    return leftovers


@pytest.fixture
def parent() -> Iterator[str]:
    """A cgroup v2 directory we may create children in; fails the test if one is left."""
    discovery = discover_cgroup()
    if discovery.directory is None:
        pytest.skip(f"cgroup v2 is not usable here: {discovery.reason}")
    directory = discovery.directory
    child_cgroups()  # this process's subtree for run_child's children stays until exit
    before = set(os.listdir(directory))
    yield directory
    leftovers = own_tree_leftovers(directory, before)
    for path in leftovers:
        Cgroup(path).remove()
    assert leftovers == [], "the test left cgroups behind"


@pytest.fixture
def tree(parent: str) -> Iterator[CgroupTree]:
    with CgroupTree.create(parent) as created:
        yield created
    assert not os.path.exists(created.path)


def join_then(cgroup: Cgroup, *lines: str) -> list[str]:
    """Command that moves itself into ``cgroup`` with the module (stdlib only), then runs."""
    code = [
        *stub_packages(),
        "import os, signal, subprocess",
        "from trio_launcher.process.cgroup import Cgroup",
        f"Cgroup({cgroup.path!r}).add_self()",
        *lines,
    ]
    return python("\n".join(code))


def start_setsid_grandchild() -> list[str]:
    """Lines starting a grandchild in a new session and printing its pid."""
    return [
        f"grandchild = subprocess.Popen([sys.executable, '-c', {sleeper()!r}],"
        " start_new_session=True)",
        "os.write(1, f'grandchild pid {grandchild.pid}\\n'.encode())",
    ]


async def start(nursery: trio.Nursery, command: list[str], output: Output) -> ChildProcess:
    """Run ``command`` under ``run_child`` in ``nursery`` (pytest-trio's, cancelled at the end)."""
    child: ChildProcess = await nursery.start(partial(run_child, command, on_output=output))
    return child


@pytest.mark.parametrize("method", ["kill", "kill_with_signals"])
async def test_kill_takes_a_child_and_its_setsid_grandchild(
    tree: CgroupTree, nursery: trio.Nursery, method: str
) -> None:
    with trio.fail_after(HANG_GUARD):
        slot = tree.child("task")
        output = Output()
        command = join_then(slot, *start_setsid_grandchild(), sleeper())
        child = await start(nursery, command, output)
        grandchild = int(await output.wait_for("grandchild pid"))
        assert sorted(slot.pids()) == sorted([child.pid, grandchild])
        assert os.getsid(grandchild) != os.getsid(child.pid)  # out of the process group's reach
        assert slot.populated()
        getattr(slot, method)()
        assert not slot.populated()
        assert slot.pids() == []
        assert await child.wait() == ExitStatus(signal=signal.SIGKILL)
        await wait_gone(grandchild)
        assert (Path(slot.path) / "cgroup.freeze").read_text() == "0\n"  # thawed, reusable


async def test_a_pid_moved_in_takes_what_it_forks_later(
    tree: CgroupTree, nursery: trio.Nursery
) -> None:
    with trio.fail_after(HANG_GUARD):
        slot = tree.child("task")
        output = Output()
        code = [
            "import os, signal, subprocess, sys",
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})",
            say_line("ready"),
            "signal.sigwait({signal.SIGUSR1})",
            *start_setsid_grandchild(),
            sleeper(),
        ]
        child = await start(nursery, python("\n".join(code)), output)
        await output.wait_for("ready")
        slot.add(child.pid)
        child.send_signal(signal.SIGUSR1)
        grandchild = int(await output.wait_for("grandchild pid"))
        assert sorted(slot.all_pids()) == sorted([child.pid, grandchild])
        slot.kill()
        await wait_gone(grandchild)
        assert await child.wait() == ExitStatus(signal=signal.SIGKILL)


async def test_populated_goes_to_zero_when_the_processes_exit(
    tree: CgroupTree, nursery: trio.Nursery
) -> None:
    with trio.fail_after(HANG_GUARD):
        slot = tree.child("task")
        output = Output()
        code = [
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})",
            say_line("ready"),
            "signal.sigwait({signal.SIGUSR1})",
        ]
        child = await start(nursery, join_then(slot, *code), output)
        await output.wait_for("ready")
        assert slot.populated()
        assert not slot.wait_empty(timeout=0.01)  # still running: the wait gives up
        child.send_signal(signal.SIGUSR1)
        assert await trio.to_thread.run_sync(slot.wait_empty, HANG_GUARD)
        assert not slot.populated()
        assert await child.wait() == ExitStatus(returncode=0)


async def test_closing_the_tree_kills_every_child_cgroup_and_removes_it(
    parent: str, nursery: trio.Nursery
) -> None:
    with trio.fail_after(HANG_GUARD):
        tree = CgroupTree.create(parent)
        output = Output()
        children = []
        for name in ("a", "b"):
            slot = tree.child(name)
            command = join_then(slot, *start_setsid_grandchild(), say_line(f"{name} in"), sleeper())
            children.append(await start(nursery, command, output))
            await output.wait_for(f"{name} in")
        grandchildren = [
            int(line.split()[-1]) for line in output.of("stdout") if "grandchild" in line
        ]
        assert [c.path for c in tree.children()] == [f"{tree.path}/a", f"{tree.path}/b"]
        tree.close()
        assert not await trio.Path(tree.path).exists()
        tree.close()  # idempotent
        for pid in grandchildren:
            await wait_gone(pid)
        for child in children:
            assert await child.wait() == ExitStatus(signal=signal.SIGKILL)


async def test_stale_subtree_of_a_killed_owner_is_removed(
    parent: str, tree: CgroupTree, nursery: trio.Nursery
) -> None:
    with trio.fail_after(HANG_GUARD):
        output = Output()
        owner_code = [
            *stub_packages(),
            "import os, signal, subprocess",
            "from trio_launcher.process.cgroup_tree import CgroupTree",
            f"tree = CgroupTree.create({parent!r})",
            "slot = tree.child('task')",
            f"left = subprocess.Popen([sys.executable, '-c', {sleeper()!r}],"
            " start_new_session=True)",
            "slot.add(left.pid)",
            "os.write(1, f'tree {tree.path} {left.pid}\\n'.encode())",
            sleeper(),
        ]
        owner = await start(nursery, python("\n".join(owner_code)), output)
        stale_path, left_pid = (await output.wait_for("tree")).split()
        owner.send_signal(signal.SIGKILL)
        await owner.wait()
        assert Cgroup(stale_path).populated()  # the owner died; what it started did not
        removed = remove_stale_trees(parent)
        assert stale_path in removed
        assert tree.path not in removed  # our own tree: its owner lives
        assert not await trio.Path(stale_path).exists()
        assert await trio.Path(tree.path).exists()
        await wait_gone(int(left_pid))


def test_a_reused_owner_pid_does_not_keep_a_stale_subtree(parent: str) -> None:
    start_time = process_start_time(os.getpid())
    assert start_time is not None
    namespace = os.stat("/proc/self/ns/pid").st_ino
    reused = os.path.join(parent, f"{TREE_PREFIX}{os.getpid()}-{start_time + 1}-{namespace}-ab")
    foreign = os.path.join(parent, f"{TREE_PREFIX}1-{start_time}-{namespace + 1}-ab")
    os.mkdir(reused)
    os.mkdir(foreign)
    try:
        removed = remove_stale_trees(parent)
        assert reused in removed and not os.path.exists(reused)
        assert foreign not in removed and os.path.exists(foreign)  # another pid namespace
    finally:
        for path in (reused, foreign):
            Cgroup(path).remove()


async def test_the_pool_reuses_an_emptied_cgroup(tree: CgroupTree, nursery: trio.Nursery) -> None:
    with trio.fail_after(HANG_GUARD):
        pool = CgroupPool(tree)
        first = pool.acquire()
        output = Output()
        command = join_then(first, *start_setsid_grandchild(), "sys.exit(0)")
        child = await start(nursery, command, output)
        left_behind = int(await output.wait_for("grandchild pid"))
        assert await child.wait() == ExitStatus(returncode=0)
        assert first.populated()  # the setsid grandchild outlived its parent
        pool.release(first)
        await wait_gone(left_behind)
        assert (pool.idle, first.populated()) == (1, False)
        assert pool.acquire() == first
        second = pool.acquire()  # the first is busy again: a new one
        assert second != first and pool.created == 2
        pool.release(second)
        pool.release(first)
        assert pool.acquire() == first  # the last released comes back first
        assert [c.path for c in tree.children()] == [first.path, second.path]


def test_a_child_name_must_be_a_plain_directory_name(tree: CgroupTree) -> None:
    for name in ("", "a/b", ".hidden", ".."):
        with pytest.raises(ValueError, match="not a cgroup name"):
            tree.child(name)


def test_removing_a_cgroup_that_is_gone_is_fine(tree: CgroupTree) -> None:
    slot = tree.child("task")
    slot.remove()
    slot.remove()
    assert not os.path.exists(slot.path)
    assert not slot.populated() and slot.wait_empty(timeout=0)
    slot.kill()  # nothing to kill
