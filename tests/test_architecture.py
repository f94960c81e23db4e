"""The shape of the code: layers without import cycles, no private names across modules,
short modules, and function-local imports only where they keep `ganbench list` fast.

Every import statement counts (module level, under TYPE_CHECKING, inside functions), as in
../shared/tools/import_cycles.py, which this test also runs when it is there.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"benchmark": "ganbench", "plugins": "ganbench_plugins"}
MAX_LINES = 450
#: third-party modules that cost seconds to import: deferred into functions so `ganbench list` stays fast
#: (ray and tensorboard are optional extras, imported where they are used)
HEAVY = {"torch", "torchvision", "numpy", "PIL", "scipy", "sklearn", "matplotlib", "torch_fidelity", "ray",
         "tensorboard", "pandas"}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    imports: set[str] = field(default_factory=set)  # project modules, any import statement
    top_level: set[str] = field(default_factory=set)  # project modules imported when this module is
    heavy_top: bool = False  # imports a HEAVY module at module level (not under TYPE_CHECKING)
    local: list[tuple[int, str]] = field(default_factory=list)  # (line, module) imported inside a function
    private: list[str] = field(default_factory=list)


def _modules() -> dict[str, Module]:
    mods: dict[str, Module] = {}
    for folder, pkg in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "examples" in path.relative_to(ROOT / folder).parts:
                continue
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            src = path.read_text(encoding="utf-8")
            mods[name] = Module(name, path, ast.parse(src), src.count("\n"))
    return mods


def _targets(mods: dict[str, Module], cur: Module, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(module, imported name or None) per alias, resolved to the longest known module."""
    out = []
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names]
    if node.level:
        base = cur.name.split(".")
        if cur.path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    for a in node.names:
        sub = f"{mod}.{a.name}"
        out.append((sub, None) if sub in mods else (mod, a.name))
    return out


def _known(mods: dict[str, Module], name: str) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _analyse(mods: dict[str, Module]) -> None:
    for m in mods.values():
        def visit(node: ast.AST, in_function: bool, in_type_checking: bool) -> None:
            for child in ast.iter_child_nodes(node):
                func = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                tc = in_type_checking or (isinstance(child, ast.If) and _is_type_checking(child))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target, name in _targets(mods, m, child):
                        root = target.split(".")[0]
                        known = _known(mods, target)
                        if known and known != m.name and known not in PACKAGES.values():
                            m.imports.add(known)
                            if not func and not tc:
                                m.top_level.add(known)
                            if name and name.startswith("_") and not name.startswith("__"):
                                m.private.append(f"{m.name} imports {known}.{name}")
                        if not known and root in HEAVY and not func and not tc:
                            m.heavy_top = True
                        if func and not tc:
                            m.local.append((child.lineno, known or target))
                visit(child, func, tc)
        visit(m.tree, False, False)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    mods = _modules()
    _analyse(mods)
    return mods


def _cycles(mods: dict[str, Module]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in mods[v].imports:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in mods:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    assert _cycles(modules) == []


def test_no_private_names_across_modules(modules: dict[str, Module]) -> None:
    assert [p for m in modules.values() for p in m.private] == []


def test_no_module_is_too_long(modules: dict[str, Module]) -> None:
    assert {m.name: m.lines for m in modules.values() if m.lines > MAX_LINES} == {}


def _heavy(modules: dict[str, Module], name: str, seen: set[str] | None = None) -> bool:
    """Importing this project module imports a HEAVY library (through module-level imports)."""
    seen = seen if seen is not None else set()
    if name in seen:
        return False
    seen.add(name)
    m = modules[name]
    return m.heavy_top or any(_heavy(modules, t, seen) for t in m.top_level)


def test_function_local_imports_only_defer_heavy_modules(modules: dict[str, Module]) -> None:
    """A function-local import must defer something heavy (a HEAVY library, or a project module
    that imports one), and the module says why in its docstring."""
    needless, unexplained = [], []
    for m in modules.values():
        for line, target in m.local:
            heavy = target.split(".")[0] in HEAVY or (target in modules and _heavy(modules, target))
            if not heavy:
                needless.append(f"{m.path.relative_to(ROOT)}:{line} {target}")
        if m.local and "`ganbench list`" not in (ast.get_docstring(m.tree) or ""):
            unexplained.append(m.name)
    assert needless == [], "import these at module level"
    assert unexplained == [], "say in the module docstring that imports are deferred to keep `ganbench list` fast"


def test_listing_plugins_imports_no_torch() -> None:
    """`ganbench list` loads every plugin module: none of them, nor the core they use, imports torch."""
    code = ("import sys\nfrom ganbench.plugins import load_plugins\nload_plugins()\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_shared_yardstick_agrees() -> None:
    tool = ROOT.parent / "shared" / "tools" / "import_cycles.py"
    if not tool.exists():
        pytest.skip("../shared/tools/import_cycles.py is not beside this checkout")
    out = subprocess.run([sys.executable, str(tool), str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
