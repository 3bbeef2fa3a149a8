"""Activation maximization: images that make a filter (or any objective) respond strongly.

Laid out as lucid's ``optvis`` (Olah, Mordvintsev & Schubert, 2017, "Feature Visualization",
Distill): :mod:`.objectives` say what to maximize, :mod:`.parameterizations` how the image is
represented, :mod:`.transforms` and :mod:`.regularizers` what keeps it natural, and
:mod:`.optimize` runs the steps, on a model truncated at the target layer (:mod:`.truncate`), for
a whole batch of filters at once. :mod:`.cache` keeps results in memory and on disk.

Presets (plain :class:`FeatVisSettings` instances):

- :data:`TUTORIAL`: seed S2 (Chollet, *Deep Learning with Python* §5.4) — gray-noise pixels,
  40 steps of size 1 with RMS-normalized gradients, 150×150 when the model takes any size.
- :data:`CLEAN`: FFT parameterization with decorrelated colour, jitter, scale and rotation,
  mild L2, total-variation and blur penalties.

``dtype="bfloat16"`` (experimental) runs a mixed-precision copy of the model.

Examples
--------
>>> from convviz_widgets import zoo
>>> from convviz_widgets.engine import featvis
>>> model = zoo.load_model("shapes")
>>> settings = featvis.TUTORIAL.replace(steps=3)
>>> for record in featvis.optimize_steps(model, featvis.channels("block2_conv1", range(8)),
...                                      settings):
...     print(record.step, record.values.shape)
1 (8,)
2 (8,)
3 (8,)
"""

from __future__ import annotations

from .cache import (
    FilterPattern,
    PatternCache,
    PatternUpdate,
    pattern_steps,
    precompute,
    shared_pattern_cache,
    weights_fingerprint,
)
from .objectives import Objective, channel, channels, neuron, neurons
from .optimize import (
    FeatureVisualizer,
    FeatVisResult,
    StepRecord,
    deprocess_image,
    optimize_steps,
    visualize,
    visualizer_for,
)
from .parameterizations import FFT, Pixels
from .regularizers import L2, Blur, TotalVariation
from .settings import CLEAN, PRESETS, TUTORIAL, FeatVisSettings, preset
from .transforms import Jitter, Rotate, Scale

__all__ = [
    "CLEAN",
    "FFT",
    "L2",
    "PRESETS",
    "TUTORIAL",
    "Blur",
    "FeatVisResult",
    "FeatVisSettings",
    "FeatureVisualizer",
    "FilterPattern",
    "Jitter",
    "Objective",
    "PatternCache",
    "PatternUpdate",
    "Pixels",
    "Rotate",
    "Scale",
    "StepRecord",
    "TotalVariation",
    "channel",
    "channels",
    "deprocess_image",
    "neuron",
    "neurons",
    "optimize_steps",
    "pattern_steps",
    "precompute",
    "preset",
    "shared_pattern_cache",
    "visualize",
    "visualizer_for",
    "weights_fingerprint",
]
