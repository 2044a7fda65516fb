"""The package's layering: each module imports only from its own layer or the layers below,
there is no import cycle (lazy imports inside functions included; ``if TYPE_CHECKING:`` blocks
excluded), and nothing imports the tests, the benchmarks or the development tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_emr_ray"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Lowest first. A module may import modules of its own layer and of lower layers only.
LAYERS: list[tuple[str, ...]] = [
    ("", "states", "limits", "suggest", "jsontext", "checks", "timestamps", "version_compat", "exceptions", "get_provider_info"),
    ("tags", "redaction"),
    ("client",),
    ("models",),
    ("hooks",),
    ("utils",),
    ("links",),
    ("triggers",),
    ("sensors", "operators"),
    ("decorators",),
]
#: The emulator serves the API: it may use the wire's action table and signer and the
#: standard-library modules, never the Airflow-facing layers.
EMULATOR_MAY_IMPORT = ("", "states", "limits", "suggest", "tags", "redaction", "client", "emulator")
FORBIDDEN_ROOTS = ("tests", "benchmarks", "devtools")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports at run time (top level or lazily)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            for alias in node.names:  # ``from pkg import submodule``
                candidate = f"{base}.{alias.name}"
                if (ROOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    ROOT.parent / Path(*candidate.split("."))
                ).is_dir():
                    found.add(candidate)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {name: {i for i in _imports(path) if i.split(".")[0] in (PACKAGE, *FORBIDDEN_ROOTS)} for name, path in MODULES.items()}


def _area(module: str) -> str:
    """``airflow_provider_emr_ray.utils.waiting`` -> ``utils``; the package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(module: str) -> int:
    area = _area(module)
    for index, names in enumerate(LAYERS):
        if area in names:
            return index
    raise AssertionError(f"{module}: its area {area!r} has no layer in LAYERS (add it)")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_only(module: str) -> None:
    bad = []
    for target in sorted(GRAPH[module]):
        if target.split(".")[0] in FORBIDDEN_ROOTS:
            bad.append(f"{target} (tests, benchmarks and dev tools are never imported by the package)")
        elif _area(module) == "emulator":
            if _area(target) not in EMULATOR_MAY_IMPORT:
                bad.append(f"{target} (the emulator may import only {EMULATOR_MAY_IMPORT})")
        elif _area(target) == "emulator":
            bad.append(f"{target} (only the emulator imports the emulator)")
        elif _layer(target) > _layer(module) or {_area(module), _area(target)} == {"sensors", "operators"}:
            bad.append(target)
    assert not bad, f"{module} imports upward: {bad}"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH.get(node, ())):
            target = target if target in MODULES else target.rpartition(".")[0]
            if target not in MODULES or target == node or _is_parent(target, node):
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module)


def _is_parent(package: str, module: str) -> bool:
    """Importing ``a.b.c`` runs ``a.b``'s ``__init__``: that edge is not a cycle of the modules."""
    return module.startswith(package + ".")


def test_the_checker_sees_lazy_imports() -> None:
    # utils.connection builds the hook lazily, inside a property: the graph must still show it.
    assert f"{PACKAGE}.hooks.emr_ray" in GRAPH[f"{PACKAGE}.utils.connection"]
