"""Run-time half of the sandbox, applied inside each task process.

* :meth:`RuntimeSandbox.build_builtins` gives user code a builtins table
  without the denied names, with ``__import__`` replaced by
  :class:`ImportGuard` (raises :class:`SecurityViolationError`).
* What user code imports it gets as a :class:`ModuleView`: the module, minus
  its private attributes and the *other* modules it happens to reference.
  Allowing ``datetime`` must not hand out ``datetime.sys`` (and through it
  every loaded module), nor ``random._os``, ``json.codecs.open`` or
  ``uuid._get_command_stdout`` (which runs programs).
* :meth:`RuntimeSandbox.lock_down_process` changes process-wide state, so it
  is for the worker and its task processes only, never for the runner.  It
  clears the environment (keeping the env allowlist), drops every module
  from :data:`sys.modules` that is neither allowlisted nor in
  :data:`SAFE_MODULES`, and routes ``importlib.import_module`` /
  ``importlib.__import__`` through the same rules (allowlisted packages may
  bypass them when transitive imports are trusted).

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

import builtins
import importlib
import os
import posix
import sys
from types import ModuleType

from trio_launcher.runner.import_rules import ImportRules

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: Modules (with their submodules) that stay in ``sys.modules`` for every task.
SAFE_MODULES = frozenset(
    {"builtins", "__main__", "sys", "traceback", "linecache", "importlib", "importlib.machinery"}
)

#: Builtins never handed to user code, whatever the deny list says.
_HIDDEN_BUILTINS = frozenset({"__loader__", "__spec__", "__import__"})
#: Module attributes a :class:`ModuleView` never hands out.
_HIDDEN_MODULE_DUNDERS = frozenset({"__builtins__", "__dict__", "__loader__", "__spec__"})

_real_import = builtins.__import__
_real_import_module = importlib.import_module


class SecurityViolationError(ImportError):
    """User code tried an import the policy refuses."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Security violation detected: {problem}")


class ModuleView:
    """An imported module as user code sees it.

    Attribute reads, writes and deletes go to the module, except that reads
    of private names (``_x``), of ``__builtins__``/``__dict__``/``__loader__``/
    ``__spec__``, and of modules the rules do not allow fail with an
    :class:`AttributeError`.  A module is handed out (as a view itself) when
    the rules allow it, or when it is the submodule registered under that
    dotted name (``os.path``).
    """

    __slots__ = ("_ModuleView__module", "_ModuleView__rules")

    def __init__(self, module: ModuleType, rules: ImportRules) -> None:
        object.__setattr__(self, "_ModuleView__module", module)
        object.__setattr__(self, "_ModuleView__rules", rules)

    def __getattribute__(self, name: str) -> Any:
        module: ModuleType = object.__getattribute__(self, "_ModuleView__module")
        rules: ImportRules = object.__getattribute__(self, "_ModuleView__rules")
        if _is_hidden_name(name):
            raise AttributeError(
                f"Security violation detected: {module.__name__}.{name} is private to the module"
            )
        return reveal(getattr(module, name), module.__name__, name, rules)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_ModuleView__module"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_ModuleView__module"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_ModuleView__module"))

    def __repr__(self) -> str:
        return repr(object.__getattribute__(self, "_ModuleView__module"))


def _is_hidden_name(name: str) -> bool:
    if name in _HIDDEN_MODULE_DUNDERS:
        return True
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def reveal(value: Any, owner: str, name: str, rules: ImportRules) -> Any:
    """*value*, read as attribute *name* of module *owner*, as user code may see it."""
    if not isinstance(value, ModuleType) or rules.allows_everything:
        return value
    path = f"{owner}.{name}"
    if rules.allows(value.__name__) or (sys.modules.get(path) is value and rules.allows(path)):
        return ModuleView(value, rules)
    raise AttributeError(
        f"Security violation detected: {path} is module '{value.__name__}', which is not allowed"
    )


def view_of(module: ModuleType, rules: ImportRules) -> Any:
    """What user code gets for an imported *module*."""
    return module if rules.allows_everything else ModuleView(module, rules)


class ImportGuard:
    """The ``__import__`` user code gets: checks the rules, then imports."""

    __slots__ = ("_rules",)

    def __init__(self, rules: ImportRules) -> None:
        self._rules = rules

    def __call__(
        self,
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Iterable[str] | None = (),
        level: int = 0,
    ) -> Any:
        if not isinstance(name, str):
            raise TypeError(f"module name must be str, not {type(name).__name__}")
        if level:
            raise SecurityViolationError("Relative imports are disallowed")
        targets = tuple(fromlist or ())
        problem = self._rules.import_problem(name, targets)
        if problem:
            raise SecurityViolationError(problem)
        return view_of(_real_import(name, globals, locals, targets, 0), self._rules)

    def __repr__(self) -> str:
        return "<built-in function __import__>"


