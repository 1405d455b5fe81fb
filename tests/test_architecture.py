"""House rules that a test can hold: the engine imports no Qt and has no import side effects;
its packages keep their layers (pyproject's [tool.importlinter]) and import one another in no
loop; the studio imports only the engine modules declared here."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# What the studio may import from the engine, module by module (a module's public names only).
# A studio module that needs another engine module adds it here, where a reviewer sees it.
STUDIO_MAY_IMPORT = frozenset({
    # the facade, its settings, events and errors
    "engine", "engine.api", "engine.cancel", "engine.config", "engine.config.settings",
    "engine.errors", "engine.events", "engine.devices", "engine.weights", "engine.checkpoints",
    # tasks, exports, the runtimes' process set-up
    "engine.tasks", "engine.export", "engine.export.base", "engine.process.allocator",
    "engine.process.threads",
    # file formats and datasets
    "engine.formats.coco", "engine.formats.dataset_yaml", "engine.formats.yolo_labels",
    "engine.formats.labelset", "engine.data.labelset_fit", "engine.data.labelset_yolo",
    "engine.data.dataset_convert",
    "engine.formats.labelme_labelset_write", "engine.formats.cvat_write", "engine.formats.masks",
    "engine.formats.coco_labelset_write", "engine.formats.masks_write",
    "engine.data.check", "engine.data.classify_folder",
    "engine.data.detect_dataset", "engine.data.detect_labels", "engine.data.images",
    "engine.data.figure_samples", "engine.data.shape_samples",
    # what the Train, Predict and Evaluate pages show
    "engine.train.auto_optimizer", "engine.predict.nms", "engine.val.detection_confusion",
    "engine.val.detection_metrics", "engine.val.validation_record",
    # annotation assists (issue 20)
    "engine.assist.checker", "engine.assist.classical", "engine.assist.sam",
    "engine.assist.sam_models",
    # helpers the studio's own files and child processes share
    "engine.utils.atomic", "engine.utils.child_process", "engine.utils.cache_dirs",
    # the training process starts its plot worker before importing torch
    "engine.plot_worker",
})


def test_engine_imports_no_gui_and_touches_no_network():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise AssertionError('network at import')\n"
        "socket.socket.connect = refuse\n"
        "import engine, engine.cli, engine.weights, engine.checkpoints, engine.nn.flops\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'sqlalchemy', 'studio')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_eval_or_unsafe_load_in_the_engine():
    import ast

    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):  # ast.literal_eval (literals only) is allowed
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else None
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    name = func.attr if func.value.id == "builtins" else None
                assert name not in ("eval", "exec", "compile"), f"{path}:{node.lineno}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"


def test_the_studio_uses_only_the_engines_public_names():
    import ast

    for path in (ROOT / "studio").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
                assert not any(part.startswith("_") for part in node.module.split(".")), path
                private = [a.name for a in node.names
                           if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"{path}: imports {private} from {node.module}"


def test_the_studio_is_no_dependency_of_the_engine_package():
    code = (
        "import sys, studio.state, studio.services.projects\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """import-linter's contracts of ``cwd``'s pyproject.toml, run on ``cwd``'s engine/."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml"],
                          cwd=cwd, capture_output=True, text=True)


def test_the_engine_keeps_its_layers():
    linted = _lint_imports(ROOT)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_layer_contract_fails_on_an_upward_import(tmp_path):
    # The same contract, run on a copy of the engine where the bottom layer imports the facade.
    shutil.copytree(ROOT / "engine", tmp_path / "engine",
                    ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    codec = tmp_path / "engine" / "formats" / "export_metadata.py"
    lines = codec.read_text().count("\n")
    codec.write_text(codec.read_text() + "from ..api import YOLO  # upward\n")
    linted = _lint_imports(tmp_path)
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert "engine.formats is not allowed to import engine.api:" in linted.stdout
    assert f"- engine.formats.export_metadata -> engine.api (l.{lines + 1})" in linted.stdout


def _package_cycles(graph: grimp.ImportGraph, root: str) -> list[list[str]]:
    """Loops among ``root``'s children (``engine.train`` stands for everything in it)."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    imports: dict[str, set[str]] = {package(m): set() for m in graph.modules if m != root}
    for module in graph.modules - {root}:
        for imported in graph.find_modules_directly_imported_by(module) - {root}:
            if package(imported) != package(module):
                imports[package(module)].add(package(imported))
    # Tarjan's strongly connected components: every one of two or more packages is a loop.
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in sorted(imports[node]):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                loops.append(sorted(component))

    for node in sorted(imports):
        if node not in order:
            visit(node)
    return loops


def _loop_imports(graph: grimp.ImportGraph, loop: list[str]) -> list[str]:
    """``importer:line -> imported`` for each import between the packages of ``loop``."""
    found = []
    for module in sorted(graph.modules):
        mine = next((p for p in loop if module == p or module.startswith(p + ".")), None)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            theirs = next((p for p in loop if imported == p or imported.startswith(p + ".")), None)
            if mine and theirs and mine != theirs:
                lines = [d["line_number"] for d in
                         graph.get_import_details(importer=module, imported=imported)]
                found.append(f"{module}:{','.join(map(str, lines))} -> {imported}")
    return found


def _known_exceptions() -> list[tuple[str, str]]:
    """The layer contract's ``ignore_imports`` (imports another change of issue 18 removes)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["id"] == "engine-layers"]
    return [tuple(part.strip() for part in expression.split("->"))
            for expression in layers.get("ignore_imports", [])]


def test_the_engine_has_no_package_level_import_cycles():
    graph = grimp.build_graph("engine", cache_dir=None)
    for importer, imported in _known_exceptions():
        if graph.direct_import_exists(importer=importer, imported=imported):
            graph.remove_import(importer=importer, imported=imported)
    loops = _package_cycles(graph, "engine")
    assert not loops, "\n".join(
        f"{' <-> '.join(loop)}:\n  " + "\n  ".join(_loop_imports(graph, loop)) for loop in loops
    )
    # The check itself finds a loop once one import closes it.
    graph.add_import(importer="engine.errors", imported="engine.api")
    assert "engine.errors" in sum(_package_cycles(graph, "engine"), [])


def _studio_engine_imports():
    """(file, line, engine module) for every engine import in studio/."""
    for path in sorted((ROOT / "studio").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from engine import events`` imports the module engine.events
                modules = [f"{node.module}.{alias.name}"
                           if _is_module(f"{node.module}.{alias.name}") else node.module
                           for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "engine":
                    yield path.relative_to(ROOT), node.lineno, module


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_the_studio_imports_only_the_declared_engine_modules():
    imports = list(_studio_engine_imports())
    undeclared = [f"{path}:{line}: {module}" for path, line, module in imports
                  if module not in STUDIO_MAY_IMPORT]
    assert not undeclared, "not in STUDIO_MAY_IMPORT:\n" + "\n".join(undeclared)
    unused = STUDIO_MAY_IMPORT - {module for _path, _line, module in imports}
    assert not unused, f"declared but imported nowhere in studio/: {sorted(unused)}"
