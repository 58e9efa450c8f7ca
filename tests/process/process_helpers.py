"""Helpers for tests that run real child processes (own name: test dirs share sys.path)."""

from __future__ import annotations

import os
import sys
import textwrap

import trio

#: Generous hang guard; never a statement about how fast things should be.
HANG_GUARD = 20.0


def python(code: str) -> list[str]:
    """Command running ``code`` in a fresh interpreter with unbuffered output."""
    return [sys.executable, "-u", "-c", textwrap.dedent(code)]


class Output:
    """``on_output`` callback that records lines and lets tests wait for them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._changed = trio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        self._changed.set()
        self._changed = trio.Event()

    def of(self, stream: str) -> list[str]:
        return [line for name, line in self.lines if name == stream]

    def find(self, prefix: str) -> str | None:
        """The rest of the first stdout line starting with ``prefix``, if any."""
        for line in self.of("stdout"):
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()
        return None

    async def wait_for(self, prefix: str) -> str:
        """Wait for a stdout line starting with ``prefix`` and return the rest."""
        while (rest := self.find(prefix)) is None:
            await self._changed.wait()
        return rest


def say_line(text: str) -> str:
    """Code printing ``text`` with a single write: processes sharing a pipe don't mix lines."""
    return f"os.write(1, {(text + chr(10)).encode()!r})"


def sleeper(*, say: str = "", ignore_term: bool = False) -> str:
    """Code that optionally ignores SIGTERM, prints ``say`` and then sleeps forever."""
    lines = ["import os, signal"]
    if ignore_term:
        lines.append("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    if say:
        lines.append(say_line(say))
    lines.append("while True: signal.pause()")
    return "\n".join(lines)


def with_grandchild(grandchild: str, then: str, *, escape: bool = False) -> list[str]:
    """Command whose child starts ``grandchild`` code, prints its pid, then runs ``then``.

    The grandchild inherits stdout/stderr and, unless ``escape``, the process group.
    """
    code = (
        "import os, subprocess, sys\n"
        f"grandchild = subprocess.Popen([sys.executable, '-u', '-c', {grandchild!r}],"
        f" start_new_session={escape})\n"
        "os.write(1, f'grandchild pid {grandchild.pid}\\n'.encode())\n"
    )
    return python(code + textwrap.dedent(then))


async def wait_gone(pid: int) -> None:
    """Wait until process ``pid`` (not necessarily our child) has exited."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


def marked_processes(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment holds ``marker``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker.encode() not in environ.read():
                    continue
            with open(f"/proc/{entry}/stat", "rb") as stat:
                state = stat.read().rpartition(b")")[2].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != b"Z":
            found.append(int(entry))
    return found


def new_marker() -> tuple[str, str]:
    """An environment variable (name, value) that tags the processes of one test."""
    return "TRIO_LAUNCHER_TEST_MARK", os.urandom(8).hex()
