"""The README's quickstarts run as written and print what the README says they print.

Both run in a private network namespace (user + network + PID, via
``unshare``): the README uses the default ports, which other programs on this
machine may hold, and every process left in the namespace dies with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HANG_GUARD = 120
#: A private loopback: user, network and PID namespaces; lo up; then the command.
PRIVATE_NETWORK = [
    "unshare",
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "sh",
    "-c",
    'ip link set lo up && exec "$0" "$@"',
]


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``text`` in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def section(text: str, heading: str) -> str:
    """From the ``## heading`` line to the next ``## `` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end < 0 else end]


def shell_quickstart() -> list[str]:
    """The broker's, the launcher's and the task's block of the shell quickstart."""
    blocks = code_blocks(section(README, "Quickstart"), "sh")[:3]
    commands = ("trio-launcher broker", "trio-launcher launch", "trio-launcher task")
    assert all(command in block for command, block in zip(commands, blocks, strict=True))
    return blocks


def documented_output(block: str) -> str:
    """The ``# output`` comment lines that end a block, without the ``# ``."""
    lines = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    return "\n".join(lines)


def private_network_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run([*PRIVATE_NETWORK, "true"], capture_output=True)
    return probe.returncode == 0


needs_private_network = pytest.mark.skipif(
    not private_network_available(),
    reason="needs unshare and ip, and user namespaces, for a private loopback",
)


def environment() -> dict[str, str]:
    """This environment without any n8n or trio-launcher setting; this venv's commands first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "TRIO_LAUNCHER_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


async def run_privately(*command: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(HANG_GUARD):
        return await trio.run_process(
            [*PRIVATE_NETWORK, *command],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=environment(),
            cwd=ROOT,
        )


def test_readme_keeps_its_set_up_commands() -> None:
    blocks = code_blocks(section(README, "Set up"), "sh")
    assert blocks == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && trio-launcher demo\n",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' "
        "&& python -m pytest\n",
    ]


@needs_private_network
async def test_python_quickstart_prints_what_the_readme_says() -> None:
    (code,) = code_blocks(section(README, "Quickstart"), "python")
    expected = re.search(r"print\(result\.result\)  # (.*)$", code, flags=re.MULTILINE)
    assert expected is not None
    done = await run_privately(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == expected.group(1)


@needs_private_network
async def test_shell_quickstart_runs_a_task_on_a_launched_runner() -> None:
    broker, launcher, task = shell_quickstart()
    driver = str(Path(__file__).with_name("readme_shell.py"))
    done = await run_privately(sys.executable, driver, broker, launcher, task)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == documented_output(task)
