"""Static security check of user code (the AST half of the sandbox).

Runs in the runner process before a task is dispatched, so rejected code
never costs a process.  Results are cached per code and policy (FIFO,
:data:`CACHE_SIZE` entries), like n8n.  The check is skipped
entirely when both import allowlists are ``*``, as in n8n: with unrestricted
imports, attribute rules protect nothing.

What it rejects (each finding becomes one ``"Line N: ..."`` entry); the
name and attribute rules themselves are in :mod:`.attribute_rules`:

* ``import X`` / ``from X import ...`` of a module the policy does not allow,
  and every relative import;
* the names in :data:`~.attribute_rules.BLOCKED_NAMES`, in any role (load,
  store, parameter, ``global``, import alias, class-body assignment, ...);
* attributes starting with ``_`` (dunders outside
  :data:`~.attribute_rules.ALLOWED_DUNDERS`, ``_X__y`` mangled names, and
  private ``_x`` names except ``self._x`` in a method of the user's own
  class) and the attributes in :data:`~.attribute_rules.BLOCKED_ATTRIBUTES`,
  also in ``from m import attr`` and ``case C(attr=...)``;
* ``case C(format=...)`` and ``x.format += ...``: both read ``str.format``
  past the run-time format guard;
* ``__import__(...)`` whose module name is not a string literal;
* ``__builtins__[...]`` / ``builtins[...]`` / ``builtins.name`` reaching a
  denied builtin;
* string literals that are format strings stepping into a refused attribute
  or key (``"{0.__class__}"``, ``"{0._rules}"``).  Format strings *built at
  run time* are checked when they are used (:mod:`.safe_format`).
"""

from __future__ import annotations

import ast
import warnings

from trio_launcher.runner.code_node.user_code import FORMAT_METHODS
from trio_launcher.runner.sandbox.attribute_rules import (
    BLOCKED_ATTRIBUTES,
    BLOCKED_NAMES,
    attribute_problem,
    format_string_problems,
    is_blocked_attribute,
    is_mangled,
)
from trio_launcher.runner.sandbox.import_rules import ImportRules
from trio_launcher.runner.sandbox.policy import SandboxPolicy

__all__ = [
    "BLOCKED_ATTRIBUTES",
    "BLOCKED_NAMES",
    "CACHE_SIZE",
    "analyze",
    "clear_cache",
    "is_blocked_attribute",
    "is_mangled",
    "parse",
]

CACHE_SIZE = 500

_BUILTINS_HANDLES = frozenset({"__builtins__", "builtins"})

_cache: dict[tuple[SandboxPolicy, str], tuple[str, ...]] = {}


def analyze(code: str, policy: SandboxPolicy) -> tuple[str, ...]:
    """Return the security violations in *code* as ``"Line N: ..."`` strings.

    An empty tuple means the code passed.  Raises :class:`SyntaxError` (with
    the user's line numbers, filename ``<unknown>``) if the code does not parse.
    """
    cached = _cache.get((policy, code))
    if cached is not None:
        return cached
    rules = policy.import_rules()
    if rules.allows_everything:
        return ()
    violations = _SecurityVisitor(rules, policy.builtins_deny).check(parse(code))
    _remember((policy, code), violations)
    return violations


