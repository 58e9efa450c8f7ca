"""Run-time half of the sandbox, applied inside each task process.

* :meth:`RuntimeSandbox.build_builtins` gives user code a builtins table
  without the denied names, with ``__import__`` replaced by
  :func:`import_guard` (raises :class:`SecurityViolationError`) and the
  format hook of :mod:`.safe_format` added (see
  :data:`trio_launcher.runner.code_node.user_code.FORMAT_HOOK`).
* What user code imports it gets as a :class:`ModuleView`: the module, minus
  its ``_``-prefixed attributes and the *other* modules it happens to
  reference, with the functions in :data:`.module_guards.GUARDS` replaced.
  Allowing ``datetime`` must not hand out ``datetime.sys`` (and through it
  every loaded module), nor ``random._os``, ``json.codecs.open`` or
  ``uuid._get_command_stdout`` (which runs programs).
* Nothing handed to user code holds state in attributes: ``__import__``,
  ``print`` and the views keep it in closures (:mod:`.hardened`), and what
  they raise carries no real module (no ``AttributeError.obj``, no chained
  internal exception).
* :meth:`RuntimeSandbox.lock_down_process` changes process-wide state, so it
  is for the worker and its task processes only, never for the runner.  It
  clears the environment (keeping the env allowlist), drops every module
  from :data:`sys.modules` that is neither allowlisted nor in
  :data:`SAFE_MODULES`, routes ``importlib.import_module`` /
  ``importlib.__import__`` through the same rules (allowlisted packages may
  bypass them when transitive imports are trusted; user code always gets
  the checking versions), and limits :mod:`linecache` to Python sources
  on ``sys.path`` (``traceback`` and ``warnings`` read any file through it).

This module is imported by the pre-started worker: stdlib only, no ``typing``.
"""

from __future__ import annotations

import builtins
import importlib
import os
import posix
import sys
from types import ModuleType

from trio_launcher.runner.code_node.user_code import FORMAT_HOOK
from trio_launcher.runner.sandbox.hardened import builtin_function
from trio_launcher.runner.sandbox.import_rules import ImportRules
from trio_launcher.runner.sandbox.module_guards import GUARDS, Unavailable
from trio_launcher.runner.sandbox.safe_format import AccessViolationError, format_attribute

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = [
    "SAFE_MODULES",
    "AccessViolationError",
    "ModuleView",
    "ModuleViews",
    "RuntimeSandbox",
    "SecurityViolationError",
    "import_guard",
]

#: Modules (with their submodules) that stay in ``sys.modules`` for every task.
SAFE_MODULES = frozenset(
    {"builtins", "__main__", "sys", "traceback", "linecache", "importlib", "importlib.machinery"}
)

#: Builtins never handed to user code, whatever the deny list says.
_HIDDEN_BUILTINS = frozenset({"__loader__", "__spec__", "__import__"})
#: The only ``_``-prefixed module attributes a :class:`ModuleView` hands out.
MODULE_DUNDERS = frozenset({"__name__", "__doc__", "__file__", "__version__", "__all__"})

_real_import = builtins.__import__
_real_import_module = importlib.import_module
_MISSING = object()


