"""Runs the FBP endpoint walk-through of docs/flows.md as a user would, in three terminals.

Run inside a private network namespace (see test_readme.py): the walk-through
uses the default port. argv: the server's, the follower's and the sender's
block. Prints the follower's output; exits with its code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def terminal(block: str, **streams: int) -> subprocess.Popen[str]:
    """A shell running ``block`` in a process group of its own, like a terminal's."""
    return subprocess.Popen(["bash", "-c", block], text=True, start_new_session=True, **streams)


def read_until(stream: object, text: str) -> None:
    """Copy lines of ``stream`` to our stderr until one holds ``text``."""
    for line in stream:  # type: ignore[attr-defined]
        sys.stderr.write(line)
        if text in line:
            return
    sys.exit(f"no line with {text!r}")


def main() -> int:
    server_block, follower_block, sender_block = sys.argv[1:4]
    server = terminal(server_block, stdout=subprocess.PIPE)
    try:
        read_until(server.stdout, "listening on")
        follower = terminal(follower_block, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        read_until(follower.stderr, "tailing")
        sender = subprocess.run(["bash", "-c", sender_block], capture_output=True, text=True)
        sys.stderr.write(sender.stdout + sender.stderr)
        out, err = follower.communicate()
        sys.stderr.write(err)
        print(out, end="")
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the server's terminal
    code = server.wait()
    print(f"server stopped with Ctrl-C: {code}", file=sys.stderr)
    return follower.returncode if code == 0 and sender.returncode == 0 else 100


if __name__ == "__main__":
    sys.exit(main())
