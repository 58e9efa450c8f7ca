"""Children of run_child die with their owner: parent-death signal, cgroup, stale trees."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
import trio
from process_helpers import HANG_GUARD, Output, marked_processes, new_marker, python

from trio_launcher.process import run_child
from trio_launcher.process.owned import child_cgroups

#: A child with two grandchildren, one in its process group, one in a session of its own.
FAMILY = python(
    """
    import os, subprocess, sys, time
    code = "import signal\\nwhile True: signal.pause()"
    kept = subprocess.Popen([sys.executable, "-c", code])
    escaped = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    os.write(1, f"grandchildren {kept.pid} {escaped.pid}\\n".encode())
    while True:
        time.sleep(3600)
    """
)

#: An owner: runs FAMILY with run_child and prints every line it outputs.
OWNER = python(
    f"""
    import trio
    from functools import partial
    from trio_launcher.process import run_child
    from trio_launcher.process.owned import child_cgroups

    def show(stream, line):
        print(line, flush=True)

    async def main():
        async with trio.open_nursery() as nursery:
            child = await nursery.start(partial(run_child, {FAMILY!r}, on_output=show))
            watcher = child_cgroups().watcher
            print(f"child {{child.pid}}", flush=True)
            print(f"watcher {{0 if watcher is None else watcher.pid}}", flush=True)

    trio.run(main)
    """
)


def cgroups_usable() -> bool:
    return child_cgroups().tree is not None


@contextmanager
def pidfds(pids: list[int]) -> Iterator[list[int]]:
    fds = [os.pidfd_open(pid) for pid in pids]
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


async def wait_all(fds: list[int]) -> None:
    for fd in fds:
        await trio.lowlevel.wait_readable(fd)


class Lines:
    """Lines of a process's stdout, read as they come."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def collect(self, *prefixes: str) -> dict[str, list[int]]:
        """The numbers on the first line starting with each of ``prefixes``."""
        found: dict[str, list[int]] = {}
        while len(found) < len(prefixes):
            while b"\n" not in self._buffer:
                data = await self._stream.receive_some()
                assert data, "the owner ended its output early"
                self._buffer += data
            line, self._buffer = self._buffer.split(b"\n", 1)
            words = line.decode().split()
            if words and words[0] in prefixes:
                found[words[0]] = [int(word) for word in words[1:]]
        return found


@asynccontextmanager
async def owner_with_family(env: dict[str, str]) -> AsyncIterator[tuple[trio.Process, list[int]]]:
    """The OWNER running, and the pids of its child and the child's two grandchildren."""
    owner = await trio.lowlevel.open_process(OWNER, stdout=subprocess.PIPE, env=env)
    try:
        assert owner.stdout is not None
        lines = Lines(owner.stdout)
        found = await lines.collect("child", "grandchildren", "watcher")
        yield owner, found["child"] + found["grandchildren"] + found["watcher"]
    finally:
        owner.kill()
        await owner.wait()


async def test_sigkill_of_the_owner_kills_its_child_and_the_child_s_descendants() -> None:
    usable = cgroups_usable()
    name, marker = new_marker()
    env = {**os.environ, name: marker}
    with trio.fail_after(HANG_GUARD):
        async with owner_with_family(env) as (owner, pids):
            with pidfds(pids) as (child, kept, escaped, watcher):
                os.kill(owner.pid, signal.SIGKILL)
                await owner.wait()
                await trio.lowlevel.wait_readable(child)  # the parent-death signal
                if not usable:
                    os.kill(pids[1], signal.SIGKILL)
                    os.kill(pids[2], signal.SIGKILL)
                    pytest.skip("no cgroup v2 here: grandchildren are not tied to the owner")
                await wait_all([kept, escaped, watcher])  # the watcher removed the cgroups
    assert marked_processes(marker) == []


