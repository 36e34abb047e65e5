"""The house's one-way data flow (STYLE.md): sections → report → sweeps.

Read from the source (every ``from .x import`` / ``from . import x``, including imports inside
functions), so a lazy import cannot hide a cycle."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "estimator"

#: Modules that assemble sections; each may import only modules listed before it.
ORDER = ["sections", "compare", "report", "vector", "sweep"]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PKG / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def test_no_module_imports_one_above_it():
    for i, module in enumerate(ORDER):
        above = set(ORDER[i + 1:])
        assert not (_imports(module) & above), (module, _imports(module) & above)


def test_sections_import_no_assembler():
    for module in ("params", "flops", "memory", "training", "serving"):
        assert not (_imports(module) & set(ORDER)), module
