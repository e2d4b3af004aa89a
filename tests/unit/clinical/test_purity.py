"""ketaflow.clinical stays pure: no storage, web, services, CLI or database imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import ketaflow.clinical

ALLOWED_THIRD_PARTY = {"pydantic"}
FORBIDDEN_PREFIXES = (
    "ketaflow.store",
    "ketaflow.web",
    "ketaflow.services",
    "ketaflow.cli",
    "ketaflow.pk",
    "sqlalchemy",
    "fastapi",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_it_imports_only_the_standard_library_pydantic_and_itself() -> None:
    folder = Path(ketaflow.clinical.__file__).parent
    for path in folder.glob("*.py"):
        for name in _imports(path):
            forbidden = [p for p in FORBIDDEN_PREFIXES if name == p or name.startswith(p + ".")]
            assert not forbidden, f"{path.name} imports {name}"
            top = name.split(".")[0]
            if top == "ketaflow":
                assert name.startswith(("ketaflow.clinical", "ketaflow.errors")), name
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, name


def test_every_public_name_loads_lazily_from_the_module_that_holds_it() -> None:
    import importlib

    from ketaflow.clinical import _HOME

    assert set(_HOME) == set(ketaflow.clinical.__all__)
    for name, home in _HOME.items():
        assert getattr(ketaflow.clinical, name) is getattr(importlib.import_module(home), name), name
    assert set(ketaflow.clinical.__all__) <= set(dir(ketaflow.clinical))
    with pytest.raises(AttributeError, match="no_such_rule"):
        ketaflow.clinical.no_such_rule  # noqa: B018


def test_importing_the_package_loads_none_of_its_rules() -> None:
    # A new interpreter: the package alone, then one name, loads only the module that holds it.
    import subprocess

    code = (
        "import sys, ketaflow.clinical as c\n"
        "before = sorted(m for m in sys.modules if m.startswith('ketaflow.clinical.'))\n"
        "c.Sex\n"
        "after = sorted(m for m in sys.modules if m.startswith('ketaflow.clinical.'))\n"
        "print(before, after)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] ['ketaflow.clinical.levels']"
