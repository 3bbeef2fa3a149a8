"""Tiny fixed-weight models whose activations can be computed by hand (shared by the tests)."""

from __future__ import annotations

import numpy as np


def ones_conv_model():
    """(4, 4, 1) input → 2×2 all-ones conv (bias 0) → 2×2 max pool → flatten → dense(2).

    ``conv[i, j] = x[i, j] + x[i, j+1] + x[i+1, j] + x[i+1, j+1]`` (valid padding, 3×3 output).
    """
    import keras

    inputs = keras.Input((4, 4, 1), name="image")
    conv = keras.layers.Conv2D(1, 2, name="conv", kernel_initializer="ones",
                               bias_initializer="zeros")(inputs)
    pool = keras.layers.MaxPooling2D(2, name="pool")(conv)
    flat = keras.layers.Flatten(name="flatten")(pool)
    dense = keras.layers.Dense(2, name="dense", kernel_initializer="ones",
                               bias_initializer=keras.initializers.Constant([0.0, 1.0]))(flat)
    return keras.Model(inputs, dense, name="ones")


def nested_model():
    """A functional "inner" block (1×1 conv picking channels, then ReLU) inside a Sequential.

    ``inner/mix`` has kernel [[1, 0], [0, 1], [1, -1]] and bias [0, -1]:
    channel 0 = r + b, channel 1 = g - b - 1, then ``inner/relu`` rectifies.
    """
    import keras

    inner_in = keras.Input((3, 3, 3))
    mix = keras.layers.Conv2D(2, 1, name="mix")(inner_in)
    relu = keras.layers.ReLU(name="relu")(mix)
    inner = keras.Model(inner_in, relu, name="inner")
    inner.get_layer("mix").set_weights(
        [np.array([[1, 0], [0, 1], [1, -1]], np.float32).reshape(1, 1, 3, 2),
         np.array([0, -1], np.float32)]
    )
    model = keras.Sequential(
        [keras.Input((3, 3, 3)), inner, keras.layers.GlobalAveragePooling2D(name="gap"),
         keras.layers.Dense(1, name="score", kernel_initializer="ones")],
        name="outer",
    )
    return model


CAM_DENSE = np.array([[1.0, -1.0], [2.0, 0.5]], np.float32)  # (channels, classes)


def cam_model(activation: str = "softmax", channels: int = 2):
    """(2, 2, channels) input → 1×1 conv "conv" keeping the first two channels → global average
    → dense(2) with CAM_DENSE.

    logit_k = sum_c CAM_DENSE[c, k] * mean_ij x_c, so d logit_k / d conv_c[i, j] =
    CAM_DENSE[c, k] / 4 everywhere: Grad-CAM for class k is ReLU(sum_c CAM_DENSE[c, k] / 4 x_c).
    """
    import keras

    inputs = keras.Input((2, 2, channels), name="image")
    conv = keras.layers.Conv2D(2, 1, name="conv", use_bias=False,
                               kernel_initializer=keras.initializers.Constant(
                                   np.eye(channels, 2, dtype=np.float32)[None, None]))(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(conv)
    outputs = keras.layers.Dense(2, name="predictions", activation=activation, use_bias=False,
                                 kernel_initializer=keras.initializers.Constant(CAM_DENSE))(pooled)
    return keras.Model(inputs, outputs, name="cam_model")


LINEAR_KERNEL = (np.arange(24, dtype=np.float32) % 7 - 3).reshape(12, 2)  # (2·2·3 pixels, classes)


def linear_model(activation: str | None = None, units: int = 2):
    """(2, 2, 3) input → flatten → dense(units) with LINEAR_KERNEL[:, :units], bias 0.

    ``logit_k = sum(x.ravel() * LINEAR_KERNEL[:, k])``: its input gradient is the kernel column
    reshaped to (2, 2, 3), whatever the input.
    """
    import keras

    inputs = keras.Input((2, 2, 3), name="image")
    flat = keras.layers.Flatten(name="flatten")(inputs)
    outputs = keras.layers.Dense(units, name="predictions", activation=activation,
                                 kernel_initializer=keras.initializers.Constant(
                                     LINEAR_KERNEL[:, :units]))(flat)
    return keras.Model(inputs, outputs, name="linear")


MLP_HIDDEN = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], np.float32)  # (pixels, hidden units)
MLP_BIAS = np.array([0.0, 0.0, -10.0], np.float32)
MLP_OUT = np.array([[1.0], [-2.0], [3.0]], np.float32)  # (hidden units, 1)


