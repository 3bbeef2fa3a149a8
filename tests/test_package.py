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
