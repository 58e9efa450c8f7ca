"""Editing a module's declaration: packages added by name, removed by name, specifiers checked."""

from __future__ import annotations

import pytest

from trio_launcher.flows.deps.declared import NodeDependency
from trio_launcher.flows.deps.editing import parse_packages, with_packages, without_packages
from trio_launcher.flows.errors import FlowRunnerError, InvalidFlow


def test_a_package_added_replaces_the_one_of_its_name() -> None:
    declared = parse_packages("python", ["tinypkg>=1", "otherpkg"])
    edited = with_packages(declared, parse_packages("python", ["TinyPkg==2"]))
    assert [d.spec for d in edited] == ["otherpkg", "TinyPkg==2"]


def test_npm_names_take_their_range_after_the_last_at_and_any_version_without_one() -> None:
    declared = parse_packages("node", ["@scope/tiny@^2", "left-pad"])
    assert declared == (NodeDependency("@scope/tiny", "^2"), NodeDependency("left-pad", "*"))


def test_removing_names_each_one_the_module_does_not_declare() -> None:
    declared = parse_packages("python", ["tinypkg", "otherpkg"])
    with pytest.raises(FlowRunnerError, match=r"declares no nopkg$"):
        without_packages(declared, ["TinyPkg", "nopkg"])
    assert [d.spec for d in without_packages(declared, ["TinyPkg"])] == ["otherpkg"]


def test_a_refused_specifier_is_named_at_its_place() -> None:
    with pytest.raises(InvalidFlow) as refused:
        parse_packages("python", ["tinypkg", "--index-url=http://x/"])
    assert [p.path for p in refused.value.problems] == ["packages[1]"]
