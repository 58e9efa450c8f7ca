"""The conformance kit: both shipped runtimes pass it; a broken runtime is named and fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from runtime_helpers import NODE_24, NODE_RUNTIME_SCRIPT, PYTHON_RUNTIME

from trio_launcher.flows.conformance import _SHIPPED, MODULES, check_runtime, modules_from
from trio_launcher.flows.conformance_checks import CHECKS, PACKAGE, PACKAGE_VALUE

#: Every check, the hello first; and those a runtime with no optional capability skips.
TOTAL = 1 + len(CHECKS)
OPTIONAL = sum(1 for *_, capability in CHECKS if capability is not None)

HANG_GUARD = 60
#: The Python runtime, announcing sync modules only.
SYNC_ONLY_RUNTIME = (
    "import sys; from trio_launcher.flows import runtime_py as r; "
    "r.CAPABILITIES[:] = ['sync-modules']; sys.exit(r.main(sys.argv[1:]))"
)
SHIPPED_PYTHON = _SHIPPED["python"]
CHECK_RUNTIME = [sys.executable, "-m", "trio_launcher.cli", "flows", "check-runtime", "--"]


def check_runtime_command(*runtime_command: str) -> subprocess.CompletedProcess[str]:
    """``trio-launcher flows check-runtime -- RUNTIME_COMMAND...``, run to its end."""
    return subprocess.run(
        [*CHECK_RUNTIME, *runtime_command],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("no node on PATH")
    return found


async def test_the_python_runtime_passes_every_check() -> None:
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime(PYTHON_RUNTIME)
    assert [r for r in results if not r.passed] == []
    assert len(results) == TOTAL


async def test_the_node_runtime_passes_every_check() -> None:
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime([node(), NODE_RUNTIME_SCRIPT])
    assert [r for r in results if not r.passed] == []


async def test_the_node_runtime_passes_on_a_node_without_get_builtin_module() -> None:
    # as Node before 20.16 and 22.3: the runtime imports its built-ins instead
    without = "data:text/javascript,delete process.getBuiltinModule"
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime([node(), "--import", without, NODE_RUNTIME_SCRIPT])
    assert [r for r in results if not r.passed] == []
    assert len(results) == TOTAL


@pytest.mark.skipif(not NODE_24.exists(), reason=f"no Node 24 at {NODE_24}")
async def test_the_node_runtime_passes_every_check_on_node_24() -> None:
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime([str(NODE_24), NODE_RUNTIME_SCRIPT])
    assert [r for r in results if not r.passed] == []


async def test_a_runtime_that_never_says_hello_fails_naming_it() -> None:
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert [(r.name, r.passed) for r in results] == [("hello", False)]
    assert "exit code 3" in results[0].detail


async def test_modules_of_another_language_come_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(
        "def handle(message, context, send):\n    send('out', message)\n"
    )
    (tmp_path / "fail.py").write_text("def handle(m, c, s):\n    x = 1\n    raise ValueError\n")
    (tmp_path / "count.py").write_text(
        "def handle(m, context, send):\n    context['count'] = context.get('count', 0) + 1\n"
        "    send('out', context['count'])\n"
    )
    (tmp_path / "sleepy.py").write_text(
        "import asyncio\nasync def handle(m, context, send):\n"
        "    await asyncio.sleep(0.01)\n    send('out', m)\n"
    )
    (tmp_path / "packaged.py").write_text(
        "import conformance_pkg\ndef handle(m, context, send):\n"
        "    send('out', conformance_pkg.VALUE)\n"
    )
    package_file = f"{PACKAGE}conformance_pkg/__init__.py"
    (tmp_path / package_file).parent.mkdir(parents=True)
    (tmp_path / package_file).write_text(f"VALUE = {PACKAGE_VALUE!r}\n")
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime(PYTHON_RUNTIME, modules=modules_from(tmp_path))
    assert all(r.passed for r in results)
    assert set(modules_from(tmp_path)) == {*MODULES, package_file}


def test_the_command_prints_each_check_and_exits_0_when_all_pass() -> None:
    done = check_runtime_command(*PYTHON_RUNTIME)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == f"{TOTAL} of {TOTAL} checks passed"


async def test_the_checks_of_a_capability_not_announced_are_skipped_with_the_reason(
    tmp_path: Path,
) -> None:
    for name in ("echo", "fail", "count"):  # no sleepy: a sync-only runtime needs none
        (tmp_path / f"{name}.py").write_text(SHIPPED_PYTHON[name])
    sync_only = [*PYTHON_RUNTIME[:1], "-c", SYNC_ONLY_RUNTIME]
    with trio.fail_after(HANG_GUARD):
        results = await check_runtime(sync_only, modules=modules_from(tmp_path))
    skipped = [r for r in results if r.skipped]
    assert [r for r in results if not r.passed and not r.skipped] == []
    assert {r.detail for r in skipped} == {
        "the runtime does not announce the capability 'async-modules'",
        "the runtime does not announce the capability 'local-edges'",
        "the runtime does not announce the capability 'batches'",
        "the runtime does not announce the capability 'packages'",
    }
    assert len(skipped) == OPTIONAL


def test_the_command_counts_skipped_checks_and_exits_0() -> None:
    done = check_runtime_command(*PYTHON_RUNTIME[:1], "-c", SYNC_ONLY_RUNTIME)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = f"{TOTAL - OPTIONAL} of {TOTAL} checks passed, {OPTIONAL} skipped"
    assert done.stdout.splitlines()[-1] == summary
    assert "SKIP local edge echo -> count: the runtime does not announce" in done.stdout


def test_the_command_exits_1_when_a_check_fails() -> None:
    done = check_runtime_command("false")
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL hello: runtime false exited")
