"""Class activation maps over one shared template; see :class:`CAMMethod`.

Each method is a small class in its own module. :func:`compute_cam` and :func:`cam_sweep` take
their activations and gradients from one forward and one backward pass (``LayerGradients``).
"""

from __future__ import annotations

from .base import CAMMethod, normalize_map, upsample
from .eigencam import EigenCAM
from .gradcam import GradCAM
from .gradcam_plus_plus import GradCAMPlusPlus
from .layercam import LayerCAM
from .result import CAMResult, cam_sweep, compute_cam, resolve_target

METHODS: dict[str, type[CAMMethod]] = {
    cls.name: cls for cls in (GradCAM, GradCAMPlusPlus, LayerCAM, EigenCAM)
}

__all__ = [
    "METHODS", "CAMMethod", "CAMResult", "EigenCAM", "GradCAM", "GradCAMPlusPlus", "LayerCAM",
    "cam_sweep", "compute_cam", "normalize_map", "resolve_target", "upsample",
]
