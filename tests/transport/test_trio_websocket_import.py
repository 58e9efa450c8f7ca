"""trio-websocket loads without importlib.metadata, and knows Trio is new enough."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_runner_s_path_to_its_first_offer_loads_no_importlib_metadata() -> None:
    code = (
        "import sys, trio_launcher.runner.main, trio_launcher.runner.connection\n"
        "print('trio_websocket' in sys.modules, 'importlib.metadata' in sys.modules)"
    )
    assert run_python(code) == "True False"


def test_trio_websocket_takes_trio_for_what_it_is_and_the_stand_in_is_gone() -> None:
    code = (
        "from trio_launcher.transport.websocket import ConnectionClosed\n"
        "import importlib.metadata, trio, trio_websocket._impl as impl\n"
        "print(impl._IS_TRIO_MULTI_ERROR, importlib.metadata.version('trio') == trio.__version__)"
    )
    assert run_python(code) == "False True"


def test_where_importlib_metadata_is_loaded_already_trio_websocket_uses_it() -> None:
    code = (
        "import importlib.metadata\n"
        "from trio_launcher.transport.websocket import ConnectionClosed\n"
        "import trio_websocket._impl as impl\n"
        "print(impl.version is importlib.metadata.version)"
    )
    assert run_python(code) == "True"
