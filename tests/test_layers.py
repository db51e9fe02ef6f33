"""The core's layering contract (issue 16): no import circles, layers import downward only.
The checker itself is shown to fail on a circle and on an upward import it is handed."""

from __future__ import annotations

from pathlib import Path

from tests.layering import CORE_LAYERS, ROOT, graph_of, violations


def test_the_core_has_no_import_circles_and_no_upward_imports() -> None:
    assert violations(ROOT / "pressluft_core", CORE_LAYERS) == []


def test_the_graph_sees_the_core() -> None:
    """A broken walk would prove nothing: known edges, function-local ones included."""
    graph = graph_of(ROOT / "pressluft_core")
    assert len(graph) > 100
    assert "pressluft_core.services.base" in graph["pressluft_core.services.jobs"]
    assert "pressluft_core.jobs.registry" in graph["pressluft_core.app"]
    assert "pressluft_core.services.settings" in graph["pressluft_core.services.storage"]


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


LAYERS = (("top", ("pkg.top",)), ("bottom", ("pkg.bottom", "pkg")))


def test_a_deliberate_circle_fails_the_contract(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "bottom/__init__.py": "",
        "bottom/a.py": "from pkg.bottom import b\n",
        "bottom/b.py": "def late():\n    from pkg.bottom.a import x\n",
        "top.py": "from pkg.bottom import a\n"})
    assert violations(package, LAYERS) == ["import circle: pkg.bottom.a <-> pkg.bottom.b"]


def test_an_upward_import_fails_the_contract_even_under_type_checking(
        tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "bottom.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from pkg.top import Thing\n",
        "top.py": "from . import bottom\n"})
    assert violations(package, LAYERS) == [
        "import circle: pkg.bottom <-> pkg.top",
        "pkg.bottom (bottom) imports pkg.top (top)"]
