"""What the worker's kernel layers allow, worked out in the runner from the sandbox policy.

Task code may read the interpreter (its standard library, extension modules
and shared libraries), the folders that the allowed external packages are
imported from, and a few system files a Python process reads at run time
(time zones, the dynamic linker's cache).  It may write only ``/dev/null``.
It may run programs only when the policy allows a module that starts them.
Nothing else: no ``/proc``, no ``/etc``, no home folder, no working folder.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from trio_launcher.runner.sandbox.import_rules import ImportRules

#: Standard-library modules through which task code can start programs.
PROCESS_MODULES = (
    "os", "posix", "subprocess", "_posixsubprocess", "pty", "multiprocessing",
    "concurrent", "asyncio",
)  # fmt: skip
#: Where shared libraries and programs live on common Linux systems.
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
PROGRAM_DIRS = ("/bin", "/usr/bin", "/usr/local/bin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo")
DEVICES_READ = ("/dev/urandom", "/dev/random", "/dev/zero")
DEVICES_READ_WRITE = ("/dev/null",)


def allows_subprocesses(rules: ImportRules) -> bool:
    """Whether task code may start programs under these import rules."""
    return any(rules.allows(name) for name in PROCESS_MODULES)


def worker_plan(rules: ImportRules, layers: Iterable[str]) -> dict[str, Any]:
    """The ``confine`` part of the worker's config.

    See :class:`trio_launcher.runner.worker.confine.layers.Confinement`.
    """
    exec_allowed = allows_subprocesses(rules)
    interpreter = interpreter_paths()
    return {
        "layers": sorted(layers),
        "read": sorted({*interpreter, *package_paths(rules), *SYSTEM_FILES, *DEVICES_READ}),
        "execute": sorted({*PROGRAM_DIRS, os.path.dirname(os.path.realpath(sys.executable))})
        if exec_allowed
        else [],
        "read_write": list(DEVICES_READ_WRITE),
        "allow_exec": exec_allowed,
    }


def interpreter_paths() -> set[str]:
    """The standard library, extension modules, ``libpython`` and the shared libraries."""
    found = {*LIBRARY_DIRS}
    for key in ("stdlib", "platstdlib"):
        found.add(sysconfig.get_paths()[key])
    for name in ("LIBDIR", "DESTSHARED"):
        value = sysconfig.get_config_var(name)
        if isinstance(value, str) and value:
            found.add(value)
    found.add(os.path.dirname(os.path.realpath(sys.executable)))
    return {path for path in found if os.path.exists(path)}


def package_paths(rules: ImportRules) -> set[str]:
    """The ``sys.path`` folders the allowed external packages are imported from.

    The whole folder, not only the package: an allowed package imports its
    own dependencies (and loads bundled libraries) from beside it.  The
    runner's working folder is never one of them.
    """
    candidates = [entry for entry in sys.path if entry and os.path.isdir(entry)]
    working = os.path.realpath(os.getcwd())
    if rules.external.allow_all:
        chosen = set(candidates)
    else:
        chosen = {folder for name in rules.external.names if (folder := _home(name, candidates))}
    return {folder for folder in chosen if not _contains(os.path.realpath(folder), working)}


def _home(package: str, candidates: list[str]) -> str | None:
    try:
        spec = importlib.util.find_spec(package.partition(".")[0])
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None and spec.origin else None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    where = locations[0] if locations else origin
    if where is None:
        return None
    real = os.path.realpath(where)
    for folder in candidates:
        if _contains(os.path.realpath(folder), real):
            return folder
    return None


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
