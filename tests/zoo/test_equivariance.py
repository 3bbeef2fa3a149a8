"""Equivariance fine-tuning of the bundled model: its transforms, its loss, its training loop."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.zoo.equivariance import (
    D4_SIZE,
    EquivarianceSettings,
    class_maps,
    d4_transform,
    equivariance_loss,
    fine_tune,
    shift_cells,
)


def numpy_d4(x: np.ndarray) -> list[np.ndarray]:
    """The eight symmetries of the square, made by numpy: four rotations, each also mirrored."""
    rotations = [np.rot90(x, r, axes=(1, 2)) for r in range(4)]
    return rotations + [np.swapaxes(r, 1, 2) for r in rotations]


def test_the_eight_transforms_are_exactly_the_symmetries_of_the_square():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype(np.float32)
    ours = [d4_transform(x, k).numpy() for k in range(D4_SIZE)]
    np.testing.assert_array_equal(ours[0], x)
    expected = {a.tobytes() for a in numpy_d4(x)}
    assert {a.tobytes() for a in ours} == expected and len(expected) == 8


def test_a_shift_moves_content_by_whole_cells_and_mirrors_the_border():
    x = np.arange(64.0, dtype=np.float32).reshape(1, 8, 8, 1)
    moved = shift_cells(x, -1, 2, cell=2).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(moved[:6, 4:], x[0, 2:, :4, 0])  # up 2 px, right 4 px
    np.testing.assert_array_equal(moved[:, :4], moved[:, 7:3:-1])  # the left band is a mirror


def tiny_model(kernel: np.ndarray) -> keras.Model:
    """One conv layer with a fixed kernel, global average pooling, a fixed 2-class dense layer."""
    inputs = keras.Input((12, 12, 1))
    features = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[0], padding="same",
                                   use_bias=False, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(features))
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([kernel])
    model.get_layer("predictions").set_weights([np.array([[1.0, -1.0]] * kernel.shape[-1],
                                                         np.float32), np.zeros(2, np.float32)])
    return model


def maps_and_loss(model: keras.Model, images: np.ndarray, k: int, dy: int, dx: int) -> float:
    features = keras.Model(model.input, model.get_layer("conv").output)
    kernel = model.get_layer("predictions").kernel
    maps = class_maps(keras.ops.relu(features(images)), kernel)
    moved = class_maps(keras.ops.relu(features(shift_cells(d4_transform(images, k), dy, dx))),
                       kernel)
    return float(equivariance_loss(maps, moved, k, dy, dx, np.ones((len(images), 2), "float32")))


IMAGES = np.random.default_rng(1).uniform(size=(3, 12, 12, 1)).astype(np.float32)


@pytest.mark.parametrize("k", range(1, D4_SIZE))
def test_a_pointwise_model_is_equivariant_and_scores_zero(k):
    model = tiny_model(np.full((1, 1, 1, 1), 2.0, np.float32))
    assert maps_and_loss(model, IMAGES, k, 1, -2) < 1e-5


def test_an_edge_detector_facing_one_way_is_not_equivariant_under_a_flip():
    # +1 above, −1 below: responds to light-over-dark edges only, so a flip moves its maps.
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[0, :, 0, 0], kernel[2, :, 0, 0] = 1.0, -1.0
    model = tiny_model(kernel)
    assert maps_and_loss(model, IMAGES, 1, 0, 0) > 0.3
    assert maps_and_loss(model, IMAGES, 2, 0, 0) < 1e-5  # a left-right flip leaves it alone


def test_fine_tuning_makes_the_class_maps_more_equivariant():
    keras.utils.set_random_seed(0)
    kernel = np.random.default_rng(2).normal(size=(3, 3, 1, 4)).astype(np.float32)
    kernel[0] += 1.0  # a strong preference for one direction
    model = tiny_model(kernel)
    dense, bias = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights([0.01 * dense, bias])  # logits near 0
    model.compile(loss="categorical_crossentropy")
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(64, 12, 12, 1)).astype(np.float32)
    targets = np.full((64, 2), 0.5, np.float32)  # noise has no class: only the maps can improve

    def before_and_after() -> float:
        return np.mean([maps_and_loss(model, images[:16], k, 0, 0) for k in (1, 3, 5)])

    before = before_and_after()
    history = fine_tune(model, "conv", lambda epoch: (images, targets, np.ones(64, "float32")),
                        epochs=30, settings=EquivarianceSettings(weight=5.0, learning_rate=0.01,
                                                                 batch_size=16), seed=0)
    after = before_and_after()
    assert np.isfinite(history["loss"]) and after < 0.5 * before, (before, after)
