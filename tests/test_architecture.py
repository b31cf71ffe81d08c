"""The house rules, checked on the source (no database): no import cycle, layers import only
downwards, the runner never imports the command line, no private name crosses a module, and
no branch on a table's name outside the registry."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "trafico_lib"

# Each layer may import its own and lower layers only (docs/architecture.md §2: data flows one way).
LAYERS = {
    "tables": 0, "errors": 0, "jsonfile": 0, "values": 0, "paths": 0, "interactive": 0, "clock": 0, "counts": 0,
    "config": 1, "rules.suites": 1,  # suites are plain JSON the configuration is checked against
    "normalize": 2, "sources": 2, "rules": 2,
    "enrich": 3,
    "engine": 4,
    "schema": 5, "stores": 5,
    "csv_roles": 6, "retention": 6, "sample": 6, "docs": 6, "health": 6,
    "pipeline": 7,
    "views": 8, "runner": 8, "watch": 8,
    "cli": 9,
}
ENTRY_POINTS = {"trafico_lib.runner.__main__", "trafico_lib.docs.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_pkg: bool) -> list[tuple[str, list[str]]]:
    """(imported module, names) for one import statement, trafico_lib modules only."""
    if isinstance(node, ast.Import):
        return [(a.name, []) for a in node.names if a.name.startswith("trafico_lib")]
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("trafico_lib"):
        return []
    names = [a.name for a in node.names]
    out = [(target, names)]
    out += [(f"{target}.{n}", []) for n in names if f"{target}.{n}" in MODULES]  # from pkg import module
    return out


def _imports(top_level_only: bool) -> dict[str, list[tuple[str, list[str]]]]:
    graph = {}
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        edges = []
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges += _resolve(mod, node, path.name == "__init__.py")
        graph[mod] = edges
    return graph


def _layer(mod: str) -> int | None:
    """The layer of a module: its own entry (``rules.suites``), else its top package's."""
    parts = mod.split(".")
    for depth in (3, 2):
        if len(parts) >= depth and ".".join(parts[1:depth]) in LAYERS:
            return LAYERS[".".join(parts[1:depth])]
    return None


def test_module_level_imports_have_no_cycle():
    graph = {m: {t for t, _ in edges if t in MODULES and t != m} for m, edges in _imports(True).items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            # a package's __init__ importing its own submodules, and a submodule importing from
            # its package, is how Python packages work, not a cycle (the any-order imports
            # below prove the package start-up order)
            if state.get(t) == 1 and not (m.startswith(t + ".") or t.startswith(m + ".")):
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_layers_import_only_downwards_and_the_library_never_imports_the_cli():
    wrong = []
    for mod, edges in _imports(False).items():
        mine = _layer(mod)
        for target, _ in edges:
            theirs = _layer(target)
            if mine is None or theirs is None or mod in ENTRY_POINTS:
                continue
            if theirs > mine:
                wrong.append(f"{mod} imports {target}")
    assert wrong == []


def test_no_private_name_is_imported_across_modules():
    crossing = [f"{mod}: from {target} import {n}"
                for mod, edges in _imports(False).items() for target, names in edges
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert crossing == []


def test_the_rest_store_imports_nothing_of_the_direct_paths_modules():
    """stores/rest shares SQL with the direct path through stores/sql only (issue 23): an import
    of stores.pg there, at any depth (inside a function too), is a rule written for one store
    that the other borrows."""
    borrowed = [f"{mod} imports {target}" for mod, edges in _imports(False).items()
                if mod.startswith("trafico_lib.stores.rest")
                for target, _ in edges
                if target == "trafico_lib.stores.pg" or target.startswith("trafico_lib.stores.pg.")]
    assert borrowed == []


def test_no_branch_on_a_table_name_outside_the_registry():
    pattern = re.compile(r"spec\.name ==|TABLES\[\"")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in MODULES.values() if p.name != "tables.py"
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_every_module_imports_in_any_order(order):
    """Each module imported in a fresh interpreter, in both orders (a cycle shows up as an ImportError)."""
    names = sorted(m for m in MODULES if not m.endswith("__main__"))
    if order == "reversed":
        names.reverse()
    code = f"import importlib\nfor n in {names!r}:\n    importlib.import_module(n)\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]


# ---- the repository stands on its own: what the code cites is in it ------------------------------

_CITED = ("*.py", "*.ipynb", "*.md", "*.sql", "*.html", "*.yaml", "*.toml", "Makefile")


def _repo_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", *_CITED, *(f"**/{g}" for g in _CITED)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted({ROOT / name for name in out if (ROOT / name).is_file()})


def test_every_cited_section_of_the_architecture_exists_in_the_repository():
    """Docstrings and notebooks cite ``docs/architecture.md §N``; a document outside the
    repository (the old "DESIGN §N") cannot be followed by someone holding only the repo."""
    arch = ROOT / "docs" / "architecture.md"
    sections = set(re.findall(r"^## (\d+)\.", arch.read_text(encoding="utf-8"), flags=re.M))
    assert {"2", "3", "4", "5", "6", "8", "9"} <= sections
    outside, missing, cited = [], [], 0
    for path in _repo_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(ROOT).as_posix()
        if re.search(r"\bDESIGN\b", text) and rel != "tests/test_architecture.py":
            outside.append(rel)
        for number in re.findall(r"architecture(?:\.md)? §(\d+)", text):
            cited += 1
            if number not in sections:
                missing.append(f"{rel}: §{number}")
    assert not outside, f"cite docs/architecture.md, not DESIGN: {outside}"
    assert not missing, f"cited sections that docs/architecture.md lacks: {missing}"
    assert cited >= 20  # the docstrings do cite it


def test_the_architecture_document_states_the_layers_the_kinds_and_the_statement_sizes_the_code_has():
    """docs/architecture.md §2's layer table is this file's LAYERS, §6 names every store's kind and
    §4 step 6 the rows per statement of each store: a change to one without the other fails here."""
    from trafico_lib.stores.pg.merge import STATEMENT_ROWS
    from trafico_lib.stores.rest.staging import MAX_BATCH
    from trafico_lib.stores.rest.store import RestStore

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = {}
    for m in re.finditer(r"^layer (\d+)  (.+)$", text, flags=re.M):
        for name in m.group(2).split(" · "):
            documented[name.strip()] = int(m.group(1))
    assert documented == LAYERS
    for kind in ("embedded", "postgres", RestStore.kind):
        assert f"`{kind}`" in text
    assert f"{STATEMENT_ROWS:,} rows per" in text and f"at most {MAX_BATCH:,}" in text
