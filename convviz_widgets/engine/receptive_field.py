"""Receptive fields: which input pixels a cell of a layer's feature maps can see.

Computed from the layer stack (kernel sizes, strides, dilations, padding), the standard
recurrence (Araujo, Norris & Sim, 2019, "Computing Receptive Fields of Convolutional Neural
Networks", Distill): per axis, with the effective kernel ``k' = (k - 1) d + 1``,

    size  ← size + (k' - 1) · jump
    start ← start + ((k' - 1) / 2 - pad_before) · jump
    jump  ← jump · stride

where ``start`` is the centre of output cell 0 in input pixels and ``jump`` the distance in
input pixels between neighbouring output cells. TensorFlow's ``"same"`` padding puts the odd
pixel after: ``pad_before = total // 2``.

Only chains of layers are handled (a Sequential model, or a functional one without branches up
to the layer): where branches join (ResNet's shortcuts), fields differ per path, and the
computation refuses with a sentence instead of guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .layers import LayerInfo

#: Layers that keep every pixel where it is (elementwise, normalization, activations, …) are
#: recognized by their unchanged spatial size; these change it.
_WINDOWED = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
             "AveragePooling2D")


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of every cell of one layer's maps, per axis (rows, columns).

    Attributes
    ----------
    size : (int, int)
        Height and width of a cell's field in input pixels (before clipping to the image).
    jump : (int, int)
        Input pixels between neighbouring cells.
    start : (float, float)
        Centre of cell (0, 0)'s field in input pixel coordinates (pixel centres are whole
        numbers; it can be negative with ``"same"`` padding).
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]

    def box(self, row: int, column: int, image_shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of cell (row, column)'s field, clipped to an image of
        ``image_shape`` (height, width); bottom and right are exclusive.

        Examples
        --------
        >>> field = ReceptiveField(size=(5, 5), jump=(2, 2), start=(1.0, 1.0))
        >>> field.box(0, 0, (8, 8)), field.box(3, 2, (8, 8))
        ((0, 0, 4, 4), (5, 3, 8, 8))
        """
        spans = []
        for axis, cell in enumerate((row, column)):
            centre = self.start[axis] + cell * self.jump[axis]
            low = math.ceil(centre - (self.size[axis] - 1) / 2)
            spans.append((max(0, low), min(image_shape[axis], low + self.size[axis])))
        (top, bottom), (left, right) = spans
        return top, left, bottom, right


def receptive_field(layers: list[LayerInfo], target: LayerInfo,
                    input_shape: tuple[int, int]) -> ReceptiveField:
    """The receptive field of ``target``'s cells, walking ``layers`` (in call order, as
    ``ActivationProbe.layers`` gives them) from an input of ``input_shape`` (height, width).

    Raises
    ------
    ValueError
        When a layer between the input and ``target`` does not follow from the one before it
        (the model branches there), or changes the spatial size in a way not computed here.
    """
    if target not in layers:
        raise ValueError(f"layer {target.path!r} is not among the model's layers.")
    size, jump, start = [1, 1], [1, 1], [0.0, 0.0]
    shape = list(input_shape)
    previous: LayerInfo | None = None
    for info in layers[: layers.index(target) + 1]:
        if info.kind == "merge" or not _follows(previous, info):
            raise ValueError(f"the model branches before layer {info.path!r}: receptive "
                             f"fields are computed for chains of layers only.")
        previous = info
        out = _spatial_size(info)
        if out is None:
            continue  # the input layer, or not feature maps: no spatial change to follow
        name = type(info.layer).__name__
        if name in _WINDOWED:
            kernel, stride, dilation, padding = _window(info.layer)
            for axis in (0, 1):
                effective = (kernel[axis] - 1) * dilation[axis] + 1
                expected, before = _output_and_padding(shape[axis], effective, stride[axis],
                                                       padding)
                if expected != out[axis]:
                    raise _branching(info, shape, out)
                size[axis] += (effective - 1) * jump[axis]
                start[axis] += ((effective - 1) / 2 - before) * jump[axis]
                jump[axis] *= stride[axis]
        elif name == "ZeroPadding2D":
            (top, bottom), (left, right) = info.layer.padding
            for axis, (before, after) in enumerate(((top, bottom), (left, right))):
                if shape[axis] + before + after != out[axis]:
                    raise _branching(info, shape, out)
                start[axis] -= before * jump[axis]
        elif out != tuple(shape):
            raise ValueError(f"layer {info.path!r} ({name}) changes the maps' size from "
                             f"{tuple(shape)} to {out}, which is not computed here; receptive "
                             f"fields cover convolutions, pooling and zero padding.")
        shape = list(out)
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))  # type: ignore[arg-type]


def _follows(previous: LayerInfo | None, info: LayerInfo) -> bool:
    """Whether ``info``'s layer takes ``previous``'s output (True where Keras cannot tell, or
    across the border of a nested model, whose first layer takes the nested model's input)."""
    if previous is None or previous.path.rpartition("/")[0] != info.path.rpartition("/")[0]:
        return True
    try:
        return info.layer.input is previous.layer.output
    except (AttributeError, ValueError):  # a layer called several times, or never
        return True


def _spatial_size(info: LayerInfo) -> tuple[int, int] | None:
    shape = info.output_shape
    if shape is None or len(shape) != 3 or shape[0] is None or shape[1] is None:
        return None
    if type(info.layer).__name__ == "InputLayer":
        return None
    return int(shape[0]), int(shape[1])


def _window(layer: Any) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], str]:
    """Kernel, strides, dilation and padding of a conv or pooling layer."""
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    dilation = getattr(layer, "dilation_rate", (1, 1))
    return tuple(kernel), tuple(layer.strides), tuple(dilation), layer.padding


def _output_and_padding(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """Output size along one axis and the padding TensorFlow adds before it."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def _branching(info: LayerInfo, shape: list[int], out: tuple[int, int]) -> ValueError:
    return ValueError(f"layer {info.path!r} does not follow from the layer before it (maps of "
                      f"{tuple(shape)} would not become {out}): the model branches before it, "
                      f"and receptive fields are computed for chains of layers only.")
