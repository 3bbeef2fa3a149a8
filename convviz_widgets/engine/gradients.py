"""Class scores and every layer's gradient from one forward and one backward pass.

Targets say *what* to explain (a class on its logit or probability, the positive or negative
side of a single-unit sigmoid model, or a channel of a layer); :class:`LayerGradients`
computes, for a batch of targets at once, every watched layer's activations and the gradient of
each target's score with respect to them — the inputs of the CAM methods in
:mod:`convviz_widgets.engine.cam`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .cache import ByteLRU
from .capture import capture_outputs, linear_activation
from .images import ImageInput, ImageSource
from .layers import LayerInfo

_SQUASHING = {"softmax": "softmax", "sigmoid": "sigmoid"}


@dataclass(frozen=True)
class ClassTarget:
    """Explain class ``index``, scored on its logit (default) or its probability."""

    index: int
    on: str = "logit"

    def __post_init__(self) -> None:
        if self.on not in ("logit", "probability"):
            raise ValueError(f"a class is scored on 'logit' or 'probability', not {self.on!r}.")


@dataclass(frozen=True)
class BinaryTarget:
    """For a single-unit sigmoid model: evidence for the positive class, or for the negative."""

    positive: bool = True
    on: str = "logit"


@dataclass(frozen=True)
class ChannelTarget:
    """Explain what drives a channel of a layer: its mean activation (the score of seed S2's
    filter visualization), e.g. ``ChannelTarget("block4_conv2", 12)``.

    Conv layers before ``layer`` get gradients; those after it get zero maps.
    """

    layer: str
    index: int

    @property
    def on(self) -> str:
        """Targets of one kind run together: channels of one layer."""
        return f"channel:{self.layer}"


Target = ClassTarget | BinaryTarget | ChannelTarget


@dataclass(frozen=True)
class OutputHead:
    """How the model's output relates to its logits."""

    layer: Any
    squashing: str | None  # "softmax", "sigmoid" or None (the output is already a logit)
    units: int


def output_head(layers: Sequence[LayerInfo], model: Any) -> OutputHead:
    """Find the layer whose activation turns logits into the model's output.

    The model has one output (:func:`~convviz_widgets.engine.model_spec.check_model` refuses
    several), so every other layer leads to it and the last leaf layer in call order is the one
    that computes it, also when it sits inside a nested model.
    """
    last = layers[-1].layer
    units = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else 0
    name = getattr(getattr(last, "activation", None), "__name__", None)
    return OutputHead(layer=last, squashing=_SQUASHING.get(name or ""), units=units)


def target_weights(targets: Sequence[Target], head: OutputHead) -> np.ndarray:
    """A ``(len(targets), units)`` matrix: row ``i`` picks target ``i``'s score from the logits."""
    weights = np.zeros((len(targets), head.units), np.float32)
    for row, target in enumerate(targets):
        if isinstance(target, ChannelTarget):
            raise ValueError(f"{target} is scored on a layer, not on the model's output; explain "
                             "it with a CAM (probe.cam), or give a class.")
        if isinstance(target, BinaryTarget):
            if head.units != 1:
                raise ValueError(
                    f"a positive/negative target needs a single-unit sigmoid model; this model "
                    f"has {head.units} outputs, so give a class index instead."
                )
            weights[row, 0] = 1.0 if target.positive else -1.0
        else:
            if head.units == 1 and head.squashing == "sigmoid":
                raise ValueError(
                    "this model has a single sigmoid unit; explain BinaryTarget(positive=True) "
                    "or BinaryTarget(positive=False) instead of a class index."
                )
            if not 0 <= target.index < head.units:
                raise ValueError(
                    f"class index {target.index} is out of range: the model has {head.units} "
                    f"classes (0 to {head.units - 1})."
                )
            weights[row, target.index] = 1.0
    return weights


