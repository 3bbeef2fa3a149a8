"""Every conv layer's activations and the gradients of target scores, in one batched pass.

:class:`LayerGradients` computes, for a batch of targets at once (see :mod:`.targets`), every
watched layer's activations and the gradient of each target's score with respect to them — the
inputs of the CAM methods in :mod:`convviz_widgets.engine.cam`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import keras
import numpy as np
import tensorflow as tf

from .cache import ByteLRU
from .heads import OutputHead
from .images import ImageInput, ImageSource
from .layer_edits import Edit, capture_outputs, editing, logits_edit
from .layers import LayerInfo, check_channel
from .protocol import ModelProbe
from .targets import (
    BinaryTarget,
    ChannelTarget,
    ClassTarget,
    Target,
    resolve_target,
    target_weights,
)

__all__ = [
    "BinaryTarget", "ChannelTarget", "ClassTarget", "GradientRecord", "LayerGradients",
    "OutputHead", "Target", "model_outputs", "resolve_target", "squash", "target_weights",
]


def squash(head: OutputHead, logits: Any) -> Any:
    """The head's own squashing (softmax, sigmoid or none) applied to logits, in float32."""
    if head.squashing == "softmax":
        return keras.activations.softmax(logits)
    if head.squashing == "sigmoid":
        return keras.activations.sigmoid(logits)
    return logits


def model_outputs(model: Any, batch: Any, head: OutputHead) -> Any:
    """Call ``model`` on ``batch`` and return ``head``'s output as float32 (mixed precision
    heads compute in float16)."""
    outputs = model(batch, training=False)
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[head.index]
    elif isinstance(outputs, dict):
        outputs = list(outputs.values())[head.index]
    return tf.cast(outputs, tf.float32)