async def test_the_next_start_removes_what_an_owner_and_its_watcher_left() -> None:
    if not cgroups_usable():  # made now: this process is not "the next start"
        pytest.skip("no cgroup v2 here")
    name, marker = new_marker()
    env = {**os.environ, name: marker}
    with trio.fail_after(HANG_GUARD):
        async with owner_with_family(env) as (owner, pids):
            with pidfds(pids) as (child, kept, escaped, watcher):
                signal.pidfd_send_signal(watcher, signal.SIGKILL)  # first: nobody cleans up
                await trio.lowlevel.wait_readable(watcher)
                os.kill(owner.pid, signal.SIGKILL)
                await owner.wait()
                await trio.lowlevel.wait_readable(child)
                assert len(marked_processes(marker)) == 2  # the grandchildren live on
                next_start = "from trio_launcher.process.owned import *; child_cgroups()"
                await trio.run_process([sys.executable, "-c", next_start])
                await wait_all([kept, escaped])
    assert marked_processes(marker) == []


async def test_a_child_that_left_its_group_dies_with_its_cgroup() -> None:
    if not cgroups_usable():
        pytest.skip("no cgroup v2 here")
    output = Output()
    command = python(
        """
        import os, subprocess, sys
        code = "import signal\\nwhile True: signal.pause()"
        escaped = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        os.write(1, f"escaped {escaped.pid}\\n".encode())
        """
    )
    name, marker = new_marker()
    with trio.fail_after(HANG_GUARD):
        status = await run_child(command, env={**os.environ, name: marker}, on_output=output)
    assert status.ok
    assert output.find("escaped") is not None
    assert marked_processes(marker) == []  # gone before run_child returned


@pytest.mark.parametrize("own_cgroup", [True, False])
async def test_the_child_runs_in_its_own_cgroup_unless_told_not_to(own_cgroup: bool) -> None:
    owned = child_cgroups()
    if owned.tree is None:
        pytest.skip("no cgroup v2 here")
    output = Output()
    code = "import sys; sys.stdout.write(open('/proc/self/cgroup').read())"
    with trio.fail_after(HANG_GUARD):
        await run_child(python(code), on_output=output, own_cgroup=own_cgroup)
    (line,) = [line for line in output.of("stdout") if line.startswith("0::")]
    ours = await trio.Path("/proc/self/cgroup").read_text()
    own = next(line for line in ours.splitlines() if line.startswith("0::"))
    if own_cgroup:
        assert line.startswith(own.rstrip("/") + "/" + os.path.basename(owned.tree.path) + "/")
    else:
        assert line == own


#: An owner whose idle Trio worker threads exit at once; it says when they have (the
#: thread children are forked from lives on: it is the one their death signal follows).
OWNER_WITHOUT_WORKER_THREADS = python(
    f"""
    import os, threading, trio
    import trio._core._thread_cache as thread_cache
    from functools import partial
    from trio_launcher.process import run_child

    thread_cache.IDLE_TIMEOUT = 0.01

    async def main():
        async with trio.open_nursery() as nursery:
            command = {python("import time; time.sleep(600)")!r}
            child = await nursery.start(partial(run_child, command))
            await trio.to_thread.run_sync(lambda: None)
            forker = [t for t in threading.enumerate() if t.name.startswith("trio-launcher-fork")]
            for thread in threading.enumerate():
                if thread is not threading.main_thread() and thread not in forker:
                    thread.join()
            while len(os.listdir("/proc/self/task")) > 1 + len(forker):
                pass  # join returns a moment before the kernel is done with the thread
            print(f"child {{child.pid}}", flush=True)

    trio.run(main)
    """
)


async def test_the_child_outlives_the_owner_s_idle_worker_threads() -> None:
    owner = await trio.lowlevel.open_process(OWNER_WITHOUT_WORKER_THREADS, stdout=subprocess.PIPE)
    try:
        assert owner.stdout is not None
        with trio.fail_after(HANG_GUARD):
            (pid,) = (await Lines(owner.stdout).collect("child"))["child"]
        with pidfds([pid]) as (child,):
            assert not select.select([child], [], [], 0)[0]  # still running
            owner.kill()
            await owner.wait()
            with trio.fail_after(HANG_GUARD):
                await trio.lowlevel.wait_readable(child)  # and it dies with the owner
    finally:
        owner.kill()
        await owner.wait()
