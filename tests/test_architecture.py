"""The import direction docs/architecture.md states, checked on every module's imports (lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"cli", "orchestration", "assets", "resources", "ledger", "mechanisms", "protocol", "profiles", "devnet"}
# package → the project packages it may import (benchmarks and tests may import anything).
ALLOWED = {
    "cli": PACKAGES - {"cli"},
    "orchestration": {"assets", "resources", "ledger", "profiles", "mechanisms", "protocol"},
    "assets": {"resources", "ledger", "profiles", "mechanisms", "protocol"},
    "resources": {"ledger", "profiles", "mechanisms", "protocol", "devnet"},
    "devnet": {"resources", "ledger", "profiles", "mechanisms", "protocol"},
    "ledger": {"resources"},
    "profiles": {"mechanisms", "protocol"},
    "mechanisms": set(),
    "protocol": set(),
}
# The two narrow exceptions, each through one module: (importing package, imported package) → the
# only modules on either side allowed to carry that edge.
ONLY_THROUGH = {
    ("ledger", "resources"): {"resources.chain_types"},
    ("resources", "devnet"): {"resources/devnet_context.py"},
}


def imports() -> list[tuple[str, str, str]]:
    """(file relative to the root, its package, imported module) for every project import."""
    found = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                found += [(rel, package, name) for name in names if name.split(".")[0] in PACKAGES | {"dagster"}]
    return found


def test_imports_point_the_way_the_map_says():
    edges = imports()
    assert len(edges) > 200  # the walk saw the project
    wrong = [(f, m) for f, p, m in edges if m.split(".")[0] in PACKAGES and m.split(".")[0] != p
             and m.split(".")[0] not in ALLOWED[p]]
    assert wrong == []


def test_the_exceptions_pass_through_one_module_each():
    edges = imports()
    ledger_to_resources = {m for f, p, m in edges if p == "ledger" and m.startswith("resources")}
    assert ledger_to_resources == ONLY_THROUGH[("ledger", "resources")]
    resources_to_devnet = {f for f, p, m in edges if p == "resources" and m.startswith("devnet")}
    assert resources_to_devnet == ONLY_THROUGH[("resources", "devnet")]


def test_pure_layers_never_import_dagster():
    assert [(f, m) for f, p, m in imports() if p in ("mechanisms", "protocol", "ledger", "profiles")
            and m.split(".")[0] == "dagster"] == []
