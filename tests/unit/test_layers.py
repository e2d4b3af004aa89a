"""The layers depend downward only: the domain never imports storage, web or CLI code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaflow"

# What pure code (the domain, and the translations to and from other systems) never imports.
PURE = {
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
}

FORBIDDEN = {
    # the pure domain: rules, pharmacokinetics, vocabulary, errors
    "clinical": PURE,
    "pk": PURE | {"ketaflow.clinical"},
    # the controlled-substance ledger's rules: pure, like the clinical rules
    "controlled": PURE,
    # opening hours, closures, the booking horizon and clock changes: pure, like the clinical rules
    "hours": PURE | {"ketaflow.clinical", "ketaflow.pk"},
    "vocabulary.py": {"sqlalchemy", "fastapi", "ketaflow"},
    "errors.py": {"sqlalchemy", "fastapi", "ketaflow"},
    # what a typed name or visit date may be: pure, for every face and service
    "input_rules.py": {
        "sqlalchemy",
        "fastapi",
        "starlette",
        "ketaflow.store",
        "ketaflow.services",
        "ketaflow.web",
    },
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
    # message templates, retry timing and SMTP delivery: no database, no use cases, no faces
    "messaging": PURE,
    # the FHIR code table and record-to-resource mapping: pure functions of the records given
    "fhir": PURE,
    # translation to and from other systems' messages (HL7 v2): pure, fed and read by the services
    "interop": PURE,
    # long-running workers (the MLLP listener) call the services, as the web app does
    "workers": {"fastapi", "starlette", "ketaflow.web", "ketaflow.cli"},
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, modules: set[str]) -> set[str]:
    """The ketaflow modules the file at `path` imports (see :func:`imports_in`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return imports_in(tree, module_name(path), path.name == "__init__.py", modules)


def imports_in(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The `modules` that module `name` imports, at any level (also under TYPE_CHECKING or in a function).

    ``from package import name`` counts as importing ``package.name`` when that is a module, else
    ``package``; relative imports are resolved. A submodule's implicit import of its parent
    package's ``__init__`` is not counted (Python allows that one by design).
    """
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    found.add(f"{source}.{alias.name}")
                elif source in modules:
                    found.add(source)
    found.discard(name)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds an import cycle); Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_import_walker_counts_type_checking_function_and_relative_imports() -> None:
    modules = {"p", "p.a", "p.b", "p.c", "p.d", "p.e"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "import p.e\n"
        "from p import b\n"
        "from .c import thing\n"
        "if TYPE_CHECKING:\n"
        "    from p.d import Context\n"
        "def later() -> None:\n"
        "    from p import helper\n"
    )
    assert imports_in(ast.parse(source), "p.a", False, modules) == {"p", "p.b", "p.c", "p.d", "p.e"}


def test_the_cycle_finder_finds_every_module_on_a_circle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_ketaflow_modules_import_each_other_in_a_circle() -> None:
    paths = sorted(SRC.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {module_name(p): module_imports(p, modules) for p in paths}
    assert "ketaflow.demo.generate" in graph["ketaflow.demo.build"]  # the walker sees real edges
    assert import_cycles(graph) == []
