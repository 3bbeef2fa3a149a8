"""Class probabilities of many modified inputs: the score Score-CAM and the causal curves use."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .gradients import model_outputs
from .heads import OutputHead
from .protocol import ModelProbe
from .targets import BinaryTarget, ClassTarget, Target


class Scorer:
    """Probabilities of one output for batches of model inputs, from a function traced once.

    The probability of a class is the model's own (softmax or sigmoid output) or, for a model
    that outputs logits, their softmax (sigmoid for one unit), as :meth:`OutputHead.probabilities`
    shows them. One compiled function serves every class and every batch size; a target picks
    its column (``1 - p`` for the negative side of a single unit).

    Parameters
    ----------
    probe : ModelProbe
    head : OutputHead
        The output whose probabilities are scored.

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> from convviz_widgets.engine.probe import ActivationProbe
    >>> probe = ActivationProbe(zoo.load_model("shapes"))
    >>> scorer = Scorer(probe, probe.head())
    >>> batch = probe.model_input(probe.prepare(zoo.load_image("star")))
    >>> float(scorer.scores(batch, ClassTarget(3))[0]) > 0.9
    True
    """

    def __init__(self, probe: ModelProbe, head: OutputHead) -> None:
        self.probe = probe
        self.head = head
        self.calls = 0
        model = probe.model
        spec = probe.input_spec

        def probabilities(batch: tf.Tensor) -> tf.Tensor:
            outputs = model_outputs(model, batch, head)
            if head.squashing is not None:
                return outputs
            if head.binary:
                return tf.sigmoid(outputs)
            return tf.nn.softmax(outputs, axis=-1)

        self._function = tf.function(probabilities, input_signature=[
            tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32)])

    @property
    def traces(self) -> int:
        """How many times the function was traced (1 once used)."""
        return int(self._function.experimental_get_tracing_count())

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """``(N, units)`` probabilities of model inputs ``(N, H, W, C)`` (preprocessed)."""
        self.calls += 1
        return np.asarray(self._function(tf.constant(np.asarray(batch, np.float32))))

    def scores(self, batch: np.ndarray, target: Target) -> np.ndarray:
        """``(N,)`` probability of ``target`` for each model input of ``batch``."""
        values = self.probabilities(batch)
        if isinstance(target, BinaryTarget):
            return values[:, 0] if target.positive else 1.0 - values[:, 0]
        if isinstance(target, ClassTarget):
            return values[:, target.index]
        raise ValueError(f"{target} has no class probability to score; give a class.")

    def on_pixels(self, target: Target) -> Any:
        """``raw pixels batch (N, H, W, C) on 0–255 -> (N,) probability``, through the probe's
        preprocessing (for deletion and insertion curves)."""
        preprocess = self.probe.preprocess

        def score(batch: np.ndarray) -> np.ndarray:
            inputs = np.array(batch, np.float32)
            if preprocess is not None:
                inputs = np.asarray(preprocess(inputs), np.float32)
            return self.scores(inputs, target)

        return score
