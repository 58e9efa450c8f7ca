"""A module's declared dependencies: names and version constraints pass, nothing else does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.flows.deps.declared import (
    MAX_DEPENDENCIES,
    NodeDependency,
    PythonRequirement,
    node_dependencies,
    python_requirements,
)
from trio_launcher.flows.document_fields import Problems

PATH = ("processes", "m", "metadata", "dependencies")


def python(value: object) -> tuple[tuple[PythonRequirement, ...] | None, list[str]]:
    problems = Problems()
    found = python_requirements(problems, PATH, value, "m")
    return found, [str(problem) for problem in problems.found]


def node(value: object) -> tuple[tuple[NodeDependency, ...] | None, list[str]]:
    problems = Problems()
    found = node_dependencies(problems, PATH, value, "m")
    return found, [str(problem) for problem in problems.found]


def test_python_requirements_come_back_named_and_canonical() -> None:
    declared = ["Requests[socks] >=2, <3", "attrs==23.1", "tomli; python_version<'3.11'"]
    found, problems = python(declared)
    assert problems == []
    assert found == (
        PythonRequirement("requests", "Requests[socks]<3,>=2"),
        PythonRequirement("attrs", "attrs==23.1"),
        PythonRequirement("tomli", 'tomli; python_version < "3.11"'),
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-e ./mine", "not a requirement specifier"),
        ("--index-url=https://evil.example/simple", "not a requirement specifier"),
        ("requests --extra-index-url x", "not a requirement specifier"),
        ("requests==1.0\n--trusted-host evil", "not a requirement specifier"),
        ("./local/package", "not a requirement specifier"),
        ("pkg @ https://evil.example/pkg.whl", "a direct reference (name @ URL) is refused"),
        ("pkg @ git+https://example.org/pkg.git", "a direct reference (name @ URL) is refused"),
        ("", "a requirement specifier of at most 300 characters is needed"),
        (12, "a requirement specifier of at most 300 characters is needed"),
    ],
)
def test_what_is_not_a_name_and_a_constraint_is_refused_with_the_reason(
    value: object, reason: str
) -> None:
    found, problems = python([value])
    assert found is None
    assert problems[0].startswith("processes.m.metadata.dependencies[0]: ")
    assert reason in problems[0]


def test_every_bad_python_requirement_is_named_at_once() -> None:
    found, problems = python(["ok", "-x", "also ok", "pkg @ file:///tmp/p"])
    assert found is None
    assert [p.split(":")[0] for p in problems] == [
        "processes.m.metadata.dependencies[1]",
        "processes.m.metadata.dependencies[2]",
        "processes.m.metadata.dependencies[3]",
    ]


def test_absent_dependencies_are_none_and_a_wrong_shape_is_refused() -> None:
    assert python(None) == ((), [])
    assert node(None) == ((), [])
    assert "a list of requirement specifiers is needed" in python("requests")[1][0]
    assert "an object of package name -> version range" in node(["left-pad"])[1][0]
    too_many = [f"p{n}" for n in range(MAX_DEPENDENCIES + 1)]
    assert f"at most {MAX_DEPENDENCIES} dependencies" in python(too_many)[1][0]


def test_node_dependencies_come_back_as_name_and_range() -> None:
    found, problems = node(
        {"left-pad": "^1.3.0", "@types/node": ">= 20.1  <21", "lodash": "", "react": "next"}
    )
    assert problems == []
    assert found == (
        NodeDependency("left-pad", "^1.3.0"),
        NodeDependency("@types/node", ">= 20.1 <21"),
        NodeDependency("lodash", "*"),
        NodeDependency("react", "next"),
    )
    assert found[0].spec == "left-pad@^1.3.0"


@pytest.mark.parametrize(
    ("dependencies", "reason"),
    [
        ({"-g": "1.0.0"}, "not an npm package name"),
        ({"--registry=https://evil.example": "1"}, "not an npm package name"),
        ({"Left-Pad": "1.0.0"}, "not an npm package name"),
        ({".hidden": "1.0.0"}, "not an npm package name"),
        ({"a/b": "1.0.0"}, "not an npm package name"),
        ({"x" * 215: "1.0.0"}, "not an npm package name"),
        ({"left-pad": "git+https://example.org/left-pad.git"}, "URLs, paths, git and file:"),
        ({"left-pad": "https://evil.example/left-pad.tgz"}, "URLs, paths, git and file:"),
        ({"left-pad": "file:../left-pad"}, "URLs, paths, git and file:"),
        ({"left-pad": "../left-pad"}, "URLs, paths, git and file:"),
        ({"left-pad": "user/repo"}, "URLs, paths, git and file:"),
        ({"left-pad": "--registry=https://evil.example"}, "URLs, paths, git and file:"),
        ({"left-pad": "1.0.0 --registry x"}, "URLs, paths, git and file:"),
        ({"left-pad": 1}, "a version range is needed"),
        ({"left-pad": "|| " * 99 + "!"}, "URLs, paths, git and file:"),  # read in linear time
    ],
)
def test_node_dependencies_that_are_not_names_and_ranges_are_refused(
    dependencies: dict[str, Any], reason: str
) -> None:
    found, problems = node(dependencies)
    assert found is None
    assert reason in problems[0]


numbers = st.integers(0, 999).map(str)
xr = st.one_of(numbers, st.sampled_from(["x", "X", "*"]))
parts = st.lists(st.from_regex(r"[0-9A-Za-z-]{1,6}", fullmatch=True), min_size=1, max_size=3)
qualifier = st.tuples(st.none() | parts, st.none() | parts).map(
    lambda q: ("-" + ".".join(q[0]) if q[0] else "") + ("+" + ".".join(q[1]) if q[1] else "")
)
partial = st.one_of(
    xr,
    st.tuples(xr, xr).map(".".join),
    st.tuples(xr, xr, xr, qualifier).map(lambda p: ".".join(p[:3]) + p[3]),
)
simple = st.tuples(st.sampled_from(["", "<", ">", "<=", ">=", "=", "~", "^"]), partial).map("".join)
one_range = st.one_of(
    st.tuples(partial, partial).map(" - ".join),
    st.lists(simple, min_size=1, max_size=3).map(" ".join),
)
ranges = st.lists(one_range, min_size=1, max_size=3).map(" || ".join)


@given(ranges)
def test_every_range_of_node_semvers_grammar_is_taken(value: str) -> None:
    found, problems = node({"pkg": value})
    assert problems == []
    assert found == (NodeDependency("pkg", value),)


@given(st.text(max_size=40), st.text(max_size=40))
def test_whatever_is_declared_an_installer_never_gets_an_option_or_a_url(
    name: str, value: str
) -> None:
    for found in (python([value])[0] or (), node({name: value})[0] or ()):
        for dependency in found:
            assert not dependency.spec.startswith("-")
            assert "://" not in dependency.spec and "\n" not in dependency.spec
