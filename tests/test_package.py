"""Package hygiene: cheap import with no side effects, engine free of widget libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import convviz_widgets

WIDGET_MODULES = ("ipywidgets", "bqplot", "IPython")


def modules_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}).stdout
    return set(out.split())


def test_importing_the_package_loads_neither_tensorflow_nor_widgets():
    loaded = modules_after("import convviz_widgets, convviz_widgets.zoo")
    assert not {"tensorflow", "keras", *WIDGET_MODULES} & loaded


def test_the_engine_never_imports_widget_libraries():
    # Keras 3 itself imports IPython when it is installed (keras.src.saving.file_editor), so
    # the engine is measured against a bare `import keras`: it must add no widget module.
    baseline = modules_after("import tensorflow, keras")
    loaded = modules_after(
        "import convviz_widgets.engine.probe, convviz_widgets.engine.render, "
        "convviz_widgets.engine.cam, convviz_widgets.export"
    )
    assert "tensorflow" in loaded
    added = {name.split(".")[0] for name in loaded - baseline}
    assert not set(WIDGET_MODULES) & added
    assert not {"ipywidgets", "bqplot"} & {name.split(".")[0] for name in loaded}


def test_no_engine_module_names_a_widget_library():
    engine = Path(convviz_widgets.__file__).parent / "engine"
    for path in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & set(WIDGET_MODULES), f"{path.name} imports {roots}"


def test_public_names_resolve():
    import convviz_widgets

    assert convviz_widgets.LayerBrowser.__name__ == "LayerBrowser"
    assert callable(convviz_widgets.zoo.load_model)


PACKAGE = Path(convviz_widgets.__file__).parent
#: Which parts of the package each part may import (the arrows point one way).
ALLOWED = {
    "engine": {"engine"},
    "zoo": {"zoo", "engine"},
    "widgets": {"widgets", "engine", "zoo"},
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved, imports under
    ``TYPE_CHECKING`` and inside functions included)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base)
                name = f"{prefix}.{node.module}" if node.module else prefix
            else:
                name = node.module or ""
            found.add(name)
            # ``from .. import zoo`` imports a module too
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def part_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "convviz_widgets" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in {"engine", "zoo", "widgets", "export", "cli"} else None


def test_imports_point_one_way_engine_zoo_widgets():
    violations = []
    for part, allowed in ALLOWED.items():
        for path in (PACKAGE / part).rglob("*.py"):
            for name in imported_modules(path):
                target = part_of(name)
                if target is not None and target not in allowed:
                    violations.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not violations, "\n".join(violations)


def test_the_import_checker_sees_relative_imports():
    widgets_base = imported_modules(PACKAGE / "widgets" / "base.py")
    assert "convviz_widgets.engine.files" in widgets_base
    overlay = imported_modules(PACKAGE / "widgets" / "cam_overlay.py")
    assert "convviz_widgets.zoo" in overlay and part_of("convviz_widgets.export") == "export"
