"""The layering of DESIGN.md, read from the source: one door for processes, every module in a
layer of docs/architecture.md and importing nothing above it (imports inside functions count),
steps below the middle layer, no import cycle, one place that sequences setup's stages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "onboarding"
STEPS = {"keys", "hostkeys", "known_hosts", "sshconfig", "sshlogin", "fsutil", "agent", "clone", "gitinfo", "upload",
         "doctor", "keyvault", "providers", "instance", "sandbox", "useragent", "shellrc", "roster", "rollout", "rolloutdocs", "signing"}
ABOVE_STEPS = {"settings", "console", "prompts", "cli", "pipeline", "commands", "wizard", "secrets", "privilege"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every onboarding module this file imports, at any depth (lazy and TYPE_CHECKING imports count):
    `from X import a` is module X.a when there is one, else X itself (a name from X's body)."""
    modules = _modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("onboarding"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("onboarding"))
    return {m for m in found if m in modules and m != _module_name(path)}


LAYER_ROW = re.compile(r"^\| (\d+) \| ([^|]+) \|", re.MULTILINE)


def _layers() -> dict[str, int]:
    """docs/architecture.md's table: layer number -> modules (`pipeline.context`; `onboarding` is the package)."""
    layers: dict[str, int] = {}
    for number, cell in LAYER_ROW.findall((PACKAGE.parent / "docs" / "architecture.md").read_text()):
        for name in re.findall(r"`([\w.]+)`", cell):
            assert name not in layers, f"{name} is in two layers"
            layers["onboarding" if name == "onboarding" else f"onboarding.{name}"] = int(number)
    return layers


def test_every_module_has_exactly_one_layer() -> None:
    layers = _layers()
    assert sorted(set(_modules()) - set(layers)) == [], "modules missing from docs/architecture.md's layers"
    assert sorted(set(layers) - set(_modules())) == [], "docs/architecture.md names modules that do not exist"


def test_no_module_imports_a_higher_layer() -> None:
    """A lower module that needs a higher one's behaviour takes it as a function parameter."""
    layers = _layers()
    upward = sorted(f"{name} (layer {layers[name]}) imports {other} (layer {layers[other]})"
                    for name, path in _modules().items() for other in _imports(path)
                    if name in layers and other in layers and layers[other] > layers[name])
    assert upward == []


def test_only_proc_imports_subprocess() -> None:
    users = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                   if any(isinstance(n, (ast.Import, ast.ImportFrom)) and "subprocess" in
                          ([a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""])
                          for n in ast.walk(ast.parse(p.read_text()))))
    assert users == ["onboarding.proc"]


def test_steps_never_import_the_layers_above() -> None:
    bad = {}
    for name in STEPS:
        above = {m for m in _imports(PACKAGE / f"{name}.py") if m.count(".") and m.split(".")[1] in ABOVE_STEPS}
        if above:
            bad[name] = sorted(above)
    assert bad == {}


def test_cli_dispatches_explicitly() -> None:
    text = (PACKAGE / "cli.py").read_text()
    assert "importlib" not in text and "getattr(module" not in text


def test_no_import_cycle_counting_imports_inside_functions() -> None:
    graph = {name: _imports(path) for name, path in _modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_only_the_pipeline_sequences_setup_stages() -> None:
    """ensure_key, ensure_trusted and clone_all are called together in one function only."""
    stages = {"ensure_key", "ensure_trusted", "clone_all"}
    sequencers = []
    for path in PACKAGE.rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                called = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                          for n in ast.walk(fn) if isinstance(n, ast.Call)}
                if stages <= called:
                    sequencers.append(f"{_module_name(path)}.{fn.name}")
    assert sequencers == ["onboarding.pipeline.run"]


def test_test_files_never_import_each_other() -> None:
    """Shared helpers live in tests/helpers/ (DESIGN.md, Testing); conftest holds fixtures only."""
    tests = PACKAGE.parent / "tests"
    bad = []
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(tests)}: {n}" for n in names
                    if n == "conftest" or n.split(".")[-1].startswith("test_")]
    assert bad == []