@dataclass(frozen=True)
class GradientRecord:
    """Activations of the watched layers and, per target, the gradients of its score.

    Every array is its own (no view of a larger buffer), so :attr:`nbytes` is what it holds.
    """

    image: ImageInput
    targets: tuple[Target, ...]
    scores: np.ndarray  # (targets,) the score each target explains
    probabilities: np.ndarray  # (units,) the head's output
    activations: dict[str, np.ndarray]  # path -> (H, W, C)
    gradients: dict[str, np.ndarray]  # path -> (targets, H, W, C)

    @property
    def nbytes(self) -> int:
        arrays = [self.scores, self.probabilities, *self.activations.values(),
                  *self.gradients.values()]
        return int(sum(a.nbytes for a in arrays))

    def select(self, row: int) -> GradientRecord:
        """The record of one target (views into this record, which the cache holds whole)."""
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
    """Gradients of target scores with respect to every watched layer, batched over targets.

    One call runs the model once on a batch holding one copy of the image per target and one
    backward pass for all of them (Selvaraju et al., 2017, arXiv:1610.02391, compute one target
    at a time; batching targets makes switching among the top-k classes free afterwards).
    The gradient function is traced once per kind of target, lazily; results are cached by the
    weights' version, the image and the targets, in a cache bounded by the bytes it holds.

    Parameters
    ----------
    probe : ModelProbe
        Supplies the model, its preprocessing, its layers and image preparation.
    output : int or str, optional
        The output to explain, for models with several (see :meth:`ModelProbe.head`).
    layers : sequence of LayerInfo, optional
        Layers to differentiate; by default every conv layer.
    cache_bytes : int
        Memory budget of the gradient cache (default 256 MiB).
    """

    def __init__(self, probe: ModelProbe, output: int | str | None = None,
                 layers: Sequence[LayerInfo] | None = None,
                 cache_bytes: int = 256 * 2**20) -> None:
        self.probe = probe
        self.layers = list(layers) if layers is not None else [
            info for info in probe.spatial_layers if info.kind == "conv"]
        if not self.layers:
            raise ValueError("the model has no conv layer to explain; pass layers= explicitly.")
        self.head = probe.head(output)
        self._functions: dict[str, Any] = {}
        self._rows: dict[tuple[int, str, Target], Hashable] = {}  # -> key of its batch
        self._cache: ByteLRU[GradientRecord] = ByteLRU(cache_bytes, on_evict=self._forget_rows)
        self.backward_passes = 0

    @property
    def cache(self) -> ByteLRU[GradientRecord]:
        """The gradient cache (``len``, ``nbytes``, ``hits``, ``misses``)."""
        return self._cache

    def resolve(self, image: ImageInput, target: Any) -> Target:
        """A checked target for ``image`` (None: the predicted class)."""
        prediction = None
        if target is None and not self.head.binary:
            prediction = self.probe.predict(image, self.head.index)
        return resolve_target(target, self.head, prediction)

    def compute(self, image: ImageSource | ImageInput, targets: Sequence[Any]) -> GradientRecord:
        """Activations and per-target gradients for ``image``.

        Targets already computed for this image and these weights, alone or within a batch
        (see :meth:`compute_top_k`), are served from the cache; the others run in one batched
        pass.
        """
        prepared = self.probe.prepare(image)
        resolved = tuple(self._channel_checked(self.resolve(prepared, t)) for t in targets)
        if not resolved:
            raise ValueError("give at least one target to explain.")
        if len({t.on for t in resolved}) > 1:
            raise ValueError("explain classes on logits, on probabilities, and channels of each "
                             "layer in separate calls.")
        version = self._current_version()
        found = [self._lookup(version, prepared.key, t) for t in resolved]
        if all(record is not None for record in found):
            records = [r for r in found if r is not None]
            return records[0] if len(records) == 1 else GradientRecord.stack(records)
        return self._run_and_cache(version, prepared, resolved)

    def compute_top_k(self, image: ImageSource | ImageInput, k: int = 5, on: str = "logit"
                      ) -> list[ClassTarget]:
        """Gradients for the ``k`` most probable classes in one batched pass.

        Afterwards, explaining any of these classes costs no further pass.
        """
        if self.head.binary:
            raise ValueError("a single sigmoid unit has no top classes; explain 'positive' or "
                             "'negative'.")
        prepared = self.probe.prepare(image)
        probabilities = np.asarray(self.probe.predict(prepared, self.head.index)).ravel()
        order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, probabilities.size))]
        targets = [ClassTarget(int(i), on) for i in order]
        version = self._current_version()
        missing = tuple(t for t in targets if self._lookup(version, prepared.key, t) is None)
        if missing:
            self._run_and_cache(version, prepared, missing)
        return targets

    def _current_version(self) -> int:
        return self.probe.weights.check()

    def _channel_checked(self, target: Target) -> Target:
        """A channel target addressed by the layer's full path, its index checked."""
        if not isinstance(target, ChannelTarget):
            return target
        info = self.probe.layer(target.layer)
        if not info.is_spatial:
            raise ValueError(f"layer {info.path!r} has no channels of feature maps to explain; "
                             "choose a conv or pool layer.")
        return ChannelTarget(info.path, check_channel(target.index, info.path,
                                                      int(info.channels or 0)))

    def _lookup(self, version: int, image_key: str, target: Target) -> GradientRecord | None:
        batch_key = self._rows.get((version, image_key, target))
        record = self._cache.get(batch_key) if batch_key is not None else None
        return record.select(record.targets.index(target)) if record is not None else None

    def _forget_rows(self, batch_key: Hashable) -> None:
        version, image_key, targets = cast(tuple[int, str, tuple[Target, ...]], batch_key)
        for target in targets:
            if self._rows.get((version, image_key, target)) == batch_key:
                del self._rows[(version, image_key, target)]

    def _run_and_cache(self, version: int, image: ImageInput, targets: tuple[Target, ...]
                       ) -> GradientRecord:
        record = self._run(image, targets, targets[0].on)
        batch_key = (version, image.key, targets)
        for target in targets:
            self._rows[(version, image.key, target)] = batch_key
        self._cache.put(batch_key, record, record.nbytes)
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
        channel_of = self.probe.layer(on.removeprefix("channel:")) if on.startswith(
            "channel:") else None
        captured_layers = list(layers)
        if channel_of is not None and channel_of not in layers:
            captured_layers.append(channel_of)
        # Class scores are taken on the logits: the output layer's squashing is skipped while
        # tracing, in the tracing thread only (and applied here where probabilities are asked).
        edits: list[Edit] = []
        if head.squashing is not None and channel_of is None:
            edits.append(logits_edit(head.layer))

        def scores_and_gradients(batch: tf.Tensor, weights: tf.Tensor) -> tuple:
            with tf.GradientTape() as tape:
                with capture_outputs(captured_layers) as captured, editing(edits):
                    outputs = model_outputs(model, batch, head)
                watched = [captured[info.path] for info in layers]
                if channel_of is not None:
                    probabilities = outputs
                    scored = tf.reduce_mean(tf.cast(captured[channel_of.path], tf.float32),
                                            axis=(1, 2))
                else:
                    probabilities = squash(head, outputs)
                    scored = probabilities if on == "probability" else outputs
                scores = tf.reduce_sum(scored * weights, axis=-1)
            # Conv layers after a scored channel's layer do not affect it: zero maps.
            gradients = tape.gradient(scores, watched,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            # Every row holds the same image: one row of activations is all that is needed.
            return (scores, probabilities[0], [tf.cast(a[0], tf.float32) for a in watched],
                    [tf.cast(g, tf.float32) for g in gradients])

        width = channel_of.channels if channel_of is not None else head.units
        signature = [tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32),
                     tf.TensorSpec((None, width), tf.float32)]
        return tf.function(scores_and_gradients, input_signature=signature)

    def _run(self, image: ImageInput, targets: tuple[Target, ...], on: str) -> GradientRecord:
        first = targets[0]
        if isinstance(first, ChannelTarget):
            channels = self.probe.layer(first.layer).channels or 0
            weights = np.zeros((len(targets), channels), np.float32)
            indices = [t.index for t in targets if isinstance(t, ChannelTarget)]
            weights[np.arange(len(targets)), indices] = 1.0
        else:
            weights = target_weights(targets, self.head)
        batch = np.repeat(self.probe.model_input(image), len(targets), axis=0)
        scores, probabilities, watched, gradients = self._function(on)(batch, weights)
        self.backward_passes += 1
        paths = [info.path for info in self.layers]
        return GradientRecord(
            image=image,
            targets=targets,
            scores=np.array(scores),
            probabilities=np.array(probabilities),
            activations={p: np.array(a) for p, a in zip(paths, watched, strict=True)},
            gradients={p: np.array(g) for p, g in zip(paths, gradients, strict=True)},
        )
