"""The package's layering: each module imports only from its own layer or the layers below,
there is no import cycle (lazy imports inside functions included; ``if TYPE_CHECKING:`` blocks
excluded), and nothing imports the tests, the benchmarks or the development tools.

A layer names package areas (``hooks``: every module under it) or single modules
(``utils.waiting``); a module belongs to the most specific name listed. The poll step and what
it stands on (``utils.waiting``, ``utils.resources``, ``utils.clock``, ``utils.waiting_args``,
``utils.validation``) sit below ``hooks``, the rest of ``utils`` above it: the hook's
``wait_for_cluster`` / ``wait_for_job`` are built on :class:`Wait` (one poll step for the
operators, triggers, sensors and the hook), while ``utils.connection`` builds hooks. Those five
modules import only the states, checks, tags, redaction, the models and each other (lazily
included), never ``hooks`` or anything above; the cycle check below keeps it so.
"""

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
    ("utils.validation", "utils.waiting_args", "utils.clock", "utils.resources", "utils.waiting"),
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


_NAMES = {name for names in LAYERS for name in names}


def _area(module: str) -> str:
    """The most specific name of ``LAYERS`` that holds ``module``:
    ``airflow_provider_emr_ray.utils.waiting`` -> ``utils.waiting``,
    ``airflow_provider_emr_ray.utils.logs`` -> ``utils``; the package itself -> ``""``; a module
    of an area not listed (``emulator``) -> its first part."""
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in _NAMES:
            return ".".join(parts[:end])
    return parts[0] if parts else ""


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


def test_a_module_belongs_to_the_most_specific_layer_listed() -> None:
    assert _area(f"{PACKAGE}.utils.waiting") == "utils.waiting"
    assert _area(f"{PACKAGE}.utils.logs") == "utils"
    assert _area(f"{PACKAGE}.emulator.app") == "emulator"
    assert _area(PACKAGE) == ""
    assert _layer(f"{PACKAGE}.utils.waiting") < _layer(f"{PACKAGE}.hooks.emr_ray") < _layer(f"{PACKAGE}.utils.logs")
    # every module named in LAYERS exists (a rename must not leave a stale, empty layer entry)
    assert all(not name or any(_area(m) == name for m in MODULES) for name in _NAMES - {"emulator"})


def test_the_hook_waits_on_the_poll_step_below_it() -> None:
    # hooks.emr_ray builds its waits on utils.waiting (lazily): allowed by the finer layers.
    assert f"{PACKAGE}.utils.waiting" in GRAPH[f"{PACKAGE}.hooks.emr_ray"]


def test_the_checker_sees_lazy_imports() -> None:
    # utils.connection builds the hook lazily, inside a property: the graph must still show it.
    assert f"{PACKAGE}.hooks.emr_ray" in GRAPH[f"{PACKAGE}.utils.connection"]
