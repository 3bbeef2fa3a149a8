"""convviz_widgets: see inside a Keras convnet from a Jupyter notebook.

Importing the package is cheap: TensorFlow, Keras and the widget libraries load on first use of
the names below.

Examples
--------
>>> from convviz_widgets import LayerBrowser, zoo
>>> browser = LayerBrowser(zoo.load_model("shapes"), image="star")
>>> browser.layer
'block1_conv1'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "LayerBrowser": "convviz_widgets.widgets.layer_browser",
    "CAMOverlay": "convviz_widgets.widgets.cam_overlay",
    "FilterGallery": "convviz_widgets.widgets.filter_gallery",
    "Explorer": "convviz_widgets.widgets.explorer",
    "InvalidValue": "convviz_widgets.widgets.base",
    "set_theme": "convviz_widgets.widgets.theme",
    "Timeline": "convviz_widgets.engine.timeline",
    "CheckpointRecorder": "convviz_widgets.callbacks",
    "ActivationProbe": "convviz_widgets.engine.probe",
    "shared_probe": "convviz_widgets.engine.probe",
    "zoo": "convviz_widgets.zoo",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    return module if module.__name__.endswith(f".{name}") else getattr(module, name)


def __dir__() -> list[str]:
    return __all__
