"""Which way imports run (docs/ARCHITECTURE.md): no circles, the layer rules, and imports at the top
of the module but for the documented exceptions; read from the source."""

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


# Third-party packages a core install lacks, or that are heavy to load: imported by the function
# that needs them (ARCHITECTURE.md: runtimes are imported by the backend or feature using them).
OPTIONAL = {"torch", "torchvision", "onnx", "onnxruntime", "tensorrt", "ray", "yaml", "selenium"}
# Entry points that load a command's module only when the command runs (`vidlle --help` stays light).
ENTRY_POINTS = {"vidlle", "vidlle.__main__", "vidlle.cli"}


def _guarded(tree: ast.Module) -> set[int]:
    """Ids of import nodes inside a ``try`` that catches ImportError: optional by construction
    (a POSIX-only module, the compiled extension that may not be built)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers if h.type is not None for n in ast.walk(h.type)):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _late_imports(source: str) -> list[tuple[int, str]]:
    """(line, imported name) of every import inside a function or class of a module's ``source``."""
    tree = ast.parse(source)
    top = {id(n) for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
           for n in ast.walk(node)}
    guarded = _guarded(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in top or id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, "a relative import"
            out.append((node.lineno, node.module or ""))
    return sorted(out)


def _top_third_party(module: str) -> set[str]:
    """Top-level names of the packages ``module`` imports at module level."""
    tree = ast.parse(MODULES[module].read_text())
    names: set[str] = set()
    for node in tree.body:
        for n in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else ():
            if isinstance(n, ast.Import):
                names |= {a.name.partition(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom):
                names.add((n.module or "").partition(".")[0])
    return names


def _heavy() -> set[str]:
    """Our modules that load an OPTIONAL package when imported (directly or through our imports)."""
    heavy = {m for m in MODULES if _top_third_party(m) & OPTIONAL}
    grew = True
    while grew:
        grew = False
        for m, targets in GRAPH.items():
            if m not in heavy and any(at_top and t in heavy for t, at_top in targets.items()):
                heavy.add(m)
                grew = True
    return heavy


def test_imports_sit_at_the_top():
    """An import inside a function is one of the documented exceptions: an OPTIONAL package, one of
    our modules that loads one (the registry's networks, the segmenter), a command's module
    imported by an entry point, or an import that may fail and is caught."""
    heavy = _heavy()
    assert {"vidlle.models.segment", "vidlle.backends.torch"} <= heavy  # the rule has teeth
    late = []
    for module in sorted(MODULES):
        for line, name in _late_imports(MODULES[module].read_text()):
            ours = _resolve(name)
            allowed = (name.partition(".")[0] in OPTIONAL if ours is None
                       else ours in heavy or module in ENTRY_POINTS)
            if not allowed:
                late.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {name}")
    assert late == []


def test_the_late_import_check_sees_function_level_imports():
    source = (
        "import os\n"
        "if os.name == 'nt':\n"
        "    import msvcrt\n"
        "def f():\n"
        "    import av\n"
        "    from vidlle.api import Enhancer\n"
        "    try:\n"
        "        import fcntl\n"
        "    except ImportError:\n"
        "        pass\n"
        "class C:\n"
        "    def g(self):\n"
        "        import torch\n"
    )
    assert _late_imports(source) == [(5, "av"), (6, "vidlle.api"), (13, "torch")]


def test_no_top_level_engines_package():
    assert not (ROOT / "engines" / "__init__.py").exists()
    assert "vidlle.engines.cache" in MODULES
