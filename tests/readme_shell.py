"""Runs the README's three shell-quickstart blocks as a user would, in three terminals.

Run inside a private network namespace (see test_readme.py), so that the
default ports the README relies on are free. argv: the broker's, the
launcher's and the task's block. Prints the task's output; exits with its code.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading


def terminal(block: str, **streams: int) -> subprocess.Popen[str]:
    """A shell running ``block`` in a process group of its own, like a terminal's."""
    return subprocess.Popen(["bash", "-c", block], text=True, start_new_session=True, **streams)


def wait_until_listening(broker: subprocess.Popen[str]) -> None:
    """Read the broker's log until it listens, then copy the rest to our stderr."""
    assert broker.stderr is not None
    for line in broker.stderr:
        sys.stderr.write(line)
        if "listening on" in line:
            break
    else:
        sys.exit(f"the broker exited before listening: {broker.wait()}")
    threading.Thread(
        target=shutil.copyfileobj, args=(broker.stderr, sys.stderr), daemon=True
    ).start()


def main() -> int:
    broker_block, launcher_block, task_block = sys.argv[1:4]
    broker = terminal(broker_block, stderr=subprocess.PIPE)
    wait_until_listening(broker)
    launcher = terminal(launcher_block)
    try:
        task = subprocess.run(["bash", "-c", task_block], capture_output=True, text=True)
    finally:
        for shell in (launcher, broker):
            os.killpg(shell.pid, signal.SIGINT)  # Ctrl-C in that terminal
        codes = [shell.wait() for shell in (launcher, broker)]
    sys.stderr.write(task.stderr)
    print(task.stdout, end="")
    print(f"stopped with Ctrl-C: launcher {codes[0]}, broker {codes[1]}", file=sys.stderr)
    return task.returncode if codes == [0, 0] else 100


if __name__ == "__main__":
    sys.exit(main())
