# microloop_host's imports run one way (guardrail -> adapters -> verdict), importing it loads
# no framework even where every framework is installed (this venv), and a missing framework is
# one line naming its extra. The same, on a fresh install without the frameworks, is in
# test_package_install.py.
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from microloop_host.extras import MissingExtra, message, requires

HOST = Path(__file__).resolve().parent.parent / "microloop_host"
ADAPTERS = sorted(p.stem for p in HOST.glob("*_adapter.py"))
FRAMEWORKS = {"langchain_core", "langchain", "langgraph", "crewai", "autogen_core",
              "autogen_agentchat", "httpx", "starlette", "uvicorn", "jsonschema"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, imported at module level) for every import in the file."""
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_def: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module:
                out.append((child.module, not in_def))
            elif isinstance(child, ast.Import):
                out.extend((a.name, not in_def) for a in child.names)
            visit(child, in_def or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return out


def test_no_adapter_imports_the_guardrail_and_the_guardrail_imports_adapters_lazily():
    for name in ADAPTERS:
        mods = {m for m, _ in _imports(HOST / f"{name}.py")}
        assert "microloop_host.guardrail" not in mods and "microloop_host" not in mods, name
    for mod, top_level in _imports(HOST / "guardrail.py"):
        if mod.endswith("_adapter"):
            assert not top_level, f"guardrail imports {mod} at module level"
    verdict = {m for m, _ in _imports(HOST / "verdict.py")}
    assert not {m for m in verdict if m.startswith("microloop_host")}


def test_importing_microloop_host_loads_no_framework_though_all_are_installed():
    code = ("import sys, microloop_host, microloop_host.guardrail, microloop_host.verdict\n"
            "g = microloop_host.Guardrail()\n"
            "print(g.check('t', {}).allowed)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out[0] == "True"
    assert not FRAMEWORKS & set(out[1].split())
    # every framework named above is installed here, so the check means something
    assert all(importlib.util.find_spec(m) for m in FRAMEWORKS)


def test_requires_turns_only_the_named_missing_module_into_one_line():
    with pytest.raises(MissingExtra) as e:
        with requires("crewai", "microloop_host.crewai_adapter", "no_such_framework_xyz"):
            import no_such_framework_xyz  # noqa: F401
    assert str(e.value) == \
        'microloop_host.crewai_adapter needs: pip install "microloop-mpy[crewai]"'
    assert e.value.__cause__ is None and e.value.__suppress_context__
    with pytest.raises(ModuleNotFoundError):  # a module the extra does not bring: unchanged
        with requires("crewai", "x", "crewai"):
            import no_such_dependency_of_it_xyz  # noqa: F401
    assert message("proxy", "microloop proxy") == \
        'microloop proxy needs: pip install "microloop-mpy[proxy]"'
