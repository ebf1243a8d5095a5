"""The import arrows point one way: CLI → service, batch → pipeline → triage, rules → contract.

Read from the source with ``ast`` (every import, including those inside functions), so a lazy import cannot
sneak a backwards arrow past the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {"complaint_triage": ROOT / "complaint_triage", "complaint_triage.triage": ROOT / "triage",
                "complaint_triage.rules": ROOT / "rules", "complaint_triage.service": ROOT / "service",
                "complaint_triage.batch": ROOT / "batch", "complaint_triage.models": ROOT / "models"}

# module (or package) → the parts of complaint_triage it may import, besides itself
ALLOWED = {
    "complaint_triage.contract": set(),
    "complaint_triage.models": set(),
    "complaint_triage.masking": {"contract"},
    "complaint_triage.rules": {"contract"},
    "complaint_triage.triage": {"contract", "masking", "models"},
    "complaint_triage.pipeline": {"contract", "triage", "rules"},
    "complaint_triage.service": {"contract", "masking", "pipeline", "triage", "rules", "models"},
    "complaint_triage.batch": {"contract", "masking", "pipeline", "triage", "rules", "models"},
    "complaint_triage.policy_cases": {"contract", "pipeline", "rules"},
    "complaint_triage.cli": {"*"},
    "complaint_triage": set(),  # __init__
}


def modules():
    for package, directory in PACKAGE_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            rel = path.relative_to(directory).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if package == "complaint_triage" and parts:
                yield f"{package}.{parts[0]}", path
            else:
                yield package, path


def layer_of(module: str) -> str:
    best = max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)
    return best


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "complaint_triage" or n.startswith("complaint_triage.")}


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: str(v).replace(str(ROOT), ""))
def test_imports_point_one_way(module, path):
    layer = layer_of(module)
    allowed = ALLOWED[layer]
    if "*" in allowed:
        return
    for name in imported(path):
        target = name.removeprefix("complaint_triage.").split(".")[0]
        if name.startswith(layer + ".") or name == layer:
            continue
        assert target in allowed, f"{path.relative_to(ROOT)} ({layer}) imports {name}"


def test_no_old_top_level_names_are_imported():
    """The wheel installs one import root: nothing may import triage, rules, service or batch bare."""
    for directory in [*PACKAGE_DIRS.values(), ROOT / "tests", ROOT / "bench"]:
        for path in directory.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                mods = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                        else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                for m in mods:
                    assert m.split(".")[0] not in {"triage", "rules", "service", "batch", "models"}, (path, m)


@pytest.mark.parametrize("bad", [
    ("complaint_triage.rules", "complaint_triage.triage.model"),
    ("complaint_triage.batch", "complaint_triage.service.api"),
    ("complaint_triage.service", "complaint_triage.batch.run"),
    ("complaint_triage.triage", "complaint_triage.pipeline"),
    ("complaint_triage.contract", "complaint_triage.triage.signals"),
])
def test_the_check_catches_a_backwards_arrow(bad):
    layer, name = bad
    target = name.removeprefix("complaint_triage.").split(".")[0]
    assert target not in ALLOWED[layer_of(layer)]
