"""The package's public names: one list, importable, typed, and all that a quickstart needs."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import trio_launcher


def names_for_type_checkers() -> dict[str, str]:
    """Name -> module, from the imports under ``if TYPE_CHECKING:`` in ``__init__.py``."""
    tree = ast.parse(Path(trio_launcher.__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.level == 1
                for alias in statement.names:
                    found[alias.asname or alias.name] = str(statement.module)
    return found


def test_the_lazy_table_all_and_the_typed_imports_agree() -> None:
    exports = trio_launcher._EXPORTS
    assert sorted(trio_launcher.__all__) == sorted(exports)
    assert names_for_type_checkers() == exports


def test_every_public_name_resolves_to_the_object_of_its_module() -> None:
    for name, module in trio_launcher._EXPORTS.items():
        expected = getattr(importlib.import_module(f"trio_launcher.{module}"), name)
        assert getattr(trio_launcher, name) is expected


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        trio_launcher.no_such_name  # noqa: B018


def test_the_readme_quickstart_imports_only_from_the_package() -> None:
    readme = (Path(trio_launcher.__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    imports = [line for line in block.splitlines() if "import" in line and "trio_launcher" in line]
    assert imports and all(line.startswith("from trio_launcher import ") for line in imports)
