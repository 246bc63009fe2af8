"""The layout holds: no import cycles, dependencies one way, files of a size one can hold.

Every import is counted, function-local ones included (read with ``ast``, nothing is
imported). The layers, lowest first: ``ml.engine.labels`` (the one torch-free class list that
records and engine share; it imports nothing) ← ``clinic`` (clinics, clinicians, the access
check) ← ``integrations`` (a clinic's OAuth 2.0 clients) ← ``lesions`` (records) ← ``ml``
(analyses) ← ``assessment`` (checklists, sign-off) ← ``followup`` (pages combining both) ←
``interop`` (FHIR and the PDF report) ← ``operations`` (backup, restore) ← ``benchmarks``
(tools) ← ``config`` (the Django project, which mounts every app). ``ml.engine`` imports no
Django and none of the apps. Inside the engine, rooms by purpose: the shared modules import no
room; ``inference`` only the shared modules; ``segmentation`` also ``inference``; ``change``
also ``segmentation``; ``evaluation`` also ``change``; ``training`` everything. A web process
never imports torch.
Run alone with ``.venv/bin/pytest -q tests/test_dependencies.py``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "clinic",
    "integrations",
    "lesions",
    "ml",
    "assessment",
    "followup",
    "interop",
    "operations",
    "benchmarks",
    "config",
)
LAYERS = {name: rank for rank, name in enumerate(PACKAGES)}
# The one vocabulary below every layer: records and engine share it.
FOUNDATION = "ml.engine.labels"
# Importing it runs these packages' __init__ first; they import nothing (tested), so they count as it.
FOUNDATION_PATH = {"ml", "ml.engine", FOUNDATION}
# Rooms of the engine, lowest first ("" = the shared modules at the top of ml/engine/).
ENGINE_ROOMS = ("", "inference", "segmentation", "change", "evaluation", "training")
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported_names(path: Path, name: str) -> set[str]:
    """Every module named by an import anywhere in the file (module level or inside functions)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import module``
    return names


@cache
def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported in imported_names(path, name):
            # Importing a.b.c runs a/__init__ and a/b/__init__ first: they are imported too.
            parts = imported.split(".")
            for end in range(1, len(parts) + 1):
                candidate = ".".join(parts[:end])
                if candidate in known and candidate != name:
                    targets.add(candidate)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> int:
    return -1 if name in FOUNDATION_PATH else LAYERS[name.split(".")[0]]


def engine_room(name: str) -> int:
    parts = name.split(".")
    if parts[:2] != ["ml", "engine"] or len(parts) < 3:
        return 0
    return ENGINE_ROOMS.index(parts[2]) if parts[2] in ENGINE_ROOMS else 0


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_sees_function_local_imports(tmp_path: Path) -> None:
    source = tmp_path / "local.py"
    source.write_text("def f():\n    from ml.services import x\n    import lesions.models\n")
    assert {"ml.services", "ml.services.x", "lesions.models"} <= imported_names(source, "lesions.local")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_run_one_way(package: str) -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.split(".")[0] == package
        for target in sorted(targets)
        if layer(target) > layer(name)
    ]
    assert upward == []


def imports_into(package: str, others: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    """``name imports target`` for each import by a module of ``package`` of a module of ``others``
    (those starting with one of ``allowed`` excepted)."""
    return [
        f"{name} imports {target}"
        for name, path in modules().items()
        if name.split(".")[0] == package
        for target in sorted(imported_names(path, name))
        if target.split(".")[0] in others and not target.startswith(allowed)
    ]


def test_clinic_imports_no_other_app() -> None:
    assert imports_into("clinic", set(PACKAGES) - {"clinic"}) == []


def test_no_module_in_lesions_imports_ml() -> None:
    assert imports_into("lesions", {"ml", "followup", "benchmarks"}, allowed=(FOUNDATION,)) == []


def test_the_labels_import_nothing_so_anyone_may_use_them() -> None:
    for name in FOUNDATION_PATH:
        assert imported_names(modules()[name], name) <= {"__future__", "__future__.annotations"}, name


def test_the_engine_rooms_keep_their_direction() -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.startswith("ml.engine.")
        for target in sorted(targets)
        if target.startswith("ml.engine.") and engine_room(target) > engine_room(name)
    ]
    assert upward == []


def test_the_room_check_sees_an_upward_import() -> None:
    assert engine_room("ml.engine.inference.classifier") < engine_room("ml.engine.training.train")
    assert engine_room("ml.engine.manifest") == 0
    assert engine_room("ml.engine.evaluation.metrics") > engine_room("ml.engine.segmentation.model")


def test_every_engine_room_says_what_it_is_for() -> None:
    for room in ENGINE_ROOMS[1:]:
        doc = ast.get_docstring(ast.parse((ROOT / "ml" / "engine" / room / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"ml/engine/{room}/__init__.py should say what it is for and may import"


def test_the_engine_imports_no_django_and_no_app() -> None:
    offending = [
        f"{name} imports {target}"
        for name, path in modules().items()
        if name.startswith("ml.engine")
        for target in sorted(imported_names(path, name))
        if target.split(".")[0] in {"django", "rest_framework", "celery", *PACKAGES}
        and not target.startswith("ml.engine")
        and target != "ml"
    ]
    assert offending == []


def test_no_file_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in modules().values()
        if "migrations" not in path.parts
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


WEB_PROCESS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
after_setup = "torch" in sys.modules
from django.conf import settings
from django.urls import get_resolver
get_resolver().url_patterns  # every page, API and FHIR view, as the first request loads them
import ml.services, ml.tasks, ml.analysis, ml.outlines, interop.pdf
print(after_setup, "torch" in sys.modules, "timm" in sys.modules)
"""


def test_a_web_process_never_imports_torch() -> None:
    # A fresh interpreter: this test process has torch loaded already.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"], "torch or timm in a web process"