def parse(code: str) -> ast.Module:
    """``ast.parse`` without leaking SyntaxWarnings into the runner's log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)


def clear_cache() -> None:
    """Forget every cached analysis (tests, policy reloads)."""
    _cache.clear()


def _remember(key: tuple[SandboxPolicy, str], violations: tuple[str, ...]) -> None:
    while len(_cache) >= CACHE_SIZE:
        del _cache[next(iter(_cache))]
    _cache[key] = violations


class _SecurityVisitor(ast.NodeVisitor):
    """Collects ``(line, message)`` findings over one module."""

    def __init__(self, rules: ImportRules, builtins_deny: frozenset[str]) -> None:
        self._rules = rules
        self._deny = builtins_deny
        self._found: list[tuple[int, str]] = []
        # Names bound to the first parameter of an enclosing method of a
        # class the user defined: ``self._x`` is the user's own business.
        self._receivers: frozenset[str] = frozenset()
        self._methods: set[ast.AST] = set()

    def check(self, tree: ast.Module) -> tuple[str, ...]:
        self.visit(tree)
        unique = sorted(dict.fromkeys(self._found), key=lambda finding: finding[0])
        return tuple(f"Line {line}: {message}" for line, message in unique)

    def _report(self, node: ast.AST, message: str) -> None:
        self._found.append((getattr(node, "lineno", 0), message))

    def _check_name(self, node: ast.AST, name: str | None) -> None:
        if name in BLOCKED_NAMES:
            self._report(node, f"Use of name '{name}' is disallowed")

    def _check_attribute(self, node: ast.AST, name: str, *, own_private: bool = False) -> None:
        problem = attribute_problem(name, own_private=own_private)
        if problem:
            self._report(node, problem)

    def _check_import(self, node: ast.AST, module: str, fromlist: list[str]) -> None:
        problem = self._rules.import_problem(module, fromlist)
        if problem:
            self._report(node, problem)

    # -- imports -------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import(node, alias.name, [])
            self._check_name(node, alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._report(node, "Relative imports are disallowed")
            return
        names = [alias.name for alias in node.names]
        self._check_import(node, node.module or "", names)
        for alias in node.names:
            self._check_attribute(node, alias.name)
            self._check_name(node, alias.name)
            self._check_name(node, alias.asname)

    # -- names, scopes and attributes ----------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._check_name(node, name)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            self._check_name(node, name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_name(node, node.name)
        self._visit_scope(node, node.args)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_name(node, node.name)
        self._visit_scope(node, node.args)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_scope(node, node.args)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_name(node, node.name)
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                self._methods.add(statement)
        self.generic_visit(node)

    def _visit_scope(self, node: ast.AST, arguments: ast.arguments) -> None:
        outer = self._receivers
        positional = [*arguments.posonlyargs, *arguments.args]
        extra = [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
        shadowed = {arg.arg for arg in [*positional, *arguments.kwonlyargs, *extra]}
        self._receivers = outer - shadowed
        if node in self._methods and positional:
            self._receivers |= {positional[0].arg}
        try:
            self.generic_visit(node)
        finally:
            self._receivers = outer

    def visit_Attribute(self, node: ast.Attribute) -> None:
        own = isinstance(node.value, ast.Name) and node.value.id in self._receivers
        self._check_attribute(node, node.attr, own_private=own)
        if _is_builtins_handle(node.value) and node.attr in self._deny:
            self._report(node, f"Access to denied builtin '{node.attr}' is disallowed")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Attribute) and node.target.attr in FORMAT_METHODS:
            self._report(node, f"Augmented assignment to '{node.target.attr}' is disallowed")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = _literal_str(node.slice)
        if _is_builtins_handle(node.value) and key is not None and self._is_denied(key):
            self._report(node, f"Access to denied builtin '{key}' is disallowed")
        self.generic_visit(node)

    def _is_denied(self, key: str) -> bool:
        return key in self._deny or key in BLOCKED_NAMES or is_blocked_attribute(key)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for name in node.kwd_attrs:
            self._check_attribute(node, name)
            if name in FORMAT_METHODS:
                self._report(node, f"Match pattern attribute '{name}' is disallowed")
        self.generic_visit(node)

    # -- dynamic imports and format strings ---------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "__import__":
            self._check_dunder_import(node)
        self.generic_visit(node)

    def _check_dunder_import(self, node: ast.Call) -> None:
        module = _literal_str(node.args[0]) if node.args else None
        if module is None:
            self._report(node, "__import__() is only allowed with a literal module name")
            return
        self._check_import(node, module, _literal_fromlist(node))

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "{" in node.value:
            for name in dict.fromkeys(format_string_problems(node.value)):
                self._report(node, f"Format string accesses '{name}', which is disallowed")


def _is_builtins_handle(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in _BUILTINS_HANDLES


def _literal_str(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_fromlist(node: ast.Call) -> list[str]:
    candidates = node.args[3:4] + [kw.value for kw in node.keywords if kw.arg == "fromlist"]
    for candidate in candidates:
        if isinstance(candidate, ast.List | ast.Tuple):
            return [value for value in map(_literal_str, candidate.elts) if value is not None]
    return []
