"""Receptive fields from the layer stack equal the pixels a gradient reaches, on tiny models
with strides, dilation, "same" and "valid" padding, pooling and zero padding; branching models
are refused with a sentence."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.receptive_field import ReceptiveField, receptive_field

SIZE = (61, 57)  # rows, columns: odd, so that "same" padding is uneven


def ones(shape, dtype=None):
    return keras.ops.ones(shape, dtype=dtype)


def chain_model() -> keras.Model:
    """Linear layers with all-one kernels: every pixel in a field gets a non-zero gradient."""
    inputs = keras.Input((SIZE[0], SIZE[1], 1))
    x = keras.layers.Conv2D(1, 3, strides=2, padding="same", kernel_initializer=ones,
                            name="c1")(inputs)
    x = keras.layers.AveragePooling2D(2, name="pool")(x)
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)), name="pad")(x)
    x = keras.layers.Conv2D(1, 3, dilation_rate=2, padding="same", kernel_initializer=ones,
                            name="c2")(x)
    x = keras.layers.Conv2D(1, (2, 3), padding="valid", kernel_initializer=ones, name="c3")(x)
    return keras.Model(inputs, x)


def gradient_box(model, layer: str, row: int, column: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input pixels whose gradient is non-zero."""
    sub = keras.Model(model.input, model.get_layer(layer).output)
    image = tf.ones((1, *model.input.shape[1:]))
    with tf.GradientTape() as tape:
        tape.watch(image)
        value = sub(image)[0, row, column, 0]
    rows, columns = np.nonzero(np.abs(tape.gradient(value, image).numpy()[0, :, :, 0]) > 0)
    return rows.min(), columns.min(), rows.max() + 1, columns.max() + 1


@pytest.mark.parametrize("layer", ["c1", "pool", "pad", "c2", "c3"])
def test_every_cell_sees_the_pixels_its_gradient_reaches(layer):
    """The gradient's support lies in the field; where the field lies inside the image and
    reaches no padding, the support spans the whole field (a dilated kernel leaves holes
    inside, not at the edges)."""
    model = chain_model()
    probe = ActivationProbe(model)
    info = probe.layer(layer)
    field = receptive_field(probe.layers, info, SIZE)
    height, width = info.output_shape[:2]
    whole = 0
    for row in range(height):
        for column in range(width):
            if layer == "pad" and not (row >= 1 and 2 <= column < width - 1):
                continue  # a zero-padding cell sees no pixel at all
            top, left, bottom, right = field.box(row, column, SIZE)
            g_top, g_left, g_bottom, g_right = gradient_box(model, layer, row, column)
            assert top <= g_top and left <= g_left and g_bottom <= bottom and g_right <= right
            inside = field.box(row, column, (10**6, 10**6))
            interior = inside == field.box(row, column, SIZE) and min(inside[:2]) > 0 and (
                (bottom - top, right - left) == field.size)
            whole += interior and (g_top, g_left, g_bottom, g_right) == (top, left, bottom, right)
    assert whole > 0 or layer == "pad", "no interior cell spans its whole field"


def test_the_recurrence_by_hand():
    probe = ActivationProbe(chain_model())
    c1 = receptive_field(probe.layers, probe.layer("c1"), SIZE)
    # 3×3 stride 2 "same" on 23 rows: 12 outputs, total padding 2 → 1 before.
    assert c1 == ReceptiveField(size=(3, 3), jump=(2, 2), start=(0.0, 0.0))
    pool = receptive_field(probe.layers, probe.layer("pool"), SIZE)
    assert pool == ReceptiveField(size=(5, 5), jump=(4, 4), start=(1.0, 1.0))


def test_a_branching_model_is_refused_with_a_sentence():
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(1, 3, padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(1, 1, name="b")(inputs)
    merged = keras.layers.Add(name="add")([a, b])
    out = keras.layers.Conv2D(1, 3, name="after")(merged)
    probe = ActivationProbe(keras.Model(inputs, out))
    with pytest.raises(ValueError, match="branches before layer 'b'"):
        receptive_field(probe.layers, probe.layer("after"), (8, 8))
    assert receptive_field(probe.layers, probe.layer("a"), (8, 8)).size == (3, 3)


def test_the_bundled_model_and_a_nested_one():
    from convviz_widgets import zoo

    probe = ActivationProbe(zoo.load_model("shapes"))
    last = receptive_field(probe.layers, probe.layer("block4_conv2"), (64, 64))
    # Two 2×2 poolings before block4 (64 → 16 cells a side); ten 3×3 convs and two pools.
    assert last.jump == (4, 4) and last.size[0] > 40
