"""The worker side is stdlib only: its modules load neither Trio nor attrs nor cattrs.

Each check runs a fresh ``python -I`` that finds the package the way the real
worker does (:func:`~trio_launcher.runner.executor.worker_handle.worker_bootstrap`:
empty parent packages, whatever ``sys.path`` holds), with this environment's
site-packages, where Trio, attrs and cattrs are installed, still on its path.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import trio_launcher.runner.worker
from trio_launcher.runner.executor.worker_handle import worker_bootstrap

#: Libraries of the runner's side that the worker must never load.
RUNNER_ONLY = {"trio", "attr", "attrs", "cattr", "cattrs"}
#: Where the worker's own modules may come from.
WORKER_SIDE = (
    "trio_launcher.runner.worker",
    "trio_launcher.runner.sandbox",
    "trio_launcher.runner.code_node",
    "trio_launcher.prctl",
    "trio_launcher.process.group",
)
#: The parents the bootstrap replaces with empty packages.
STUBS = {"trio_launcher", "trio_launcher.runner", "trio_launcher.process"}


def worker_modules() -> list[str]:
    """Every module of ``runner/worker/``, ``runner/worker/confine/`` included."""
    package = trio_launcher.runner.worker
    prefix = f"{package.__name__}."
    return sorted(info.name for info in pkgutil.walk_packages(package.__path__, prefix))


def modules_loaded_by(statements: str) -> set[str]:
    """``sys.modules`` of a fresh ``python -I`` after the bootstrap and *statements*."""
    report = "sys.stdout.write('\\n'.join(sys.modules))"
    source = worker_bootstrap(f"{statements}\n{report}")
    done = subprocess.run(
        [sys.executable, "-I", "-c", source], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_every_worker_module_imports_without_trio_attrs_or_cattrs() -> None:
    modules = worker_modules()
    assert "trio_launcher.runner.worker.zygote" in modules
    assert "trio_launcher.runner.worker.confine.seccomp" in modules
    loaded = modules_loaded_by("\n".join(f"import {name}" for name in modules))
    assert set(modules) <= loaded
    assert not RUNNER_ONLY & loaded


def test_the_worker_loads_only_worker_side_modules() -> None:
    loaded = modules_loaded_by("from trio_launcher.runner.worker.zygote import main")
    ours = {name for name in loaded if name.split(".")[0] == "trio_launcher"} - STUBS
    assert ours
    assert all(name.startswith(WORKER_SIDE) for name in ours), sorted(ours)
    assert not RUNNER_ONLY & loaded
    assert "typing" not in loaded  # its modules say TYPE_CHECKING = False
