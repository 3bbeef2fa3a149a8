"""The result of an explanation, and CAMs of one or every conv layer from one cached pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..gradients import LayerGradients
from ..images import ImageInput, ImageSource
from ..maps import upsample
from ..targets import Target
from .base import CAMMethod


@dataclass(frozen=True)
class CAMResult:
    """An explanation map, at its method's resolution, and (on first use) at the input's.

    Attributes
    ----------
    layer : str
        Path of the explained layer (for input-resolution methods that use none, the layer
        that was asked for).
    target : Target
    method : str
    map : numpy.ndarray
        ``(h, w)`` float32 in [0, 1]: the layer's grid, or the input's for input-resolution
        methods.
    input_size : (height, width)
        The model input's size.
    score : float or None
        The explained score (logit by default) when the method computed it.
    """

    layer: str
    target: Target
    method: str
    map: np.ndarray = field(repr=False)
    input_size: tuple[int, int]
    score: float | None = None

    @cached_property
    def upsampled(self) -> np.ndarray:
        """The map resized (bilinearly) to the input's size ``(H, W)``, in [0, 1]; computed
        once, when first asked for."""
        return upsample(self.map, self.input_size)

    @property
    def nbytes(self) -> int:
        """Memory held (the upsampled copy included once computed)."""
        extra = self.__dict__.get("upsampled")
        return int(self.map.nbytes + (extra.nbytes if extra is not None else 0))


def _method(method: str | CAMMethod) -> CAMMethod:
    from . import get_method

    found = get_method(method)
    if not isinstance(found, CAMMethod):
        raise ValueError(f"{found.name!r} is not computed from one layer's activations and "
                         "gradients; use probe.cam(image, layer, target, method=...) for it.")
    return found


def _explain(gradients: LayerGradients, image: ImageSource | ImageInput, target: Any,
             method: str | CAMMethod, paths: list[str]) -> dict[str, CAMResult]:
    prepared = gradients.probe.prepare(image)
    explain = _method(method)
    resolved = gradients.resolve(prepared, target)
    record = gradients.compute(prepared, [resolved])
    size = prepared.shape[:2]
    return {path: CAMResult(layer=path, target=resolved, method=explain.name,
                            map=explain(record.activations[path], record.gradients[path][0]),
                            input_size=size, score=float(record.scores[0]))
            for path in paths}


def cam_sweep(gradients: LayerGradients, image: ImageSource | ImageInput, target: Any = None,
              method: str | CAMMethod = "gradcam") -> dict[str, CAMResult]:
    """The CAM of every watched layer, from one forward and one backward pass (cached).

    ``target``: a class index, ``"positive"``/``"negative"`` for a single sigmoid unit, a
    :class:`ClassTarget`/:class:`BinaryTarget`, or None for the predicted class. ``method``: a
    gradient CAM (Grad-CAM, Grad-CAM++, Layer-CAM, Eigen-CAM).
    """
    return _explain(gradients, image, target, method, [info.path for info in gradients.layers])


def compute_cam(gradients: LayerGradients, image: ImageSource | ImageInput, layer: str,
                target: Any = None, method: str | CAMMethod = "gradcam") -> CAMResult:
    """The CAM of one layer; its gradients come from the same cached pass as every layer's."""
    path = gradients.probe.layer(layer).path
    watched = [info.path for info in gradients.layers]
    if path not in watched:
        raise ValueError(f"layer {path!r} is not a conv layer being explained; choose one of "
                         f"{', '.join(watched)}.")
    return _explain(gradients, image, target, method, [path])[path]


__all__ = ["CAMResult", "Target", "cam_sweep", "compute_cam"]