def relu_mlp(style: str = "dense"):
    """(1, 2, 1) input [x0, x1] → flatten → dense(3) MLP_HIDDEN + MLP_BIAS → ReLU → dense(1).

    ``y = MLP_OUT · relu(MLP_HIDDEN^T x + MLP_BIAS)``. The ReLU is placed by ``style``: inside
    the hidden Dense (``"dense"``), a ``ReLU`` layer (``"layer"``), an ``Activation("relu")``
    layer (``"activation"``), or a ``ReLU`` layer inside a nested functional model ``"inner"``
    (``"nested"``).
    """
    import keras

    def hidden(activation: str | None = None):
        return keras.layers.Dense(3, name="hidden", activation=activation,
                                  kernel_initializer=keras.initializers.Constant(MLP_HIDDEN),
                                  bias_initializer=keras.initializers.Constant(MLP_BIAS))

    score = keras.layers.Dense(1, name="score", use_bias=False,
                               kernel_initializer=keras.initializers.Constant(MLP_OUT))
    inputs = keras.Input((1, 2, 1), name="image")
    flat = keras.layers.Flatten(name="flatten")(inputs)
    if style == "dense":
        rectified = hidden("relu")(flat)
    elif style == "layer":
        rectified = keras.layers.ReLU(name="relu")(hidden()(flat))
    elif style == "activation":
        rectified = keras.layers.Activation("relu", name="relu")(hidden()(flat))
    elif style == "nested":
        inner_in = keras.Input((2,))
        inner = keras.Model(inner_in, keras.layers.ReLU(name="relu")(hidden()(inner_in)),
                            name="inner")
        return keras.Sequential([keras.Input((1, 2, 1)), keras.layers.Flatten(name="flatten"),
                                 inner, score], name="mlp")
    else:
        raise ValueError(style)
    return keras.Model(inputs, score(rectified), name="mlp")


def deconv_model():
    """(4, 4, 1) input → conv1 (1×1, 2 filters, linear) → 2×2 max pool → ReLU → conv2 (1×1,
    3 filters, relu) → global average → dense(2).

    ``conv1``: channel 0 = x − 4, channel 1 = 6 − x. ``conv2`` (no bias), on the rectified
    pooled channels r0, r1: filter 0 = relu(r0 − r1), filter 1 = relu(r1 − r0),
    filter 2 = relu(r0 + r1).
    """
    import keras

    inputs = keras.Input((4, 4, 1), name="image")
    conv1 = keras.layers.Conv2D(
        2, 1, name="conv1",
        kernel_initializer=keras.initializers.Constant(np.array([[[[1.0, -1.0]]]], np.float32)),
        bias_initializer=keras.initializers.Constant(np.array([-4.0, 6.0], np.float32)))(inputs)
    pooled = keras.layers.MaxPooling2D(2, name="pool")(conv1)
    rectified = keras.layers.ReLU(name="relu")(pooled)
    kernel = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]], np.float32)[None, None]
    conv2 = keras.layers.Conv2D(3, 1, name="conv2", activation="relu", use_bias=False,
                                kernel_initializer=keras.initializers.Constant(kernel))(rectified)
    pooled2 = keras.layers.GlobalAveragePooling2D(name="gap")(conv2)
    outputs = keras.layers.Dense(2, name="predictions", kernel_initializer="ones")(pooled2)
    return keras.Model(inputs, outputs, name="deconv")


RGB_KERNEL = (np.arange(24, dtype=np.float32) - 8).reshape(2, 2, 3, 2)  # (kh, kw, in, out)
DEEP_KERNEL = np.stack([
    np.array([[[3, 4], [0, 0]], [[1, 0], [0, -2]]], np.float32),  # filter 0 (kh, kw, in)
    np.array([[[6, 8], [0, 1]], [[0, 0], [-3, 4]]], np.float32),  # filter 1
], axis=-1)


def kernel_model():
    """(4, 4, 3) input → "rgb_conv" (2×2, 3 → 2, RGB_KERNEL) → "deep_conv" (2×2, 2 → 2,
    DEEP_KERNEL) → flatten → "dense"(1); biases 0.

    RGB_KERNEL runs from -8 to 15; DEEP_KERNEL's L2 norms over inputs are [[5, 0], [1, 2]]
    (filter 0) and [[10, 1], [0, 5]] (filter 1).
    """
    import keras

    inputs = keras.Input((4, 4, 3), name="image")
    rgb = keras.layers.Conv2D(2, 2, name="rgb_conv",
                              kernel_initializer=keras.initializers.Constant(RGB_KERNEL))(inputs)
    deep = keras.layers.Conv2D(2, 2, name="deep_conv",
                               kernel_initializer=keras.initializers.Constant(DEEP_KERNEL))(rgb)
    flat = keras.layers.Flatten(name="flatten")(deep)
    return keras.Model(inputs, keras.layers.Dense(1, name="dense")(flat), name="kernels")


