"""What a flow runner is configured with: its runtimes' commands, its component library."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from importlib import resources

import attrs

from .components import ComponentLibrary, builtin_components
from .deps.settings import DependencySettings

__all__ = ["FlowRunnerConfig", "shipped_runtimes"]


def shipped_runtimes() -> dict[str, tuple[str, ...]]:
    """The shipped runtimes' commands: Python always, Node.js when ``node`` is on PATH."""
    commands: dict[str, tuple[str, ...]] = {
        "python": (sys.executable, "-m", "trio_launcher.flows.runtime_py")
    }
    node = shutil.which("node")
    if node is not None:
        script = resources.files("trio_launcher.flows").joinpath("runtime.mjs")
        commands["node"] = (node, os.fspath(str(script)))
    return commands


@attrs.frozen(kw_only=True)
class FlowRunnerConfig:
    """A flow runner's settings.

    ``runtimes`` maps a runtime's name (what a module's ``metadata.runtime``
    says) to the command that starts it (the FIFO paths are added to it).
    A runtime's process starts when a module needs it and stops when none
    does; one that crashes is started again after ``restart_initial``
    seconds, doubling up to ``restart_maximum``. ``dependencies`` says where
    modules' packages are installed, and by what.
    """

    runtimes: Mapping[str, tuple[str, ...]] = attrs.field(factory=shipped_runtimes)
    components: ComponentLibrary = attrs.field(factory=builtin_components)
    hello_timeout: float = 10.0
    grace_period: float = 2.0
    restart_initial: float = 0.1
    restart_maximum: float = 5.0
    dependencies: DependencySettings = attrs.field(factory=DependencySettings)
