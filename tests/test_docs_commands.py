"""Every shell command in README.md and docs/*.md names things that exist here.

``trio-launcher`` lines must parse with the real command line, ``python``
lines must name a script of the checkout or an importable module, and no line
names a path that only exists on one machine.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from trio_launcher.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
#: Words that stand for something the reader supplies: such lines are not run as they are.
PLACEHOLDER = re.compile(r"\.\.\.|\[|NAME\b")


def commands(page: Path) -> list[str]:
    """The command lines of the page's ``sh`` blocks (continuations joined, comments cut)."""
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```$", page.read_text(), re.DOTALL | re.MULTILINE):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append(words)
    return [" ".join(shlex.quote(w) for w in words) for words in found]


def program_and_arguments(line: str) -> list[str]:
    words = shlex.split(line)
    while words and ASSIGNMENT.match(words[0]):
        words.pop(0)
    return words


ALL = [(page.relative_to(ROOT).as_posix(), line) for page in PAGES for line in commands(page)]


@pytest.mark.parametrize(("page", "line"), ALL)
def test_every_command_names_what_exists(page: str, line: str) -> None:
    words = program_and_arguments(line)
    program, arguments = words[0], words[1:]
    assert not program.startswith("/"), f"{page}: {program} exists on one machine only"
    if program == "trio-launcher" and not PLACEHOLDER.search(line):
        build_parser().parse_args(arguments)  # SystemExit if the docs are out of date
    elif program == "python" and arguments[0] == "-m":
        assert importlib.util.find_spec(arguments[1]) is not None, f"{page}: {line}"
    elif program == "python" and arguments[0].endswith(".py"):
        assert (ROOT / arguments[0]).is_file(), f"{page}: {line}"


def test_benchmark_commands_of_the_docs_accept_their_options() -> None:
    lines = [words for _, line in ALL if (words := program_and_arguments(line))[0] == "python"]
    scripts = {tuple(words[1:]) for words in lines if words[1].startswith("benchmarks/")}
    assert scripts
    for script, *options in scripts:
        flags = [option for option in options if option.startswith("--")]
        shown = subprocess.run(
            [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True
        )
        assert shown.returncode == 0, shown.stderr
        assert all(flag in shown.stdout for flag in flags), (script, flags)
