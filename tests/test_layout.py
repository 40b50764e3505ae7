"""Which way imports run (docs/ARCHITECTURE.md): no circles, and the layer rules, read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = {**_modules("vidlle"), **_modules("train")}


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> dict[str, bool]:
    """Our modules ``module`` imports -> True when at module level (False: inside a function)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` / try blocks at module level count as top
        if isinstance(node, (ast.If, ast.Try)):
            top |= {id(n) for n in ast.walk(node)}
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target and target != module and not module.startswith(target + "."):
                found[target] = found.get(target, False) or id(node) in top
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
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

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles() == []


@pytest.mark.parametrize("importer, forbidden", [
    ("vidlle", "train"),            # the installed package never needs training code
    ("vidlle", "vidlle.cli"),       # nothing imports the command line (but its entry point)
    ("train", "vidlle.cli"),
    ("vidlle.pipeline", "vidlle.io"),  # the pipeline wires stages; it knows no codec ...
    ("vidlle.pipeline", "vidlle.api"),  # ... and no model
    ("vidlle.pipeline", "vidlle.models"),
    ("vidlle.models", "vidlle.io"),  # networks know tensors, codecs know frames
    ("vidlle.io", "vidlle.models"),
    ("vidlle.io", "vidlle.backends"),
    ("vidlle.io", "vidlle.api"),
])
def test_imports_run_one_way(importer, forbidden):
    bad = [(m, t) for m, targets in GRAPH.items() for t in targets
           if (m == importer or m.startswith(importer + ".")) and m not in ("vidlle.cli", "vidlle.__main__")
           and (t == forbidden or t.startswith(forbidden + "."))]
    assert bad == []


def test_no_top_level_engines_package():
    assert not (ROOT / "engines" / "__init__.py").exists()
    assert "vidlle.engines.cache" in MODULES
