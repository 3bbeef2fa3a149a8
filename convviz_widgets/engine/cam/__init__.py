"""Every explanation method a user can pick, in one registry; see :class:`~.base.Method`.

Each method is a small class in its own module. :data:`METHODS` is the one table the widgets
and the command line read: a new method is one module plus one line below, and appears in
CAMOverlay's method list and in ``convviz faithfulness`` without touching either. Compute any of
them with ``probe.cam(image, layer, target, method=name)``.
"""

from __future__ import annotations

from ..maps import normalize_map, upsample
from .base import CAMMethod, Cancelled, Method, Request
from .deconvnet import Deconvnet
from .eigencam import EigenCAM
from .gradcam import GradCAM
from .gradcam_plus_plus import GradCAMPlusPlus
from .guided_backprop import GuidedBackprop
from .guided_gradcam import GuidedGradCAM
from .layercam import LayerCAM
from .result import CAMResult, cam_sweep, compute_cam
from .saliency import Saliency
from .scorecam import ScoreCAM
from .smoothgrad import SmoothGrad

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (
    GradCAM,
    GradCAMPlusPlus,
    LayerCAM,
    EigenCAM,
    ScoreCAM,
    Saliency,
    SmoothGrad,
    GuidedBackprop,
    GuidedGradCAM,
    Deconvnet,
)}


def get_method(method: str | Method) -> Method:
    """The registered method called ``method`` (a :class:`Method` instance passes through).

    Examples
    --------
    >>> get_method("gradcam").title, get_method("scorecam").slow
    ('Grad-CAM', True)
    """
    if isinstance(method, Method):
        return method
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}; use one of "
                         f"{', '.join(METHODS)}.")
    return METHODS[method]()


__all__ = [
    "METHODS", "CAMMethod", "CAMResult", "Cancelled", "Deconvnet", "EigenCAM", "GradCAM",
    "GradCAMPlusPlus", "GuidedBackprop", "GuidedGradCAM", "LayerCAM", "Method", "Request",
    "Saliency", "ScoreCAM", "SmoothGrad", "cam_sweep", "compute_cam", "get_method",
    "normalize_map", "upsample",
]