def tripwire_layer(name: str = "tripwire"):
    """A layer that raises if it is ever run on real tensors, counting attempts in ``calls``.

    Its output spec is given without calling it, so models can still be built around it.
    """
    import keras

    class Tripwire(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0

        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

        def call(self, x):
            self.calls += 1
            raise AssertionError(f"layer {self.name!r} after the target was called")

    return Tripwire(name=name)


def featvis_conv(name: str = "conv"):
    """3×3 "same" conv, ReLU, 3 → 3 filters, fixed weights.

    Filter 0 = 3×3 box mean of red; filter 1 = green's right neighbour minus left neighbour
    (summed over the 3 rows); filter 2 has zero weights and bias -1: dead (always 0 after ReLU).
    """
    import keras

    kernel = np.zeros((3, 3, 3, 3), np.float32)
    kernel[:, :, 0, 0] = 1.0 / 9.0
    kernel[:, 0, 1, 1], kernel[:, 2, 1, 1] = -1.0, 1.0
    bias = np.array([0.0, 0.0, -1.0], np.float32)
    return keras.layers.Conv2D(3, 3, padding="same", activation="relu", name=name,
                               kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(bias))


def featvis_model(tripwire: bool = False):
    """(8, 8, 3) → featvis_conv "conv" → [tripwire] → "head" (1×1, 2 filters) → "gap" →
    "score" dense(1)."""
    import keras

    inputs = keras.Input((8, 8, 3), name="image")
    x = featvis_conv()(inputs)
    if tripwire:
        x = tripwire_layer()(x)
    x = keras.layers.Conv2D(2, 1, name="head", kernel_initializer="ones")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(1, name="score", kernel_initializer="ones")(x)
    return keras.Model(inputs, outputs, name="featvis")


def featvis_nested_model(tripwire: bool = True):
    """Sequential: functional "inner" (featvis_conv "conv" → [tripwire]) → "gap" → "score"."""
    import keras

    inner_in = keras.Input((8, 8, 3))
    x = featvis_conv()(inner_in)
    if tripwire:
        x = tripwire_layer()(x)
    inner = keras.Model(inner_in, x, name="inner")
    return keras.Sequential(
        [keras.Input((8, 8, 3)), inner, keras.layers.GlobalAveragePooling2D(name="gap"),
         keras.layers.Dense(1, name="score", kernel_initializer="ones")],
        name="outer",
    )


def small_classifier(name: str = "small"):
    """(8, 8, 3) → "conv" (3×3, 4 filters, relu, seeded) → "conv2" (3×3, 4, relu) → "gap" →
    "predictions" dense(2, softmax): trains in a fraction of a second per epoch."""
    import keras

    initializer = keras.initializers.GlorotUniform(seed=3)
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv",
                            kernel_initializer=initializer)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv2",
                            kernel_initializer=initializer)(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions",
                                 kernel_initializer=initializer)(x)
    return keras.Model(inputs, outputs, name=name)


def small_training_data(n: int = 64):
    """Images whose class is whether the red channel outweighs the green one."""
    rng = np.random.default_rng(5)
    images = rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32)
    labels = (images[..., 0].mean(axis=(1, 2)) > images[..., 1].mean(axis=(1, 2))).astype(int)
    return images, np.eye(2, dtype=np.float32)[labels]