class RuntimeSandbox:
    """The run-time sandbox settings, rebuilt from :meth:`SandboxPolicy.to_wire`."""

    __slots__ = (
        "_locked_down",
        "allow_transitive_imports",
        "block_env_access",
        "builtins_deny",
        "env_allow",
        "rules",
    )

    def __init__(
        self,
        rules: ImportRules,
        *,
        builtins_deny: Iterable[str] = (),
        block_env_access: bool = True,
        env_allow: Iterable[str] = (),
        allow_transitive_imports: bool = False,
    ) -> None:
        self.rules = rules
        self.builtins_deny = frozenset(builtins_deny)
        self.block_env_access = block_env_access
        self.env_allow = frozenset(env_allow)
        self.allow_transitive_imports = allow_transitive_imports
        self._locked_down: tuple[int, int] | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> RuntimeSandbox:
        """Inverse of :meth:`SandboxPolicy.to_wire`."""
        return cls(
            ImportRules.from_wire(wire["imports"]),
            builtins_deny=wire["builtins_deny"],
            block_env_access=bool(wire["block_env_access"]),
            env_allow=wire["env_allow"],
            allow_transitive_imports=bool(wire["allow_transitive_imports"]),
        )

    def build_builtins(self) -> dict[str, Any]:
        """A fresh builtins table for user code; the caller sets its ``print``."""
        hidden = self.builtins_deny | _HIDDEN_BUILTINS
        table = {name: value for name, value in vars(builtins).items() if name not in hidden}
        table["__import__"] = ImportGuard(self.rules)
        return table

    def lock_down_process(self) -> None:
        """Process-wide measures; call in the task process, before user code.

        A task process forked from a worker that did this inherits the
        result, so calling it again there only checks that no variable or
        module was added since (the worker never removes any).
        """
        if self._locked_down == _process_state():
            return
        if self.block_env_access:
            clear_environment(self.env_allow)
        sanitize_modules(self.rules)
        patch_importlib(self.rules, trust_allowed_callers=self.allow_transitive_imports)
        self._locked_down = _process_state()


def _process_state() -> tuple[int, int]:
    return len(os.environ), len(sys.modules)


def clear_environment(keep: frozenset[str]) -> None:
    """Empty ``os.environ`` (and the C environment) except for the names in *keep*."""
    for name in [name for name in os.environ if name not in keep]:
        del os.environ[name]  # also unsetenv()
    # ``posix.environ`` is the start-up snapshot a fresh ``import os`` is built from.
    kept_bytes = {os.fsencode(name) for name in keep}
    for raw_name in [raw_name for raw_name in posix.environ if raw_name not in kept_bytes]:
        del posix.environ[raw_name]


def sanitize_modules(rules: ImportRules) -> None:
    """Drop from ``sys.modules`` every module user code could not import itself."""
    for name in list(sys.modules):
        if not (_is_safe_module(name) or rules.allows(name)):
            del sys.modules[name]


def _is_safe_module(name: str) -> bool:
    return any(name == safe or name.startswith(safe + ".") for safe in SAFE_MODULES)


def patch_importlib(rules: ImportRules, *, trust_allowed_callers: bool) -> None:
    """Route ``importlib.import_module`` and ``importlib.__import__`` through *rules*."""

    def trusted_caller() -> bool:
        caller = sys._getframe(2).f_globals.get("__name__")
        return trust_allowed_callers and isinstance(caller, str) and rules.allows(caller)

    def import_module(name: str, package: str | None = None) -> Any:
        if trusted_caller():
            return _real_import_module(name, package)
        absolute = _resolve_name(name, package)
        if not rules.allows(absolute):
            raise SecurityViolationError(rules.refusal(absolute))
        return view_of(_real_import_module(name, package), rules)

    def dunder_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if trusted_caller():
            return _real_import(name, *args, **kwargs)
        return ImportGuard(rules)(name, *args, **kwargs)

    importlib.import_module = import_module
    importlib.__import__ = dunder_import


def _resolve_name(name: str, package: str | None) -> str:
    """Absolute module name for ``import_module(name, package)``."""
    if not name.startswith("."):
        return name
    if not package:
        raise SecurityViolationError("Relative imports are disallowed")
    level = len(name) - len(name.lstrip("."))
    base = package.rsplit(".", level - 1)[0]
    rest = name[level:]
    return f"{base}.{rest}" if rest else base
