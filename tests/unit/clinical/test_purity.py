"""ketaflow.clinical stays pure: no storage, web, services, CLI or database imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

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
