"""How a flow runner installs its modules' dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from .lock import Language
from .python_packages import PythonInstaller
from .store import default_store

__all__ = ["DependencySettings"]


@attrs.frozen(kw_only=True)
class DependencySettings:
    """Where packages go, which installers put them there, and which runtimes take them.

    ``languages`` maps a runtime's name to the language of its packages: a
    module of a runtime not named here may declare no dependencies. A Python
    runtime's command starts with its interpreter, for which packages are
    resolved. ``environment`` is added to the installers' environment (an
    index: ``PIP_INDEX_URL``, ``UV_INDEX_URL``, ``npm_config_registry``).
    ``timeout`` bounds each installer command, in seconds.
    """

    store: Path = attrs.field(factory=default_store, converter=Path)
    languages: Mapping[str, Language] = attrs.field(
        factory=lambda: {"python": "python", "node": "node"}
    )
    python_installer: PythonInstaller = "auto"
    npm: str = "npm"
    environment: Mapping[str, str] = attrs.field(factory=dict)
    timeout: float = 600.0