@dataclass(frozen=True)
class GradientRecord:
    """Activations of the watched layers and, per target, the gradients of its score."""

    image: ImageInput
    targets: tuple[Target, ...]
    scores: np.ndarray  # (targets,) the score each target explains
    probabilities: np.ndarray  # (units,) the model's output
    activations: dict[str, np.ndarray]  # path -> (H, W, C)
    gradients: dict[str, np.ndarray]  # path -> (targets, H, W, C)

    @property
    def nbytes(self) -> int:
        arrays = [*self.activations.values(), *self.gradients.values()]
        return int(sum(a.nbytes for a in arrays))

    def select(self, row: int) -> GradientRecord:
        """The record of one target (views, no copies)."""
        return replace(self, targets=(self.targets[row],), scores=self.scores[row : row + 1],
                       gradients={p: g[row : row + 1] for p, g in self.gradients.items()})

    @staticmethod
    def stack(records: Sequence[GradientRecord]) -> GradientRecord:
        """Records of single targets for the same image, as one record."""
        first = records[0]
        return replace(
            first,
            targets=tuple(t for r in records for t in r.targets),
            scores=np.concatenate([r.scores for r in records]),
            gradients={p: np.concatenate([r.gradients[p] for r in records])
                       for p in first.gradients},
        )


