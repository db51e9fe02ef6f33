"""The core's import contract, checked from the source: no import circles between modules,
and layers that import downward only.

Every ``import``/``from … import`` of the package counts, at module level, inside
functions (a function-local import is still a dependency, only a late one) and under
``TYPE_CHECKING`` (a type-only import still ties two modules' designs together). An
equivalent of import-linter's "layers" and "independence" contracts in ~100 lines, so the
suite needs no extra tool. Run ``python -m tests.layering`` to see the violations.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Highest first. A module belongs to the layer of the longest prefix that names it; it may
# import its own layer and the layers below, never one above.
CORE_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points", ("pressluft_core.app", "pressluft_core.cli")),
    ("job runner", ("pressluft_core.jobs.worker", "pressluft_core.jobs.embedded",
                    "pressluft_core.jobs.queue", "pressluft_core.jobs.claim",
                    )),
    ("job handlers", ("pressluft_core.jobs.handlers", "pressluft_core.jobs.registry",
                      "pressluft_core.jobs.scheduler",
                      "pressluft_core.jobs.context", "pressluft_core.jobs.outcome",
                      "pressluft_core.backups")),
    ("services", ("pressluft_core.services", "pressluft_core.jobs.presence",
                  "pressluft_core.backups.rows")),
    ("definitions", ("pressluft_core.jobs.events", "pressluft_core.jobs.errors",
                     "pressluft_core.jobs.retry", "pressluft_core.jobs.logs",
                     "pressluft_core.preview",
                     "pressluft_core.concurrency", "pressluft_core.remote",
                     "pressluft_core.wordpress", "pressluft_core.session_store",
                     "pressluft_core.memory")),
    ("records", ("pressluft_core.models", "pressluft_core.records", "pressluft_core.db",
                 "pressluft_core.migrations", "pressluft_core.secrets",
                 "pressluft_core.paths", "pressluft_core.clock", "pressluft_core.enums",
                 "pressluft_core.validation", "pressluft_core.errors", "pressluft_core.node",
                 "pressluft_core.jobs", "pressluft_core")),
)


def module_names(package_dir: Path) -> dict[str, Path]:
    base = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(base).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's modules ``name`` imports (``from pkg import mod`` names the module
    when it is one, else the package)."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{anchor}.{node.module}" if node.module else anchor
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    found.add(f"{source}.{alias.name}")
                elif source in known:
                    found.add(source)
    found.discard(name)
    return found


def graph_of(package_dir: Path) -> dict[str, set[str]]:
    names = module_names(package_dir)
    return {name: imports_of(name, path, names) for name, path in names.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def layer_of(name: str, layers: Sequence[tuple[str, tuple[str, ...]]]) -> int:
    best, depth = len(layers), -1
    for number, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = number, len(prefix)
    return best


def upward_imports(graph: dict[str, set[str]],
                   layers: Sequence[tuple[str, tuple[str, ...]]]) -> list[str]:
    """``a -> b`` for every import of a higher layer (a lower number) than the importer's."""
    found = []
    for name in sorted(graph):
        mine = layer_of(name, layers)
        for target in sorted(graph[name]):
            theirs = layer_of(target, layers)
            if theirs < mine:
                found.append(f"{name} ({layers[mine][0]}) imports {target} "
                             f"({layers[theirs][0]})")
    return found


def violations(package_dir: Path,
               layers: Sequence[tuple[str, tuple[str, ...]]]) -> list[str]:
    graph = graph_of(package_dir)
    return ([f"import circle: {' <-> '.join(group)}" for group in circles(graph)]
            + upward_imports(graph, layers))


if __name__ == "__main__":
    problems = violations(ROOT / "pressluft_core", CORE_LAYERS)
    print("\n".join(problems) or "no import circles, no upward imports")
    sys.exit(1 if problems else 0)
