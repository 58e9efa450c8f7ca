"""The Python runtime is stdlib plus orjson: it loads neither Trio nor attrs nor cattrs."""

from __future__ import annotations

import subprocess
import sys

#: Libraries of the runner's side that the runtime must never load.
RUNNER_ONLY = {"trio", "attr", "attrs", "cattr", "cattrs"}


def modules_loaded_by(statement: str) -> set[str]:
    """``sys.modules`` of a fresh ``python -I`` after ``statement``."""
    source = f"import sys\n{statement}\nsys.stdout.write('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-I", "-c", source], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_runtime_loads_no_trio_attrs_or_cattrs() -> None:
    loaded = modules_loaded_by("from trio_launcher.flows.runtime_py import main")
    assert {"trio_launcher.flows.runtime_py", "trio_launcher.flows.wire", "orjson"} <= loaded
    assert not RUNNER_ONLY & loaded
    ours = {name for name in loaded if name.startswith("trio_launcher.")}
    assert ours == {
        "trio_launcher.flows",
        "trio_launcher.flows.runtime_py",
        "trio_launcher.flows.runtime_py_module",
        "trio_launcher.flows.runtime_py_output",
        "trio_launcher.flows.wire",
    }