class LayerGradients:
    """Gradients of class scores with respect to every watched layer, batched over targets.

    One call runs the model once on a batch holding one copy of the image per target and one
    backward pass for all of them (Selvaraju et al., 2017, arXiv:1610.02391, compute one target
    at a time; batching targets makes switching among the top-k classes free afterwards).
    The gradient function is traced once, lazily; results are cached by image and targets.

    Parameters
    ----------
    probe : ActivationProbe
        Supplies the model, its preprocessing, its layers and image preparation.
    layers : sequence of LayerInfo, optional
        Layers to differentiate; by default every conv layer.
    """

    def __init__(self, probe: Any, layers: Sequence[LayerInfo] | None = None,
                 cache_bytes: int = 512 * 2**20) -> None:
        self.probe = probe
        self.layers = list(layers) if layers is not None else [
            info for info in probe.spatial_layers if info.kind == "conv"]
        if not self.layers:
            raise ValueError("the model has no conv layer to explain; pass layers= explicitly.")
        self.head = output_head(probe.layers, probe.model)
        self._functions: dict[str, Any] = {}
        self._cache: ByteLRU[GradientRecord] = ByteLRU(cache_bytes)
        self._rows: dict[tuple[str, Target], tuple] = {}  # (image, target) -> its batch's key
        self.backward_passes = 0

    def compute(self, image: ImageSource | ImageInput, targets: Sequence[Target]
                ) -> GradientRecord:
        """Activations and per-target gradients for ``image``.

        Targets already computed for this image, alone or within a batch (see
        :meth:`compute_top_k`), are served from the cache; the others run in one batched pass.
        """
        prepared = self.probe.prepare(image)
        targets = tuple(self._resolved(t) for t in targets)
        if not targets:
            raise ValueError("give at least one target to explain.")
        if len({t.on for t in targets}) > 1:
            raise ValueError("explain classes on logits, on probabilities, and channels of each "
                             "layer in separate calls.")
        found = [self._lookup(prepared.key, t) for t in targets]
        if all(record is not None for record in found):
            if len(found) == 1:
                return found[0]
            return GradientRecord.stack(found)
        return self._run_and_cache(prepared, targets)

    def compute_top_k(self, image: ImageSource | ImageInput, k: int = 5, on: str = "logit"
                      ) -> list[ClassTarget]:
        """Gradients for the ``k`` most probable classes in one batched pass.

        Afterwards, explaining any of these classes costs no further pass.
        """
        prepared = self.probe.prepare(image)
        probabilities = np.asarray(self.probe.predict(prepared)).ravel()
        order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, probabilities.size))]
        targets = [ClassTarget(int(i), on) for i in order]
        missing = tuple(t for t in targets if self._lookup(prepared.key, t) is None)
        if missing:
            self._run_and_cache(prepared, missing)
        return targets

    def _resolved(self, target: Target) -> Target:
        """A channel target addressed by the layer's full path, its index checked."""
        if not isinstance(target, ChannelTarget):
            return target
        info = self.probe.layer(target.layer)
        if not info.is_spatial:
            raise ValueError(f"layer {info.path!r} has no channels of feature maps to explain; "
                             "choose a conv or pool layer.")
        if not 0 <= target.index < (info.channels or 0):
            raise ValueError(f"channel {target.index} is out of range: {info.path!r} has "
                             f"{info.channels} channels (0 to {(info.channels or 1) - 1}).")
        return ChannelTarget(info.path, int(target.index))

    def _lookup(self, image_key: str, target: Target) -> GradientRecord | None:
        batch_key = self._rows.get((image_key, target))
        record = self._cache.get(batch_key) if batch_key is not None else None
        return record.select(record.targets.index(target)) if record is not None else None

    def _run_and_cache(self, image: ImageInput, targets: tuple[Target, ...]) -> GradientRecord:
        record = self._run(image, targets, targets[0].on)
        batch_key = (image.key, targets)
        self._cache.put(batch_key, record, record.nbytes)
        for target in targets:
            self._rows[(image.key, target)] = batch_key
        return record

    def _function(self, on: str) -> Any:
        if on not in self._functions:
            self._functions[on] = self._build(on)
        return self._functions[on]

    def _build(self, on: str) -> Any:
        """The traced ``(batch, weights) -> scores, output, activations, gradients`` for targets
        of one kind: class logits, class probabilities, or channels of layer ``channel:<path>``.
        """
        model, layers, head = self.probe.model, self.layers, self.head
        spec = self.probe.input_spec
        squash = {"softmax": keras.activations.softmax, "sigmoid": keras.activations.sigmoid,
                  None: lambda x: x}[head.squashing]
        channel_of = self.probe.layer(on.removeprefix("channel:")) if on.startswith(
            "channel:") else None
        captured_layers = [*layers, *([channel_of] if channel_of not in (None, *layers) else [])]
        # Class scores are taken on the logits: the output layer's squashing is skipped while
        # tracing (and applied here), without editing the user's model.
        skip_squashing = head.squashing is not None and channel_of is None

        def scores_and_gradients(batch: tf.Tensor, weights: tf.Tensor) -> tuple:
            with tf.GradientTape() as tape:
                logits_only = linear_activation(head.layer) if skip_squashing else nullcontext()
                with capture_outputs(captured_layers) as captured, logits_only:
                    outputs = model(batch, training=False)
                watched = [captured[info.path] for info in layers]
                if channel_of is not None:
                    probabilities = outputs
                    scored = tf.reduce_mean(captured[channel_of.path], axis=(1, 2))
                else:
                    probabilities = squash(outputs)
                    scored = probabilities if on == "probability" else outputs
                scores = tf.reduce_sum(scored * weights, axis=-1)
            # Conv layers after a scored channel's layer do not affect it: zero maps.
            gradients = tape.gradient(scores, watched,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return scores, probabilities[0], watched, gradients

        width = channel_of.channels if channel_of is not None else head.units
        signature = [tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32),
                     tf.TensorSpec((None, width), tf.float32)]
        return tf.function(scores_and_gradients, input_signature=signature)

    def _run(self, image: ImageInput, targets: tuple[Target, ...], on: str) -> GradientRecord:
        if isinstance(targets[0], ChannelTarget):
            weights = np.zeros((len(targets), self.probe.layer(targets[0].layer).channels or 0),
                               np.float32)
            weights[np.arange(len(targets)), [t.index for t in targets]] = 1.0
        else:
            weights = target_weights(targets, self.head)
        batch = np.repeat(self.probe.model_input(image), len(targets), axis=0)
        scores, probabilities, watched, gradients = self._function(on)(batch, weights)
        self.backward_passes += 1
        paths = [info.path for info in self.layers]
        return GradientRecord(
            image=image,
            targets=targets,
            scores=np.asarray(scores),
            probabilities=np.asarray(probabilities),
            activations={p: np.asarray(a)[0] for p, a in zip(paths, watched, strict=True)},
            gradients={p: np.asarray(g) for p, g in zip(paths, gradients, strict=True)},
        )
