"""Equivariant class maps: a fine-tuning loss that keeps a CAM on the object it explains.

Rotating, flipping or shifting an image should rotate, flip or shift its class activation
map the same way. A CNN trained for classification alone does not learn this: the bundled
shapes model, trained with cross-entropy only, put its evidence for a light shape on the
shape's top edge and for a dark shape on its bottom edge (a median 6–8 px from the centre;
the peak's vertical offset correlates at −0.84 with the shape's contrast polarity), so
Grad-CAM's peak fell just outside thin shapes. Global average pooling makes the class score
blind to where the evidence sits; nothing in the data told the model otherwise.

Following Wang et al., 2020, "Self-supervised Equivariant Attention Mechanism for Weakly
Supervised Semantic Segmentation" (SEAM, CVPR 2020, arXiv:2004.04581), :func:`fine_tune` adds
an equivariance loss on the class maps: each batch is shown once as it is and once under a
random element of the dihedral group D4 (the eight rotations and reflections of the square,
exact on the pixel grid) followed by a random shift of up to two cells, and the maps of the
transformed images must equal the transformed maps of the originals. Maps are standardised
(zero mean, unit variance over the compared cells) before they are compared: normalising by the
maximum, as Grad-CAM shows them, lets a model satisfy the loss with flat maps, which point
nowhere. No object masks are used: the loss knows only the image-level labels.

The class map of class ``c`` for a model ending in global average pooling and a dense layer
is ``Σ_k W[k, c] A_k`` over the last conv layer's channels ``A_k``: the map Grad-CAM computes
on the logit (Zhou et al., 2016, "Learning Deep Features for Discriminative Localization").

Examples
--------
>>> import numpy as np
>>> x = np.arange(4.0).reshape(1, 2, 2, 1)
>>> d4_transform(x, 1)[0, :, :, 0].numpy().tolist()  # flip up-down
[[2.0, 3.0], [0.0, 1.0]]
>>> [len({d4_transform(x, k).numpy().tobytes() for k in range(8)})]
[8]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["D4_SIZE", "MAX_SHIFT", "EquivarianceSettings", "class_maps", "d4_transform",
           "equivariance_loss", "fine_tune", "shift_cells"]

D4_SIZE = 8
"""Elements of the dihedral group of the square: ``k`` in ``range(8)``, ``0`` the identity."""

MAX_SHIFT = 2
"""Largest shift, in cells of the class map, applied after the D4 element."""


@dataclass(frozen=True)
class EquivarianceSettings:
    """How :func:`fine_tune` trains.

    Attributes
    ----------
    weight : float
        Weight of the equivariance loss next to the classification loss.
    learning_rate : float
        Adam's starting rate, decayed along a cosine to 2 % of it.
    batch_size : int
        Images per step (each is also shown transformed, so a step sees twice as many).
    """

    weight: float = 1.0
    learning_rate: float = 3e-4
    batch_size: int = 64


def d4_transform(x, k):
    """Apply the ``k``-th element of D4 to a batch ``(n, h, w, c)`` of square images or maps.

    ``k`` is 0 (identity), 1 (flip up-down), 2 (flip left-right), 3 (rotation by 180°), and
    4–7 the same four followed by a transpose of height and width. ``k`` may be a tensor.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(1, 2, 2, 1)
    >>> d4_transform(x, 4)[0, :, :, 0].numpy().tolist()  # transpose
    [[0.0, 2.0], [1.0, 3.0]]
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x)

    def transposed(y):
        return tf.transpose(y, [0, 2, 1, 3])

    branches = [
        lambda: x,
        lambda: x[:, ::-1],
        lambda: x[:, :, ::-1],
        lambda: x[:, ::-1, ::-1],
        lambda: transposed(x),
        lambda: transposed(x[:, ::-1]),
        lambda: transposed(x[:, :, ::-1]),
        lambda: transposed(x[:, ::-1, ::-1]),
    ]
    return tf.switch_case(tf.convert_to_tensor(k, tf.int32), branches)


def shift_cells(x, dy, dx, cell: int = 1):
    """Move a batch ``(n, h, w, c)`` by ``(dy, dx)`` cells of ``cell`` pixels (down, right).

    At most :data:`MAX_SHIFT` cells each way; the uncovered border is filled by mirroring
    (``tf.pad(mode="SYMMETRIC")``), so an image shifted by whole cells of the class map moves
    its map by whole cells.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> shift_cells(x, 1, 0)[0, :, 0, 0].numpy().tolist()  # down one row, row 0 mirrored
    [0.0, 0.0, 4.0, 8.0]
    """
    import tensorflow as tf

    pad = MAX_SHIFT * cell
    x = tf.convert_to_tensor(x)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
    top = pad - tf.convert_to_tensor(dy, tf.int32) * cell
    left = pad - tf.convert_to_tensor(dx, tf.int32) * cell
    return padded[:, top:top + tf.shape(x)[1], left:left + tf.shape(x)[2]]


def class_maps(features, kernel):
    """Class maps ``(n, h, w, classes)`` of the last conv layer's ``features`` ``(n, h, w, k)``
    under the dense layer's ``kernel`` ``(k, classes)``: ``Σ_k kernel[k, c] · features_k``."""
    import tensorflow as tf

    return tf.einsum("bhwk,kc->bhwc", features, kernel)


