"""The layers read one way: no import circles, and the domain never imports an adapter.

Every import counts, the ones inside functions and under `TYPE_CHECKING` too: a circle that
only closes at call time still ties the two modules together. Only the composition root
(`router.bootstrap`, `router.app`, `router.cli`) wires `adapters` into the domain's ports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
# Where each top-level package lives, relative to the repository.
PACKAGES = {
    "router": "src/router",
    "adapters": "src/adapters",
    "bench": "bench",
    "chaos": "chaos",
    "devstack": "devstack",
}
COMPOSITION_ROOT = frozenset({"router.bootstrap", "router.app", "router.cli"})

Graph = dict[str, dict[str, int]]


def modules(repository: Path) -> dict[str, tuple[Path, bool]]:
    """Every module's dotted name, with its file and whether it is a package's `__init__`."""
    found: dict[str, tuple[Path, bool]] = {}
    for package, folder in PACKAGES.items():
        base = repository / folder
        for path in sorted(base.rglob("*.py")):
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imported_names(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    else:
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*anchor, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        yield module
        # `from package import module` imports the module itself.
        yield from (f"{module}.{alias.name}" for alias in node.names)


def import_graph(repository: Path) -> Graph:
    """Module -> {imported module of ours: line of the first import}, at any depth."""
    known = modules(repository)

    def ours(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for imported in _imported_names(node, package):
                target = ours(imported)
                if target is not None and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def circles(graph: Graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def describe(group: list[str], graph: Graph) -> str:
    edges = [
        f"{source}:{line} -> {target}"
        for source in group
        for target, line in graph[source].items()
        if target in group
    ]
    return "; ".join(edges)


def domain_imports_of_adapters(graph: Graph) -> list[str]:
    """`router.*` modules outside the composition root that import `adapters.*`."""
    return [
        f"{source}:{line} -> {target}"
        for source, targets in sorted(graph.items())
        if source.split(".")[0] == "router" and source not in COMPOSITION_ROOT
        for target, line in targets.items()
        if target.split(".")[0] == "adapters"
    ]


def test_the_scan_sees_imports_inside_functions() -> None:
    graph = import_graph(REPOSITORY)
    # `router.cli` imports the app only inside `router serve`'s function.
    assert "router.app" in graph["router.cli"]
    assert "adapters.kafka.consumer" in graph["router.bootstrap"]


def test_the_scan_finds_a_circle_and_a_domain_import_of_an_adapter(tmp_path: Path) -> None:
    for folder in PACKAGES.values():
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "src/router/engine.py").write_text(
        "def later() -> None:\n    from router import service\n"
    )
    (tmp_path / "src/router/service.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .engine import later\n"
        "from adapters.kafka import producer\n"
    )
    (tmp_path / "src/adapters/kafka").mkdir()
    (tmp_path / "src/adapters/kafka/__init__.py").write_text("")
    (tmp_path / "src/adapters/kafka/producer.py").write_text("from router.engine import later\n")
    graph = import_graph(tmp_path)
    assert circles(graph) == [
        ["adapters.kafka.producer", "router.engine", "router.service"],
    ]
    assert domain_imports_of_adapters(graph) == [
        "router.service:4 -> adapters.kafka",
        "router.service:4 -> adapters.kafka.producer",
    ]


def test_no_module_imports_itself_in_a_circle() -> None:
    graph = import_graph(REPOSITORY)
    found = [describe(group, graph) for group in circles(graph)]
    assert not found, "import circles: " + " | ".join(found)


def test_only_the_composition_root_imports_adapters() -> None:
    found = domain_imports_of_adapters(import_graph(REPOSITORY))
    assert not found, (
        "the domain imports adapters (define a port in router and wire the adapter in "
        "router.bootstrap, router.app or router.cli): " + ", ".join(found)
    )
