"""Class activation maps: hand-computed values, logits vs probabilities, one pass for all."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.engine.cam import cam_sweep, compute_cam
from convviz_widgets.engine.gradients import (
    BinaryTarget,
    ChannelTarget,
    ClassTarget,
    LayerGradients,
)
from convviz_widgets.engine.probe import ActivationProbe

from tiny_models import CAM_DENSE, cam_model, nested_model

# conv output = the image itself (identity 1×1 kernel); channels x0, x1 on a 2×2 grid.
IMAGE = np.array([[[10, 40], [200, 0]], [[0, 100], [50, 30]]], np.uint8)
X = IMAGE.astype(np.float64)


def gradients_for(model) -> LayerGradients:
    return LayerGradients(ActivationProbe(model))


def normalized(raw: np.ndarray) -> np.ndarray:
    rectified = np.maximum(raw, 0)
    return rectified / rectified.max()


@pytest.mark.parametrize("cls", [0, 1])
def test_gradcam_matches_hand_computed_values_on_a_fixed_weight_model(cls):
    weights = CAM_DENSE[:, cls] / 4.0
    expected = normalized(X[..., 0] * weights[0] + X[..., 1] * weights[1])
    result = compute_cam(gradients_for(cam_model()), IMAGE, "conv", cls)
    np.testing.assert_allclose(result.map, expected, atol=1e-5)
    assert result.upsampled.shape == (2, 2)


def test_probability_target_uses_the_softmax_gradient():
    model = cam_model()
    image = np.array([[[1, 0], [2, 1]], [[0, 1], [0, 0]]], np.uint8)  # small: softmax unsaturated
    x = image.astype(np.float64)
    logits = x.mean(axis=(0, 1)) @ CAM_DENSE
    p = np.exp(logits - logits.max())
    p /= p.sum()
    # d p_0 / d x_c[i, j] = p_0 (W[c, 0] - sum_k p_k W[c, k]) / 4
    weights = p[0] * (CAM_DENSE[:, 0] - CAM_DENSE @ p) / 4.0
    expected = normalized(x[..., 0] * weights[0] + x[..., 1] * weights[1])
    logit_map = normalized(x[..., 0] * CAM_DENSE[0, 0] + x[..., 1] * CAM_DENSE[1, 0])
    assert not np.allclose(expected, logit_map, atol=1e-3)  # the two targets really differ
    result = compute_cam(gradients_for(model), image, "conv", ClassTarget(0, on="probability"))
    np.testing.assert_allclose(result.map, expected, atol=1e-5)
    np.testing.assert_allclose(result.score, p[0], rtol=1e-5)


def test_the_users_softmax_is_untouched():
    model = cam_model()
    compute_cam(gradients_for(model), IMAGE, "conv", 0)
    assert model.get_layer("predictions").activation is keras.activations.softmax
    assert np.isclose(model(IMAGE[None].astype("float32")).numpy().sum(), 1.0)


def test_gradcam_plus_plus_and_layercam_follow_their_formulas():
    gradients = gradients_for(cam_model())
    g = np.broadcast_to(CAM_DENSE[:, 0] / 4.0, X.shape)  # constant gradients for class 0
    layer = compute_cam(gradients, IMAGE, "conv", 0, method="layercam")
    np.testing.assert_allclose(layer.map, normalized((np.maximum(g, 0) * X).sum(-1)), atol=1e-5)
    alpha = g**2 / (2 * g**2 + X.sum(axis=(0, 1)) * g**3)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
    plus = compute_cam(gradients, IMAGE, "conv", 0, method="gradcam++")
    np.testing.assert_allclose(plus.map, normalized(X @ weights), atol=1e-5)


def test_a_sweep_over_every_conv_layer_is_one_backward_pass():
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input((32, 32, 3)), base,
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    gradients = gradients_for(model)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    sweep = cam_sweep(gradients, image, 2)
    assert len(sweep) == 13 and "vgg16/block5_conv3" in sweep
    assert all(r.map.min() >= 0.0 and r.map.max() <= 1.0 for r in sweep.values())
    assert gradients.backward_passes == 1
    cam_sweep(gradients, image, 2, method="layercam")
    assert gradients.backward_passes == 1  # another method on the same gradients


def test_switching_among_the_top_k_classes_costs_no_new_pass():
    model = cam_model()
    gradients = gradients_for(model)
    targets = gradients.compute_top_k(IMAGE, k=2)
    assert gradients.backward_passes == 1
    maps = [compute_cam(gradients, IMAGE, "conv", t).map for t in targets]
    assert gradients.backward_passes == 1
    for target, cam in zip(targets, maps, strict=True):
        alone = compute_cam(gradients_for(cam_model()), IMAGE, "conv", target.index).map
        np.testing.assert_allclose(cam, alone, atol=1e-6)


def test_sigmoid_models_explain_positive_and_negative_evidence():
    model = cam_model(activation="sigmoid")
    inputs = keras.Input((2, 2, 2))
    conv = model.get_layer("conv")(inputs)
    single = keras.layers.Dense(1, activation="sigmoid", use_bias=False,
                                kernel_initializer=keras.initializers.Constant([[1.0], [-1.0]]))(
        keras.layers.GlobalAveragePooling2D()(conv))
    binary = keras.Model(inputs, single)
    gradients = gradients_for(binary)
    positive = compute_cam(gradients, IMAGE, "conv", "positive").map
    negative = compute_cam(gradients, IMAGE, "conv", BinaryTarget(positive=False)).map
    np.testing.assert_allclose(positive, normalized(X[..., 0] - X[..., 1]), atol=1e-5)
    np.testing.assert_allclose(negative, normalized(X[..., 1] - X[..., 0]), atol=1e-5)
    with pytest.raises(ValueError, match="single sigmoid unit"):
        compute_cam(gradients, IMAGE, "conv", 0)


def test_bad_targets_and_layers_are_clear_errors():
    gradients = gradients_for(cam_model())
    with pytest.raises(ValueError, match="out of range: the model has 2 classes"):
        compute_cam(gradients, IMAGE, "conv", 7)
    with pytest.raises(ValueError, match="not a conv layer"):
        compute_cam(gradients, IMAGE, "gap", 0)
    with pytest.raises(ValueError, match="unknown explanation method"):
        compute_cam(gradients, IMAGE, "conv", 0, method="magic")


def test_score_cam_weights_channels_by_the_softmax_of_masked_scores():
    from convviz_widgets.engine.cam.scorecam import channel_masks, score_cam

    activations = np.zeros((2, 2, 3), np.float32)
    activations[0, 0, 0] = activations[1, 1, 1] = 1.0  # channel 2 stays dead
    model_input = np.ones((1, 2, 2, 1), np.float32)
    masks = channel_masks(activations, (2, 2))
    np.testing.assert_array_equal(masks[2], 0.0)
    calls = []

    def scores(batch):  # the score of a masked input: its top-left pixel
        calls.append(len(batch))
        return batch[:, 0, 0, 0]

    cam = score_cam(scores, model_input, activations, batch_size=2)
    assert calls == [2, 1]  # three channels, two batches
    s = np.array([1.0, 0.0, 0.0])
    w = np.exp(s) / np.exp(s).sum()
    np.testing.assert_allclose(cam, normalized(np.array([[w[0], 0], [0, w[1]]])), atol=1e-6)


def test_batched_targets_are_found_again_one_by_one_and_together():
    gradients = gradients_for(cam_model())
    both = gradients.compute(IMAGE, [ClassTarget(0), ClassTarget(1)])
    assert gradients.backward_passes == 1
    second = gradients.compute(IMAGE, [ClassTarget(1)])
    np.testing.assert_array_equal(second.gradients["conv"][0], both.gradients["conv"][1])
    again = gradients.compute(IMAGE, [ClassTarget(1), ClassTarget(0)])
    np.testing.assert_array_equal(again.gradients["conv"][1], both.gradients["conv"][0])
    assert gradients.backward_passes == 1


def test_a_channel_target_explains_a_layers_channel_by_hand():
    # score = mean over the 2×2 grid of conv channel 0 (= x0), so dscore/dA_0 = 1/4 and
    # dscore/dA_1 = 0: Grad-CAM weights [1/4, 0], the map is x0 scaled by its maximum.
    gradients = gradients_for(cam_model())
    result = compute_cam(gradients, IMAGE, "conv", ChannelTarget("conv", 0))
    np.testing.assert_allclose(result.map, normalized(X[..., 0]), atol=1e-6)
    assert result.score == pytest.approx(X[..., 0].mean())
    both = gradients.compute(IMAGE, [ChannelTarget("conv", 0), ChannelTarget("conv", 1)])
    np.testing.assert_allclose(both.gradients["conv"][1][..., 1], 0.25)
    np.testing.assert_allclose(both.gradients["conv"][1][..., 0], 0.0)
    assert gradients.backward_passes == 2


def test_a_channel_target_in_a_nested_model_and_its_errors():
    gradients = gradients_for(nested_model())
    image = np.full((3, 3, 3), 9, np.uint8)
    result = compute_cam(gradients, image, "inner/mix", ChannelTarget("inner/relu", 0))
    assert result.map.shape == (3, 3) and result.map.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="out of range"):
        compute_cam(gradients, image, "inner/mix", ChannelTarget("mix", 5))
    with pytest.raises(ValueError, match="separate calls"):
        gradients.compute(image, [ChannelTarget("mix", 0), ClassTarget(0)])


# -- edges that the tests above do not reach (found by `make mutate`) ------------------------
def test_get_method_passes_a_method_instance_through():
    from convviz_widgets.engine.cam import METHODS, get_method

    method = METHODS["layercam"]()
    assert get_method(method) is method


def test_eigen_cam_of_constant_maps_is_zero_and_its_sign_follows_the_mean_activation():
    from convviz_widgets.engine.cam import METHODS

    eigencam = METHODS["eigencam"]()
    constant = np.full((2, 3, 2), 4.0, np.float32)
    np.testing.assert_array_equal(eigencam(constant, np.zeros_like(constant)), np.zeros((2, 3)))
    # The first principal component is defined up to its sign. Here the channels' mean and
    # their maximum point opposite ways along it: the map must light up where the mean is
    # largest (bottom right, mean 2), not where the maximum is (the off-diagonal, max 3).
    activations = np.stack([[[2.0, 3.0], [3.0, 2.0]], [[1.0, 0.0], [0.0, 2.0]]], axis=-1)
    flat = activations.reshape(4, 2)
    component = np.linalg.svd(flat - flat.mean(axis=0))[2][0]
    projection = flat @ component
    if np.corrcoef(projection, flat.mean(axis=1))[0, 1] < 0:
        projection = -projection
    expected = normalized(projection.reshape(2, 2))
    np.testing.assert_allclose(eigencam(activations, np.zeros_like(activations)), expected,
                               atol=1e-6)
    np.testing.assert_allclose(expected, [[0, 0], [0, 1]], atol=1e-6)


def test_score_cam_scores_32_masks_a_call_by_default_and_survives_huge_scores():
    from convviz_widgets.engine.cam.scorecam import score_cam

    activations = np.zeros((2, 2, 40), np.float32)
    activations[0, 0, 0] = activations[1, 1, 1] = 1.0
    steps = []
    huge = np.full(40, 100.0)
    huge[0] = 1000.0  # softmax weights: channel 0 about 1, every other about e^-900

    def scores(batch):  # the score of each masked input, in channel order
        start = steps[-1][0] if steps else 0
        return huge[start : start + len(batch)]

    cam = score_cam(scores, np.ones((1, 2, 2, 1), np.float32), activations,
                    progress=lambda done, total: steps.append((done, total)))
    assert steps == [(32, 40), (40, 40)]
    np.testing.assert_allclose(cam, [[1, 0], [0, 0]], atol=1e-6)


def test_a_cam_results_bytes_count_the_upsampled_copy_once_made():
    gradients = gradients_for(cam_model())
    result = compute_cam(gradients, IMAGE, "conv", 0)
    assert result.nbytes == result.map.nbytes
    upsampled = result.upsampled
    assert result.nbytes == result.map.nbytes + upsampled.nbytes


def test_one_target_of_a_batch_holds_one_row():
    gradients = gradients_for(cam_model())
    gradients.compute(IMAGE, [ClassTarget(0), ClassTarget(1)])
    record = gradients.compute(IMAGE, [ClassTarget(0)])
    assert record.targets == (ClassTarget(0),) and record.scores.shape == (1,)
    assert record.gradients["conv"].shape == (1, 2, 2, 2)


def test_top_k_gives_k_classes_at_least_one_and_five_by_default():
    inputs = keras.Input((2, 2, 2))
    conv = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(conv))
    gradients = gradients_for(keras.Model(inputs, outputs))
    assert len(gradients.compute_top_k(IMAGE)) == 5
    assert len(gradients.compute_top_k(IMAGE, k=2)) == 2
    assert len(gradients.compute_top_k(IMAGE, k=0)) == 1
    assert len(gradients.compute_top_k(IMAGE, k=9)) == 7


def test_channel_targets_are_checked_against_the_layers_channel_count():
    gradients = gradients_for(cam_model())
    assert gradients.compute(IMAGE, [ChannelTarget("conv", 1)]).targets[0].index == 1
    for index in (2, -1):
        with pytest.raises(ValueError, match=r"channel .* is out of range: 'conv' has 2 channels "
                                             r"\(0 to 1\)"):
            gradients.compute(IMAGE, [ChannelTarget("conv", index)])


def test_an_evicted_batch_forgets_only_the_targets_no_newer_batch_holds():
    single = gradients_for(cam_model()).compute(IMAGE, [ClassTarget(0)]).nbytes
    double = gradients_for(cam_model()).compute(IMAGE, [ClassTarget(0), ClassTarget(1)]).nbytes
    gradients = LayerGradients(ActivationProbe(cam_model()), cache_bytes=single + double)
    assert gradients.cache.max_bytes == single + double
    gradients.compute(IMAGE, [ClassTarget(0)])  # batch A
    gradients.compute(IMAGE, [ClassTarget(0), ClassTarget(1)])  # batch B: class 1 was missing
    gradients.compute(IMAGE[::-1], [ClassTarget(0)])  # another image: A is evicted
    assert gradients.backward_passes == 3
    both = gradients.compute(IMAGE, [ClassTarget(1), ClassTarget(0)])  # all in batch B still
    assert gradients.backward_passes == 3 and both.targets == (ClassTarget(1), ClassTarget(0))


def test_the_gradient_cache_holds_256_mib_by_default():
    assert gradients_for(cam_model()).cache.max_bytes == 256 * 2**20


def test_class_scores_are_the_explained_classes_own():
    # logit_1 = Σ_c CAM_DENSE[c, 1] · mean(x_c) (the model's bias is zero).
    gradients = gradients_for(cam_model(activation=None))
    result = compute_cam(gradients, IMAGE, "conv", 1)
    assert result.score == pytest.approx((CAM_DENSE[:, 1] * X.mean(axis=(0, 1))).sum())


def test_the_model_runs_in_inference_mode_dropout_and_all():
    inputs = keras.Input((2, 2, 2))
    conv = cam_model().get_layer("conv")
    pooled = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    dropped = keras.layers.Dropout(0.9)(pooled)
    outputs = keras.layers.Dense(2, use_bias=False,
                                 kernel_initializer=keras.initializers.Constant(CAM_DENSE))(dropped)
    with_dropout = keras.Model(inputs, outputs)
    expected = compute_cam(gradients_for(cam_model(activation=None)), IMAGE, "conv", 0).map
    for _ in range(3):  # in training mode, nine of ten units would be dropped at random
        np.testing.assert_allclose(
            compute_cam(gradients_for(with_dropout), IMAGE, "conv", 0).map, expected, atol=1e-6)


def test_the_record_holds_the_heads_own_output_for_a_logit_model():
    model = cam_model(activation=None)  # logits: nothing to undo, nothing to squash
    record = gradients_for(model).compute(IMAGE, [ClassTarget(0)])
    logits = np.asarray(model(IMAGE[None].astype(np.float32)))[0]
    np.testing.assert_allclose(record.probabilities, logits, rtol=1e-6)