def equivariance_loss(maps, maps_of_transformed, k, dy, dx, weights):
    """How far ``maps_of_transformed`` is from ``maps`` moved by D4 element ``k`` and the shift.

    Both are standardised over the cells compared (those at least :data:`MAX_SHIFT` cells away
    from the border before the shift, so no mirrored cell counts), then the mean absolute
    difference is taken, each class weighted by ``weights`` ``(n, classes)`` (the image-level
    targets: only classes present in an image count).

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    >>> moved = shift_cells(d4_transform(maps, 5), 1, -2)
    >>> weights = np.ones((2, 3), "float32")
    >>> float(equivariance_loss(maps, moved, 5, 1, -2, weights)) < 1e-6
    True
    >>> float(equivariance_loss(maps, maps, 5, 1, -2, weights)) > 0.5
    True
    """
    import tensorflow as tf

    maps = tf.convert_to_tensor(maps)
    maps_of_transformed = tf.convert_to_tensor(maps_of_transformed)
    height, width = maps.shape[1], maps.shape[2]
    inner = tf.ones((1, height - 2 * MAX_SHIFT, width - 2 * MAX_SHIFT, 1), maps.dtype)
    margin = [[0, 0], [MAX_SHIFT, MAX_SHIFT], [MAX_SHIFT, MAX_SHIFT], [0, 0]]
    valid = shift_cells(tf.pad(inner, margin), dy, dx)
    count = tf.reduce_sum(valid)
    expected = shift_cells(d4_transform(maps, k), dy, dx)

    def standardised(v):
        mean = tf.reduce_sum(v * valid, axis=(1, 2), keepdims=True) / count
        variance = tf.reduce_sum(tf.square(v - mean) * valid, axis=(1, 2), keepdims=True) / count
        return (v - mean) / tf.sqrt(variance + 1e-6)

    weights = tf.convert_to_tensor(weights, maps.dtype)
    difference = tf.abs(standardised(maps_of_transformed) - standardised(expected))
    weighted = difference * valid * weights[:, None, None, :]
    return tf.reduce_sum(weighted) / (tf.reduce_sum(weights) * count + 1e-6)


def fine_tune(model, layer: str, epoch_data: Callable[[int], tuple[np.ndarray, ...]],
              epochs: int, settings: EquivarianceSettings = EquivarianceSettings(),
              seed: int = 0, log: Callable[[str], None] | None = None) -> dict[str, float]:
    """Train ``model`` in place on its loss plus the equivariance loss of ``layer``'s class maps.

    Parameters
    ----------
    model : keras.Model
        A compiled model (its ``loss`` is the classification loss) ending in global average
        pooling and a dense layer, whose kernel gives the class maps.
    layer : str
        Name of the last conv layer.
    epoch_data : callable
        ``epoch_data(epoch)`` returns ``(images, targets, sample_weights)`` for one epoch (the
        same number of images every epoch); ``targets`` ``(n, classes)`` also weight the
        classes in the equivariance loss.
    epochs : int
        Number of epochs.
    settings : EquivarianceSettings
        Weight, learning rate and batch size.
    seed : int
        Seed of the shuffling and of the random transforms.
    log : callable, optional
        Called with one line per epoch.

    Returns
    -------
    dict
        ``loss`` (classification) and ``equivariance`` of the last epoch, averaged over steps.

    Examples
    --------
    One epoch on a model ending in a conv layer ``"conv"``, global average pooling and a dense
    layer (``tests/zoo`` checks that the equivariance loss falls)::

        fine_tune(model, "conv", lambda epoch: (images, targets, weights), epochs=1)
    """
    import keras
    import tensorflow as tf

    dense = model.layers[-1]
    features = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    classification = keras.losses.get(model.loss)
    rng = np.random.default_rng(seed)
    first = epoch_data(0)
    batch = min(settings.batch_size, len(first[0]))
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        settings.learning_rate, decay_steps=epochs * (len(first[0]) // batch), alpha=0.02))
    optimizer.build(features.trainable_variables)
    # Pixels per map cell: shifting an image by whole cells shifts its map by whole cells.
    cell = first[0].shape[1] // int(features.outputs[0].shape[1])

    @tf.function(reduce_retracing=True)
    def step(images, targets, sample_weights, k, dy, dx):
        n = tf.shape(images)[0]
        both = tf.concat([images, shift_cells(d4_transform(images, k), dy, dx, cell=cell)], 0)
        with tf.GradientTape() as tape:
            activations, outputs = features(both, training=True)
            per_image = classification(tf.concat([targets, targets], 0), outputs)
            weights = tf.concat([sample_weights, sample_weights], 0)
            loss = tf.reduce_sum(per_image * weights) / tf.reduce_sum(weights)
            maps = class_maps(activations, dense.kernel)
            equivariance = equivariance_loss(maps[:n], maps[n:], k, dy, dx, targets)
            total = loss + settings.weight * equivariance
        gradients = tape.gradient(total, features.trainable_variables)
        optimizer.apply_gradients(zip(gradients, features.trainable_variables, strict=True))
        return loss, equivariance

    history = {"loss": float("nan"), "equivariance": float("nan")}
    for epoch in range(epochs):
        images, targets, sample_weights = first if epoch == 0 else epoch_data(epoch)
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(images) - batch + 1, batch):
            picked = order[start:start + batch]
            k = int(rng.integers(1, D4_SIZE))
            dy, dx = (int(v) for v in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=2))
            result = step(tf.constant(images[picked], tf.float32),
                          tf.constant(targets[picked], tf.float32),
                          tf.constant(sample_weights[picked], tf.float32),
                          tf.constant(k), tf.constant(dy), tf.constant(dx))
            losses.append([float(v) for v in result])
        history = dict(zip(("loss", "equivariance"), np.mean(losses, axis=0).tolist(),
                           strict=True))
        if log is not None:
            log(f"equivariance epoch {epoch + 1}/{epochs}: loss {history['loss']:.4f}, "
                f"equivariance {history['equivariance']:.4f}")
    return history
