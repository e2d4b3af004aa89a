"""The layers depend downward only: the domain never imports storage, web or CLI code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaflow"

FORBIDDEN = {
    # the pure domain: rules, pharmacokinetics, vocabulary, errors
    "clinical": {
        "sqlalchemy",
        "alembic",
        "psycopg",
        "fastapi",
        "starlette",
        "ketaflow.store",
        "ketaflow.services",
        "ketaflow.web",
        "ketaflow.cli",
        "ketaflow.demo",
    },
    "pk": {
        "sqlalchemy",
        "alembic",
        "psycopg",
        "fastapi",
        "starlette",
        "ketaflow.store",
        "ketaflow.services",
        "ketaflow.web",
        "ketaflow.cli",
        "ketaflow.demo",
        "ketaflow.clinical",
    },
    # opening hours, closures, the booking horizon and clock changes: pure, like the clinical rules
    "hours": {
        "sqlalchemy",
        "alembic",
        "psycopg",
        "fastapi",
        "starlette",
        "ketaflow.store",
        "ketaflow.services",
        "ketaflow.web",
        "ketaflow.cli",
        "ketaflow.demo",
        "ketaflow.clinical",
        "ketaflow.pk",
    },
    "vocabulary.py": {"sqlalchemy", "fastapi", "ketaflow"},
    "errors.py": {"sqlalchemy", "fastapi", "ketaflow"},
    # outcome statistics: NumPy/SciPy only, fed plain arrays by the services
    "analytics": {
        "sqlalchemy",
        "fastapi",
        "starlette",
        "ketaflow.store",
        "ketaflow.services",
        "ketaflow.web",
        "ketaflow.cli",
    },
    # storage knows nothing of use cases or faces
    "store": {"fastapi", "starlette", "ketaflow.services", "ketaflow.web", "ketaflow.cli"},
    # use cases know nothing of the faces
    "services": {"fastapi", "starlette", "ketaflow.web", "ketaflow.cli"},
    # the demo generator's rows are pure data; only build.py writes them
    "demo": {"fastapi", "starlette", "ketaflow.web", "ketaflow.cli", "ketaflow.services"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_of(part: str) -> list[Path]:
    target = SRC / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_it_keeps_each_layer_free_of_the_ones_above(part: str) -> None:
    offences = []
    for path in files_of(part):
        for name in imports_of(path):
            for banned in FORBIDDEN[part]:
                if name == banned or name.startswith(banned + "."):
                    # errors and vocabulary are the shared leaves every layer may use
                    if name in {"ketaflow.errors", "ketaflow.vocabulary"} and part not in {
                        "vocabulary.py",
                        "errors.py",
                    }:
                        continue
                    offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []
