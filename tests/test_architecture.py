"""The layering of DESIGN.md, read from the source: one door for processes, steps below the
middle layer, no import cycle, one place that sequences setup's stages."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "onboarding"
STEPS = {"keys", "hostkeys", "known_hosts", "sshconfig", "fsutil", "agent", "clone", "gitinfo", "upload",
         "doctor", "keyvault", "providers", "instance", "sandbox", "roster", "rollout", "rolloutdocs"}
ABOVE_STEPS = {"settings", "console", "prompts", "cli", "pipeline", "commands", "wizard", "secrets", "privilege"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every onboarding module this file imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("onboarding"):
            found.add(node.module)
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("onboarding"))
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules}


def _top_level_imports(path: Path) -> set[str]:
    """Imports executed when the module loads (a cycle needs these)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("onboarding"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("onboarding"))
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules}


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


def test_no_import_cycle_at_load_time() -> None:
    graph = {_module_name(p): _top_level_imports(p) for p in PACKAGE.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt == node or nxt.startswith(node + "."):
                continue  # a package importing its own submodule
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
