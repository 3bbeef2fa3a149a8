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