class SecurityViolationError(ImportError):
    """User code tried an import the policy refuses."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Security violation detected: {problem}")


class ModuleView:
    """An imported module as user code sees it (the base of every view's class).

    Attribute reads, writes and deletes go to the module, except that:

    * names starting with ``_`` fail with :class:`AccessViolationError`
      (reads of :data:`MODULE_DUNDERS` excepted), so neither private module
      state nor the module's own bound dunders (``json.__reduce_ex__``) leak;
    * a module the rules do not allow fails the same way; one they allow
      (or the submodule registered under that dotted name, ``os.path``) is
      handed out as a view itself;
    * the few functions in :data:`.module_guards.GUARDS` are replaced;
    * a missing name raises an ``AttributeError`` of its own, without the
      ``obj`` (the real module) that CPython's carries.

    A view holds no state of its own (``__slots__ = ()``): its module lives
    in the closures of its class's methods, one class per module.
    """

    __slots__ = ()


class ModuleViews:
    """Hands out one :class:`ModuleView` per module, for one set of import rules."""

    __slots__ = ("_views", "rules")

    def __init__(self, rules: ImportRules) -> None:
        self.rules = rules
        self._views: dict[ModuleType, Any] = {}

    def view_of(self, module: ModuleType) -> Any:
        """What user code gets for an imported *module* (the module itself if all is allowed)."""
        if self.rules.allows_everything:
            return module
        view = self._views.get(module)
        if view is None:
            view = self._views[module] = _new_view(module, self, _guards_for(module, self))
        return view

    def reveal(self, value: Any, owner: str, name: str) -> Any:
        """*value*, read as attribute *name* of module *owner*, as user code may see it."""
        if not isinstance(value, ModuleType) or self.rules.allows_everything:
            return value
        path = f"{owner}.{name}"
        module_name = getattr(value, "__name__", None)
        if not isinstance(module_name, str):
            raise AccessViolationError(f"{path} is a module without a name")
        if self.rules.allows(module_name) or (
            sys.modules.get(path) is value and self.rules.allows(path)
        ):
            return self.view_of(value)
        raise AccessViolationError(f"{path} is module '{module_name}', which is not allowed")


def _guards_for(module: ModuleType, views: ModuleViews) -> dict[str, Any]:
    name = getattr(module, "__name__", None)
    if name == "importlib":
        return importlib_guards(module, views)
    build = GUARDS.get(name) if isinstance(name, str) else None
    return build(module) if build is not None else {}


def _new_view(module: ModuleType, views: ModuleViews, guards: dict[str, Any]) -> ModuleView:
    owner = str(getattr(module, "__name__", "?"))

    def __getattribute__(self: ModuleView, name: str) -> Any:
        if name in guards:
            return _guarded(guards[name], owner, name)
        if _is_hidden_name(name):
            raise AccessViolationError(f"{owner}.{name} is private to the module")
        value = getattr(module, name, _MISSING)
        if value is _MISSING:
            raise AttributeError(f"module '{owner}' has no attribute '{name}'")
        return views.reveal(value, owner, name)

    def __setattr__(self: ModuleView, name: str, value: Any) -> None:
        _refuse_private(owner, name)
        setattr(module, name, value)

    def __delattr__(self: ModuleView, name: str) -> None:
        _refuse_private(owner, name)
        delattr(module, name)

    def __dir__(self: ModuleView) -> list[str]:
        return dir(module)

    def __repr__(self: ModuleView) -> str:
        return repr(module)

    namespace = {
        "__slots__": (),
        "__getattribute__": __getattribute__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__dir__": __dir__,
        "__repr__": __repr__,
    }
    return type("module", (ModuleView,), namespace)()  # type: ignore[no-any-return]


def _is_hidden_name(name: str) -> bool:
    return name.startswith("_") and name not in MODULE_DUNDERS


def _refuse_private(owner: str, name: str) -> None:
    if name.startswith("_"):
        raise AccessViolationError(f"{owner}.{name} is private to the module")


def _guarded(value: Any, owner: str, name: str) -> Any:
    if isinstance(value, Unavailable):
        raise AccessViolationError(f"{owner}.{name} is not available: {value.reason}")
    return value


def import_guard(rules: ImportRules, views: ModuleViews | None = None) -> Any:
    """The ``__import__`` user code gets: checks the rules, then imports (a view).

    It refuses what the rules refuse with :class:`SecurityViolationError`,
    takes only exact ``str`` names (a ``str`` subclass could answer the
    check with one name and the import with another), and re-raises import
    failures as fresh exceptions, without the internal exceptions (and the
    real modules they carry) chained to them.
    """
    views = views or ModuleViews(rules)

    def __import__(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Iterable[str] | None = (),
        level: int = 0,
    ) -> Any:
        """Import a module the sandbox allows; see ``builtins.__import__``."""
        name = _exact_name(name, "module name")
        if level:
            raise SecurityViolationError("Relative imports are disallowed")
        targets = tuple(_exact_name(item, "Item in from list") for item in fromlist or ())
        problem = rules.import_problem(name, targets)
        if problem:
            raise SecurityViolationError(problem)
        return views.view_of(_import_cleanly(name, globals, locals, targets))

    return builtin_function(__import__, "__import__")


def _exact_name(value: object, what: str) -> str:
    if type(value) is not str:
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    return value


def _import_cleanly(name: str, globals: Any, locals: Any, targets: tuple[str, ...]) -> ModuleType:
    """``__import__(name, ...)``; a failure is raised again as a fresh exception."""
    try:
        return _real_import(name, globals, locals, targets, 0)
    except ImportError as exc:
        failure: Exception = _fresh_import_error(exc)
    except AttributeError as exc:
        failure = AttributeError(str(exc))
    raise failure  # outside the handler, so the internal exception is not its context


def _fresh_import_error(exc: ImportError) -> ImportError:
    cls = ModuleNotFoundError if isinstance(exc, ModuleNotFoundError) else ImportError
    name = exc.name if isinstance(exc.name, str) else None
    return cls(str(exc), name=name)


class RuntimeSandbox:
    """The run-time sandbox settings, rebuilt from :meth:`SandboxPolicy.to_wire`."""

    __slots__ = (
        "_locked_down",
        "allow_transitive_imports",
        "block_env_access",
        "builtins_deny",
        "env_allow",
        "rules",
        "views",
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
        self.views = ModuleViews(rules)
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
        table["__import__"] = import_guard(self.rules, self.views)
        table[FORMAT_HOOK] = getattr if self.rules.allows_everything else format_attribute
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
        if _may_import_stdlib(self.rules):
            restrict_linecache()
        sanitize_modules(self.rules)
        patch_importlib(self.views, trust_allowed_callers=self.allow_transitive_imports)
        self._locked_down = _process_state()


def _may_import_stdlib(rules: ImportRules) -> bool:
    if rules.allows_everything:
        return False
    return rules.stdlib.allow_all or bool(rules.stdlib.names)


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


def restrict_linecache() -> None:
    """Let :mod:`linecache` read only ``.py`` files below a ``sys.path`` directory.

    ``traceback.format_list([("/etc/passwd", 1, "x", None)])`` or
    ``warnings.formatwarning(..., "/etc/passwd", 1)`` would otherwise hand
    out any file's lines.  Tracebacks of library code keep their source lines.
    """
    import linecache

    if getattr(linecache.updatecache, "restricted", False):
        return
    real = linecache.updatecache
    roots = _source_roots()

    def updatecache(filename: str, module_globals: Any = None) -> list[str]:
        if not _is_library_source(filename, roots):
            return []
        return real(filename, module_globals)

    updatecache.restricted = True  # type: ignore[attr-defined]
    linecache.updatecache = updatecache
    linecache.clearcache()


def _source_roots() -> tuple[str, ...]:
    entries = (os.path.realpath(entry) for entry in sys.path if entry and entry != ".")
    return tuple(entry + os.sep for entry in entries if os.path.isdir(entry))


def _is_library_source(filename: object, roots: tuple[str, ...]) -> bool:
    if type(filename) is not str or not filename.endswith(".py"):
        return False
    return os.path.realpath(filename).startswith(roots)


def sanitize_modules(rules: ImportRules) -> None:
    """Drop from ``sys.modules`` every module user code could not import itself."""
    for name in list(sys.modules):
        if not (_is_safe_module(name) or rules.allows(name)):
            del sys.modules[name]


def _is_safe_module(name: str) -> bool:
    return any(name == safe or name.startswith(safe + ".") for safe in SAFE_MODULES)


def checked_import_module(views: ModuleViews) -> Callable[..., Any]:
    """``importlib.import_module`` as user code gets it: checks the rules, returns a view."""
    rules = views.rules

    def import_module(name: str, package: str | None = None) -> Any:
        """Import a module the sandbox allows; see ``importlib.import_module``."""
        name = _exact_name(name, "module name")
        if package is not None:
            package = _exact_name(package, "package")
        absolute = _resolve_name(name, package)
        if not rules.allows(absolute):
            raise SecurityViolationError(rules.refusal(absolute))
        return views.view_of(_real_import_module(name, package))

    return import_module


def patch_importlib(views: ModuleViews, *, trust_allowed_callers: bool) -> None:
    """Route ``importlib.import_module`` and ``importlib.__import__`` through the rules.

    With *trust_allowed_callers*, calls made by an allowlisted module get the
    real functions.  User code never gets these: its ``importlib`` view hands
    out the checking ones, so it cannot pass a trusting one to an allowed
    module as a callback (a confused deputy).
    """
    rules = views.rules
    strict_import_module = checked_import_module(views)
    strict_dunder_import = import_guard(rules, views)

    def trusted_caller() -> bool:
        caller = sys._getframe(2).f_globals.get("__name__")
        return trust_allowed_callers and isinstance(caller, str) and rules.allows(caller)

    def import_module(name: str, package: str | None = None) -> Any:
        if trusted_caller():
            return _real_import_module(name, package)
        return strict_import_module(name, package)

    def dunder_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if trusted_caller():
            return _real_import(name, *args, **kwargs)
        return strict_dunder_import(name, *args, **kwargs)

    importlib.import_module = import_module
    importlib.__import__ = dunder_import


def importlib_guards(module: ModuleType, views: ModuleViews) -> dict[str, Any]:
    """What an ``importlib`` view hands out instead of the (possibly trusting) originals."""
    return {"import_module": checked_import_module(views)}


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
