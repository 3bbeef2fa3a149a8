"""Package hygiene: cheap import with no side effects, engine free of widget libraries."""

from __future__ import annotations

import subprocess
import sys

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
    loaded = modules_after(
        "import convviz_widgets.engine.probe, convviz_widgets.engine.render, "
        "convviz_widgets.export"
    )
    assert "tensorflow" in loaded
    assert not set(WIDGET_MODULES) & {name.split(".")[0] for name in loaded}


def test_public_names_resolve():
    import convviz_widgets

    assert convviz_widgets.LayerBrowser.__name__ == "LayerBrowser"
    assert callable(convviz_widgets.zoo.load_model)