# Quarter-integer weights found by a seeded search (numpy default_rng(2159)) for a model whose
# gradients vary over space, whose ReLUs are each on at some pixels and off at others, and on
# which the ten methods give ten different maps; written out so that they never depend on a
# random generator.
SPATIAL_CONV1 = np.moveaxis(np.array([  # filters, then (kh, kw, in); × 1/4
    [[[-2, -1, 2], [0, 4, -4]], [[0, -2, -3], [2, 2, 4]]],
    [[[-2, -3, 2], [2, 4, 0]], [[2, 1, 4], [-1, 2, -4]]],
    [[[1, -2, -2], [-4, -3, -2]], [[3, -2, 2], [0, 4, 0]]],
], np.float32) / 4, 0, -1)
SPATIAL_BIAS1 = np.array([-1.0, -2.0, 1.5], np.float32)
SPATIAL_CONV2 = np.moveaxis(np.array([  # filters, then (kh, kw, in); × 1/4
    [[[4, 1, -1], [-3, 2, 1]], [[4, 0, -4], [-4, 0, 2]]],
    [[[4, -3, 4], [2, -4, -1]], [[4, 2, -4], [-2, 3, -1]]],
], np.float32) / 4, 0, -1)
SPATIAL_BIAS2 = np.array([1.5, 1.0], np.float32)
SPATIAL_DENSE = np.array([  # (2·2·2 flattened conv2 values, 3 classes); × 1/8
    [-3, -2, 3], [2, -1, -4], [3, 0, 3], [-1, 4, 3],
    [4, 4, -3], [-3, -1, 3], [1, -2, 4], [4, -1, -3],
], np.float32) / 8
SPATIAL_IMAGE = np.array([  # (4, 4, 3) pixels on the 0–255 scale, kept small
    [[1, 2, 8], [3, 9, 6], [3, 9, 7], [5, 2, 6]],
    [[0, 4, 0], [3, 7, 3], [3, 2, 0], [3, 6, 1]],
    [[8, 7, 3], [5, 6, 0], [4, 3, 2], [0, 2, 6]],
    [[6, 3, 2], [2, 5, 8], [3, 0, 1], [3, 7, 0]],
], np.uint8)


def spatial_model():
    """(4, 4, 3) input → "conv1" (2×2 valid, 3 filters, ReLU) → "conv2" (2×2 valid, 2 filters,
    ReLU) → "flatten" → "predictions" (dense, 3 classes, softmax, no bias).

    A conv and a dense layer follow every explained layer, so the gradient of a class score
    differs from pixel to pixel: the spatial mean, the maximum and the elementwise product of
    the gradient give different maps, and only each method's own formula matches its
    reference (``tests/cam_references.py``, plain ``tf.GradientTape`` on the same weights).
    On SPATIAL_IMAGE: conv1's pre-activations are negative (ReLU off) at 14 of its 27 units,
    none within 0.25 of the kink; conv2's are [[20.1875, 0.1875], [14.6875, 2.5]] (filter 0)
    and [[1.6875, -6.875], [5.75, 5.9375]] (filter 1); the logits are exactly
    [1.390625, 0, 2.46875], the softmax [0.239, 0.059, 0.702], so the classes rank 2, 0, 1 —
    none at its own rank.
    """
    import keras

    inputs = keras.Input((4, 4, 3), name="image")
    conv1 = keras.layers.Conv2D(3, 2, name="conv1", activation="relu",
                                kernel_initializer=keras.initializers.Constant(SPATIAL_CONV1),
                                bias_initializer=keras.initializers.Constant(SPATIAL_BIAS1))
    conv2 = keras.layers.Conv2D(2, 2, name="conv2", activation="relu",
                                kernel_initializer=keras.initializers.Constant(SPATIAL_CONV2),
                                bias_initializer=keras.initializers.Constant(SPATIAL_BIAS2))
    flat = keras.layers.Flatten(name="flatten")(conv2(conv1(inputs)))
    outputs = keras.layers.Dense(3, name="predictions", activation="softmax", use_bias=False,
                                 kernel_initializer=keras.initializers.Constant(SPATIAL_DENSE))
    return keras.Model(inputs, outputs(flat), name="spatial")


def numbered_channels_model(channels: int = 8, size: tuple[int, int] = (2, 3)):
    """(height, width, 3) input → "numbers": a 1×1 conv with zero weights and bias ``c`` for
    channel ``c``, so channel ``c`` is the constant ``c`` whatever the image → "gap" → "score".

    With ``norm="layer"`` (the layer's range [0, channels − 1]) channel ``c`` is drawn in the
    colormap's colour at ``c / (channels − 1)``: every tile has its own colour, and the tile at
    each position tells which channel is drawn there.
    """
    import keras

    inputs = keras.Input((*size, 3), name="image")
    numbers = keras.layers.Conv2D(
        channels, 1, name="numbers", kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(np.arange(channels, dtype=np.float32)))
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(numbers(inputs))
    outputs = keras.layers.Dense(1, name="score", kernel_initializer="ones")(pooled)
    return keras.Model(inputs, outputs, name="numbered")
