"""The static check (AST) and the checking importer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from trio_launcher.runner.sandbox import static_check as sandbox
from trio_launcher.runner.sandbox.import_rules import ImportRules
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.sandbox.runtime import ModuleView, SecurityViolationError, import_guard

DEFAULT = SandboxPolicy()


def violations(code: str, policy: SandboxPolicy = DEFAULT) -> tuple[str, ...]:
    return sandbox.analyze(code, policy)


# -- imports -----------------------------------------------------------------


def test_disallowed_imports_are_reported_like_n8n() -> None:
    assert violations("x = 1\n\nimport os") == (
        "Line 3: Import of standard library module 'os' is disallowed. "
        "Allowed stdlib modules: none",
    )
    policy = SandboxPolicy.from_strings(stdlib_allow="math,json")
    assert violations("from numpy import array", policy) == (
        "Line 1: Import of external package 'numpy' is disallowed. Allowed external packages: none",
    )
    assert violations("import os.path", policy) == (
        "Line 1: Import of standard library module 'os' is disallowed. "
        "Allowed stdlib modules: json, math",
    )


def test_allowed_modules_include_their_submodules() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="json,xml.etree")
    assert violations("import json\nimport json.decoder\nfrom json import loads", policy) == ()
    assert violations("from xml.etree import ElementTree", policy) == ()
    assert violations("from xml import etree", policy) == ()
    # ``import xml.etree`` binds ``xml`` itself, which is not allowed.
    assert len(violations("import xml.etree", policy)) == 1
    assert len(violations("from xml import sax", policy)) == 1


def test_relative_imports_are_always_rejected() -> None:
    star = SandboxPolicy.from_strings(stdlib_allow="*")
    assert violations("from . import x", star) == ("Line 1: Relative imports are disallowed",)


def test_dunder_import_needs_a_literal_allowed_name() -> None:
    assert violations("__import__('o' + 's')") == (
        "Line 1: __import__() is only allowed with a literal module name",
    )
    assert "'os' is disallowed" in violations("__import__('os')")[0]
    assert (
        violations("m = __import__('json')", SandboxPolicy.from_strings(stdlib_allow="json")) == ()
    )


# -- names and attributes ----------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "__builtins__",
        "x = __loader__",
        "__spec__ = 1",
        "print(__name__)",
        "def f(__globals__):\n    pass",
        "global __builtins__",
        "import json as __builtins__",
    ],
)
def test_blocked_names_are_rejected_in_any_role(code: str) -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="json")
    found = violations(code, policy)
    assert found
    assert all("Use of name '__" in line for line in found)


@pytest.mark.parametrize(
    "attribute",
    [
        "__class__", "__bases__", "__mro__", "__subclasses__", "__dict__", "__code__",
        "__globals__", "__getattribute__", "__self__", "__func__", "__wrapped__",
        "__annotations__", "__closure__", "__reduce_ex__", "__traceback__",
        "gi_frame", "gi_code", "cr_frame", "ag_frame", "f_globals", "f_locals", "f_back",
        "f_builtins", "tb_frame", "co_code",
    ],
)  # fmt: skip
def test_introspection_attributes_are_rejected(attribute: str) -> None:
    assert violations(f"x = y.{attribute}") == (
        f"Line 1: Access to attribute '{attribute}' is disallowed",
    )


def test_ordinary_attributes_and_dunder_methods_pass() -> None:
    code = "x = [1].copy()\ny = 'a'.__len__()\nz = {'k': 1}.items()\nreturn x, y, z"
    assert violations(code) == ()


def test_name_mangled_attributes_are_rejected() -> None:
    assert violations("x = obj._Secret__key") == (
        "Line 1: Access to name-mangled attribute '_Secret__key' is disallowed",
    )


def test_private_attributes_and_unlisted_dunders_are_rejected() -> None:
    assert violations("x = obj._private\ny = obj.__dunder__\nz = obj._trailing__") == (
        "Line 1: Access to private attribute '_private' is disallowed",
        "Line 2: Access to attribute '__dunder__' is disallowed",
        "Line 3: Access to private attribute '_trailing__' is disallowed",
    )


def test_blocked_attributes_in_from_imports_and_match_patterns() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="json")
    assert "'__dict__'" in violations("from json import __dict__", policy)[0]
    code = "match 1:\n    case int(__class__=c):\n        pass"
    assert violations(code) == ("Line 2: Access to attribute '__class__' is disallowed",)


def test_denied_builtins_cannot_be_reached_through_builtins() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="builtins")
    assert violations("import builtins\nbuiltins.open('x')", policy) == (
        "Line 2: Access to denied builtin 'open' is disallowed",
    )
    assert violations("import builtins\nbuiltins['eval']", policy) == (
        "Line 2: Access to denied builtin 'eval' is disallowed",
    )
    assert violations("import builtins\nbuiltins.len([])", policy) == ()


@pytest.mark.parametrize(
    "literal",
    ["'{0.__class__}'", "'{x.__globals__[os]}'", "'{0[__builtins__]}'", "'{0:{1.gi_frame}}'"],
)
def test_format_strings_walking_to_dunders_are_rejected(literal: str) -> None:
    found = violations(f"return {literal}.format(print, 1)")
    assert found
    assert "Format string accesses" in found[0]


def test_plain_format_strings_pass() -> None:
    assert (
        violations("return '{} {0} {name.title} {x[0]:>{w}}'.format(1, name='a', x=[1], w=3)") == ()
    )


def test_several_findings_are_listed_in_line_order() -> None:
    found = violations("import os\nx = 1\ny = ().__class__")
    assert [line.split(":")[0] for line in found] == ["Line 1", "Line 3"]


def test_syntax_errors_are_raised_with_the_users_line() -> None:
    with pytest.raises(SyntaxError) as info:
        violations("x = 1\nx = (")
    assert info.value.lineno == 2


def test_analysis_is_skipped_when_both_allowlists_are_star() -> None:
    star = SandboxPolicy.from_strings(stdlib_allow="*", external_allow="*")
    assert violations("x = ().__class__.__subclasses__()", star) == ()


def test_results_are_cached_and_the_cache_is_bounded() -> None:
    sandbox.clear_cache()
    first = violations("import os")
    assert violations("import os") is first
    for index in range(sandbox.CACHE_SIZE + 10):
        violations(f"x = {index}")
    assert len(sandbox._cache) == sandbox.CACHE_SIZE
    # The cache key includes the policy.
    assert violations("import os", SandboxPolicy.from_strings(stdlib_allow="os")) == ()


# -- the checking importer ---------------------------------------------------


def guard(stdlib: str = "", external: str = "") -> Callable[..., Any]:
    return import_guard(
        SandboxPolicy.from_strings(stdlib_allow=stdlib, external_allow=external).import_rules()
    )


def test_guard_imports_allowed_modules_as_views() -> None:
    imported = guard("json")("json")
    assert isinstance(imported, ModuleView)
    assert imported.loads is json.loads
    assert guard("json")("json.decoder", fromlist=("JSONDecoder",)).__name__ == "json.decoder"
    assert guard(stdlib="*", external="*")("json") is json  # nothing to hide


def test_guard_refuses_other_modules_with_a_security_violation() -> None:
    with pytest.raises(SecurityViolationError, match=r"Security violation detected: .*'os'"):
        guard("json")("os")
    with pytest.raises(ImportError):  # an ImportError to user code
        guard()("json")
    with pytest.raises(SecurityViolationError, match="Relative imports"):
        guard("*")("x", level=1)


def test_guard_checks_the_top_level_that_gets_bound_and_from_list_targets() -> None:
    only_etree = guard("xml.etree")
    with pytest.raises(SecurityViolationError):
        only_etree("xml.etree")  # would bind ``xml``
    assert only_etree("xml", fromlist=("etree",)).__name__ == "xml"
    with pytest.raises(SecurityViolationError):
        only_etree("xml", fromlist=("sax",))


def test_import_rules_round_trip_through_the_wire() -> None:
    rules = SandboxPolicy.from_strings(stdlib_allow="json", external_allow="*").import_rules()
    again = ImportRules.from_wire(json.loads(json.dumps(rules.to_wire())))
    assert again.allows("json.decoder")
    assert again.allows("numpy.linalg")
    assert not again.allows("os")
