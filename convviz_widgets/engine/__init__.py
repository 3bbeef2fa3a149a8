"""Compute engine: activations, rendering and image handling (numpy, Keras, TensorFlow only).

Nothing here imports ipywidgets, bqplot or IPython: the same functions serve the widgets, the
command line, exports and the benchmarks. Heavy modules are imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from .startup import quiet_tensorflow

# Before any engine module imports TensorFlow: its start-up log stays out of the notebook.
quiet_tensorflow()

_EXPORTS = {
    "ActivationProbe": "probe",
    "ActivationRecord": "probe",
    "LayerInfo": "layers",
    "discover_layers": "layers",
    "ImageInput": "images",
    "prepare_image": "images",
    "ByteLRU": "cache",
    "WeightsWatch": "weights",
    "weights_watch": "weights",
    "ModelProbe": "protocol",
    "OutputHead": "heads",
    "Explainer": "explain",
    "METHODS": "cam",
    "ClassTarget": "targets",
    "BinaryTarget": "targets",
    "ChannelTarget": "targets",
    "InputGradients": "saliency",
    "input_gradients": "saliency",
    "relu_backward_rule": "saliency",
    "vanilla_saliency": "saliency",
    "smoothgrad": "saliency",
    "guided_backprop": "saliency",
    "guided_gradcam": "saliency",
    "deprocess": "saliency",
    "DeconvNet": "deconv",
    "deconv_projections": "deconv",
    "top_filters": "deconv",
    "KernelTiles": "kernels",
    "conv_kernel": "kernels",
    "kernel_tiles": "kernels",
    "kernel_mosaic": "kernels",
    "kernel_channel_grid": "kernels",
    "FeatureVisualizer": "featvis",
    "FeatVisSettings": "featvis",
    "PatternCache": "featvis",
    "optimize_steps": "featvis",
    "pattern_steps": "featvis",
    "precompute": "featvis",
    "deprocess_image": "featvis",
    "ExampleIndex": "examples",
    "build_index": "examples",
    "load_index": "examples",
    "Contributions": "contributions",
    "channel_contributions": "contributions",
    "ReceptiveField": "receptive_field",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
