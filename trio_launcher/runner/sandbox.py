"""Static security check of user code (the AST half of the sandbox).

Runs in the runner process before a task is dispatched, so rejected code
never costs a process.  Results are cached per code and policy (FIFO,
:data:`CACHE_SIZE` entries), like n8n.  The check is skipped
entirely when both import allowlists are ``*``, as in n8n: with unrestricted
imports, attribute rules protect nothing.

What it rejects (each finding becomes one ``"Line N: ..."`` entry):

* ``import X`` / ``from X import ...`` of a module the policy does not allow,
  and every relative import;
* the names in :data:`BLOCKED_NAMES`, in any role (load, store, parameter,
  ``global``, import alias, ...);
* the attributes in :data:`BLOCKED_ATTRIBUTES` and name-mangled ``_X__y``
  attributes, including in ``from m import attr`` and ``case C(attr=...)``;
* ``__import__(...)`` whose module name is not a string literal;
* ``__builtins__[...]`` / ``builtins[...]`` / ``builtins.name`` reaching a
  denied builtin;
* string literals that are format strings walking to a dunder or blocked
  attribute (``"{0.__class__}"``).  Format strings *built at run time* cannot
  be seen here; see ``docs/runner-sandbox.md`` for what that leaves open.
"""

from __future__ import annotations

import ast
import re
import string
import warnings

from trio_launcher.runner.import_rules import ImportRules
from trio_launcher.runner.sandbox_policy import SandboxPolicy

CACHE_SIZE = 500

#: Names user code may not mention at all.
BLOCKED_NAMES = frozenset({"__loader__", "__builtins__", "__globals__", "__spec__", "__name__"})

_INTROSPECTION_ATTRIBUTES = frozenset(
    {
        # frames
        "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace",
        # tracebacks
        "tb_frame", "tb_next",
        # generators, coroutines, async generators
        "gi_code", "gi_frame", "gi_yieldfrom",
        "cr_await", "cr_code", "cr_frame", "cr_origin",
        "ag_await", "ag_code", "ag_frame",
        # code objects and closures
        "co_code", "co_consts", "co_names", "cell_contents",
    }
)  # fmt: skip

_DUNDER_ATTRIBUTES = frozenset(
    {
        "__annotations__", "__base__", "__bases__", "__builtins__", "__class__",
        "__closure__", "__code__", "__defaults__", "__delattr__", "__dict__",
        "__func__", "__getattribute__", "__globals__", "__import__",
        "__init_subclass__", "__kwdefaults__", "__loader__", "__mro__",
        "__objclass__", "__reduce__", "__reduce_ex__", "__self__", "__setattr__",
        "__spec__", "__subclasses__", "__subclasshook__", "__traceback__",
        "__wrapped__", "__getstate__",
    }
)  # fmt: skip

#: Attributes user code may not read or write.
BLOCKED_ATTRIBUTES = _INTROSPECTION_ATTRIBUTES | _DUNDER_ATTRIBUTES

_MANGLED = re.compile(r"_[A-Za-z0-9]\w*?__\w+")
_BUILTINS_HANDLES = frozenset({"__builtins__", "builtins"})
# One ``.attribute`` or ``[key]`` step of a format field name ("0.__class__[x]").
_FIELD_STEP = re.compile(r"\.([^.\[]+)|\[([^\]]+)\]")

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


def is_mangled(name: str) -> bool:
    """Whether *name* looks like a name-mangled private attribute (``_X__y``)."""
    return _MANGLED.fullmatch(name) is not None and not name.endswith("__")


def is_blocked_attribute(name: str) -> bool:
    """Whether user code may not access attribute *name*."""
    return name in BLOCKED_ATTRIBUTES or is_mangled(name)


def _attribute_problem(name: str) -> str | None:
    if name in BLOCKED_ATTRIBUTES:
        return f"Access to attribute '{name}' is disallowed"
    if is_mangled(name):
        return f"Access to name-mangled attribute '{name}' is disallowed"
    return None


class _SecurityVisitor(ast.NodeVisitor):
    """Collects ``(line, message)`` findings over one module."""

    def __init__(self, rules: ImportRules, builtins_deny: frozenset[str]) -> None:
        self._rules = rules
        self._deny = builtins_deny
        self._found: list[tuple[int, str]] = []

    def check(self, tree: ast.Module) -> tuple[str, ...]:
        self.visit(tree)
        unique = sorted(dict.fromkeys(self._found), key=lambda finding: finding[0])
        return tuple(f"Line {line}: {message}" for line, message in unique)

    def _report(self, node: ast.AST, message: str) -> None:
        self._found.append((getattr(node, "lineno", 0), message))

    def _check_name(self, node: ast.AST, name: str | None) -> None:
        if name in BLOCKED_NAMES:
            self._report(node, f"Use of name '{name}' is disallowed")

    def _check_attribute(self, node: ast.AST, name: str) -> None:
        problem = _attribute_problem(name)
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

    # -- names and attributes ------------------------------------------------

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
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check_attribute(node, node.attr)
        if _is_builtins_handle(node.value) and node.attr in self._deny:
            self._report(node, f"Access to denied builtin '{node.attr}' is disallowed")
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
            for name in _format_string_attributes(node.value):
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


def _format_string_attributes(text: str, depth: int = 0) -> list[str]:
    """Dunder or blocked attributes/keys that the format string *text* walks to."""
    if depth > 2:  # str.format itself refuses deeper nesting
        return []
    found: list[str] = []
    try:
        for _literal, field, spec, _conversion in string.Formatter().parse(text):
            if field is not None:
                found.extend(_field_problems(field))
            if spec and "{" in spec:
                found.extend(_format_string_attributes(spec, depth + 1))
    except ValueError:  # not a valid format string, so not a walk either
        return found
    return found


def _field_problems(field: str) -> list[str]:
    problems = []
    for step in _FIELD_STEP.finditer(field):
        attribute, key = step.group(1), step.group(2)
        name = attribute if attribute is not None else key
        dunder = name.startswith("__") and name.endswith("__")
        if dunder or (attribute is not None and is_blocked_attribute(attribute)):
            problems.append(name)
    return problems
