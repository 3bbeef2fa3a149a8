"""Input gradients: hand-computed values, ReLU rules, SmoothGrad, batching, no leftover swaps."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.engine.gradients import BinaryTarget, ClassTarget
from convviz_widgets.engine.layer_edits import capture_outputs
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.saliency import (
    InputGradients,
    deprocess,
    guided_backprop,
    guided_gradcam,
    input_gradients,
    noisy_copies,
    relu_backward_rule,
    smoothgrad,
    vanilla_saliency,
)

from tiny_models import (
    CAM_DENSE,
    LINEAR_KERNEL,
    MLP_BIAS,
    MLP_HIDDEN,
    MLP_OUT,
    cam_model,
    deconv_model,
    linear_model,
    relu_mlp,
)

IMAGE = (np.arange(12, dtype=np.uint8) * 20).reshape(2, 2, 3)  # for linear_model
MLP_IMAGE = np.array([[[2], [1]]], np.uint8)  # x = [2, 1]: hidden pre-activations [2, 1, -7]
KINKY_IMAGE = np.array([[[0], [8]]], np.uint8)  # pre-activations [0, 8, -2]: near two kinks

# relu_mlp at x = [2, 1], by hand: z = [2, 1, -7], dy/dh = MLP_OUT = [1, -2, 3];
# plain:     dy/dz = [1, -2, 0]  (passes where z > 0)              -> dy/dx = [1, -2]
# guided:    dy/dz = [1,  0, 0]  (where z > 0 and the gradient > 0) -> dy/dx = [1, 0]
# deconvnet: dy/dz = [1,  0, 3]  (where the gradient > 0)           -> dy/dx = [1 + 3, 3]
RULE_GRADIENTS = {"plain": [1.0, -2.0], "guided": [1.0, 0.0], "deconvnet": [4.0, 3.0]}


def kernel_image(cls: int) -> np.ndarray:
    return LINEAR_KERNEL[:, cls].reshape(2, 2, 3)


def hand_mlp_gradient(x: np.ndarray) -> np.ndarray:
    """dy/dx of relu_mlp with the ordinary ReLU gradient (0 at 0)."""
    z = x @ MLP_HIDDEN + MLP_BIAS
    return MLP_HIDDEN @ (MLP_OUT[:, 0] * (z > 0))


def relu_state(probe: ActivationProbe) -> list[tuple]:
    """What a swap could leave behind: each layer's activation and any shadowing ``call``."""
    return [(info.path, getattr(info.layer, "activation", None), "call" in vars(info.layer))
            for info in probe.layers]


@pytest.mark.parametrize("cls", [0, 1])
def test_the_gradient_of_a_linear_model_is_its_weights(cls):
    probe = ActivationProbe(linear_model())
    gradient = InputGradients(probe).gradient(IMAGE, cls)
    assert gradient.dtype == np.float32 and gradient.shape == (2, 2, 3)
    np.testing.assert_array_equal(gradient, kernel_image(cls))
    peak = np.abs(kernel_image(cls)).max(axis=-1)
    np.testing.assert_allclose(vanilla_saliency(probe, IMAGE, cls), peak / peak.max(), rtol=1e-6)


def test_scores_are_logits_by_default_and_probabilities_on_request():
    model = linear_model("softmax")
    probe = ActivationProbe(model)
    explainer = InputGradients(probe)
    small = (np.arange(12) % 2).astype(np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(explainer.gradient(small, 0), kernel_image(0))
    logits = small.astype(np.float64).ravel() @ LINEAR_KERNEL
    p = np.exp(logits - logits.max())
    p /= p.sum()
    assert 0.05 < p[0] < 0.95  # unsaturated, so the two scores really differ
    # d p_0 / d x = p_0 (w_0 - sum_k p_k w_k)
    expected = (p[0] * (LINEAR_KERNEL[:, 0] - LINEAR_KERNEL @ p)).reshape(2, 2, 3)
    probability = explainer.gradient(small, ClassTarget(0, on="probability"))
    np.testing.assert_allclose(probability, expected, rtol=1e-5, atol=1e-7)
    assert model.get_layer("predictions").activation is keras.activations.softmax


def test_single_sigmoid_models_explain_positive_and_negative_evidence():
    explainer = InputGradients(ActivationProbe(linear_model("sigmoid", units=1)))
    np.testing.assert_array_equal(explainer.gradient(IMAGE, "positive"), kernel_image(0))
    negative = explainer.gradient(IMAGE, BinaryTarget(positive=False))
    np.testing.assert_array_equal(negative, -kernel_image(0))
    np.testing.assert_array_equal(explainer.gradient(IMAGE), kernel_image(0))  # None: positive
    with pytest.raises(ValueError, match="single sigmoid unit"):
        explainer.gradient(IMAGE, 0)


def test_the_predicted_class_is_explained_when_no_target_is_given():
    probe = ActivationProbe(linear_model())
    predicted = int(np.argmax(probe.predict(IMAGE)))
    np.testing.assert_array_equal(InputGradients(probe).gradient(IMAGE), kernel_image(predicted))


def test_gradients_flow_back_through_a_tensorflow_preprocess_to_the_pixels():
    probe = ActivationProbe(linear_model(), preprocess=lambda batch: batch / 127.5 - 1.0)
    explainer = InputGradients(probe)
    np.testing.assert_allclose(explainer.gradient(IMAGE, 1), kernel_image(1) / 127.5, rtol=1e-6)
    assert explainer.space == "pixels" and explainer.preprocess_note is None


def test_vgg_preprocessing_is_differentiated_so_gradients_come_back_in_rgb_order():
    from keras.applications.vgg16 import preprocess_input

    explainer = InputGradients(ActivationProbe(linear_model(), preprocess=preprocess_input))
    # caffe mode feeds x[..., 2 - c] - mean[c] as channel c, so d/dx[..., c] = w[..., 2 - c].
    np.testing.assert_array_equal(explainer.gradient(IMAGE, 0), kernel_image(0)[..., ::-1])
    assert explainer.space == "pixels"


def test_a_numpy_only_preprocess_is_differentiated_after_preprocessing():
    def numpy_only(batch):
        batch[..., 0] -= 100.0  # item assignment: impossible on a tensor
        return batch

    probe = ActivationProbe(linear_model(), preprocess=numpy_only)
    explainer = InputGradients(probe)
    np.testing.assert_array_equal(explainer.gradient(IMAGE, 0), kernel_image(0))
    assert explainer.space == "preprocessed" and "TypeError" in explainer.preprocess_note
    _, point = explainer.start(IMAGE)
    np.testing.assert_array_equal(point, probe.model_input(probe.prepare(IMAGE)))


@pytest.mark.parametrize("style", ["dense", "layer", "activation", "nested"])
def test_relu_rules_match_hand_computed_gradients_wherever_the_relu_sits(style):
    probe = ActivationProbe(relu_mlp(style))
    for rule, expected in RULE_GRADIENTS.items():
        gradient = InputGradients(probe, rule).gradient(MLP_IMAGE, 0)
        np.testing.assert_array_equal(gradient[0, :, 0], expected, err_msg=rule)
    np.testing.assert_array_equal(guided_backprop(probe, MLP_IMAGE)[0, :, 0], [1.0, 0.0])


@pytest.mark.parametrize("style", ["dense", "layer", "activation", "nested"])
def test_guided_and_deconvnet_gradients_leave_the_model_unchanged(style):
    model = relu_mlp(style)
    probe = ActivationProbe(model)
    state = relu_state(probe)
    batch = probe.model_input(probe.prepare(MLP_IMAGE))
    before = model(batch).numpy()
    guided_backprop(probe, MLP_IMAGE)
    InputGradients(probe, "deconvnet").gradient(MLP_IMAGE)
    assert relu_state(probe) == state
    np.testing.assert_array_equal(model(batch).numpy(), before)
    # A function traced afterwards sees the ordinary ReLUs again.
    np.testing.assert_array_equal(InputGradients(probe).gradient(MLP_IMAGE, 0)[0, :, 0],
                                  RULE_GRADIENTS["plain"])


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_every_relu_is_restored_when_the_block_raises(rule):
    model = deconv_model()  # a ReLU layer ("relu") and a conv with a relu activation ("conv2")
    probe = ActivationProbe(model)
    state = relu_state(probe)
    batch = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    before = model(batch).numpy()
    with pytest.raises(RuntimeError, match="boom"), \
            relu_backward_rule(probe.layers, rule) as swapped:
        assert swapped == 2
        # The layers' own attributes never change; a dispatcher stands in for their call.
        assert probe.layer("conv2").layer.activation is keras.activations.relu
        assert "call" in vars(probe.layer("relu").layer)
        assert "call" in vars(probe.layer("conv2").layer)
        np.testing.assert_array_equal(model(batch).numpy(), before)  # same forward pass
        raise RuntimeError("boom")
    assert relu_state(probe) == state
    np.testing.assert_array_equal(model(batch).numpy(), before)


def test_a_relu_layer_being_watched_can_be_swapped_too_and_both_edits_are_undone():
    probe = ActivationProbe(deconv_model())
    conv2, relu = probe.layer("conv2"), probe.layer("relu")
    batch = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    with capture_outputs([relu]) as seen:
        with relu_backward_rule([conv2, relu], "guided") as swapped:
            assert swapped == 2
            probe.model(batch)
        assert "relu" in seen
    assert conv2.layer.activation is keras.activations.relu
    assert "call" not in vars(relu.layer)
    with pytest.raises(ValueError, match="unknown backward rule"), \
            relu_backward_rule(probe.layers, "magic"):
        pass


def test_smoothgrad_without_noise_is_the_plain_gradient():
    probe = ActivationProbe(relu_mlp())
    explainer = input_gradients(probe)
    plain = explainer.gradient(KINKY_IMAGE, 0)
    np.testing.assert_allclose(explainer.smooth(KINKY_IMAGE, 0, samples=5, noise=0.0), plain,
                               rtol=1e-6)
    np.testing.assert_allclose(smoothgrad(probe, KINKY_IMAGE, 0, noise=0.0),
                               vanilla_saliency(probe, KINKY_IMAGE, 0), rtol=1e-6)


def test_smoothgrad_averages_hand_computed_gradients_at_the_seeded_noisy_copies():
    explainer = InputGradients(ActivationProbe(relu_mlp()))
    point = KINKY_IMAGE.astype(np.float32)  # std 0.15 × (8 − 0) = 1.2 crosses two kinks
    copies = noisy_copies(point, 25, 0.15, seed=7).astype(np.float64)
    expected = np.mean([hand_mlp_gradient(copy.ravel()) for copy in copies], axis=0)
    assert not np.allclose(expected, hand_mlp_gradient(point.ravel().astype(np.float64)))
    result = explainer.smooth(KINKY_IMAGE, 0, samples=25, noise=0.15, seed=7)
    np.testing.assert_allclose(result.ravel(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(explainer.smooth(KINKY_IMAGE, 0, seed=7), result)
    assert not np.array_equal(explainer.smooth(KINKY_IMAGE, 0, seed=8), result)
    np.testing.assert_allclose(explainer.smooth(KINKY_IMAGE, 0, seed=7, batch_size=4), result,
                               rtol=1e-6, atol=1e-7)


def test_noise_has_the_requested_spread_and_depends_only_on_the_seed():
    point = np.linspace(0.0, 200.0, 300, dtype=np.float32).reshape(10, 10, 3)
    copies = noisy_copies(point, 200, 0.1, seed=3)
    assert copies.shape == (200, 10, 10, 3) and copies.dtype == np.float32
    assert abs(float((copies - point).std()) - 20.0) < 0.5  # 0.1 × (200 − 0); 60,000 draws
    np.testing.assert_array_equal(noisy_copies(point, 200, 0.1, seed=3), copies)
    np.testing.assert_array_equal(noisy_copies(point, 4, 0.0), np.repeat(point[None], 4, axis=0))


def test_smoothgrad_differentiates_its_samples_in_batches_through_one_trace():
    explainer = InputGradients(ActivationProbe(relu_mlp()))
    explainer.gradient(MLP_IMAGE, 0)
    traced, sizes = explainer._concrete, []

    def spy(inputs, *weights):
        sizes.append(int(inputs.shape[0]))
        return traced(inputs, *weights)

    explainer._concrete = spy
    explainer.smooth(MLP_IMAGE, 0, samples=25, batch_size=10)
    assert sizes == [10, 10, 5]
    explainer.smooth(KINKY_IMAGE, 0, samples=25)  # the default batch holds every sample
    assert sizes[3:] == [25]
    assert explainer.calls == 5 and explainer.traces == 1


def test_the_functional_api_reuses_one_traced_function_per_probe_and_rule():
    probe = ActivationProbe(relu_mlp())
    vanilla_saliency(probe, MLP_IMAGE)
    smoothgrad(probe, KINKY_IMAGE, samples=3)
    vanilla_saliency(probe, KINKY_IMAGE)
    explainer = input_gradients(probe)
    assert explainer is input_gradients(probe)
    assert explainer.traces == 1 and explainer.calls == 3
    guided_backprop(probe, MLP_IMAGE)
    guided_backprop(probe, KINKY_IMAGE)
    assert input_gradients(probe, "guided").traces == 1


@pytest.mark.parametrize("cls", [0, 1])
def test_guided_gradcam_is_guided_backprop_times_the_upsampled_gradcam(cls):
    image = np.array([[[10, 40, 7], [200, 0, 9]], [[0, 100, 5], [50, 30, 3]]], np.uint8)
    x = image.astype(np.float64)
    # No ReLU: the guided gradient is d logit / d x_c = CAM_DENSE[c, k] / 4 (0 for channel 2,
    # which the conv drops); Grad-CAM is ReLU(sum_c CAM_DENSE[c, k] / 4 x_c), scaled by its max.
    guided = np.zeros((2, 2, 3))
    guided[..., :2] = CAM_DENSE[:, cls] / 4.0
    cam = np.maximum(x[..., :2] @ (CAM_DENSE[:, cls] / 4.0), 0.0)
    cam /= cam.max()
    result = guided_gradcam(ActivationProbe(cam_model(channels=3)), image, "conv", cls)
    assert result.dtype == np.float32 and result.shape == (2, 2, 3)
    np.testing.assert_allclose(result, guided * cam[..., None], atol=1e-6)


def test_deprocess_centres_scales_to_a_tenth_std_and_clips_like_the_seed():
    # mean 0, std √0.5: ±1 → 0.5 ± 0.1/√0.5 = 0.3586, 0.6414 → × 255 = 91.4, 163.6 (truncated)
    shown = deprocess(np.array([[-1.0, 1.0], [0.0, 0.0]]))
    assert shown.dtype == np.uint8 and shown.tolist() == [[91, 163], [127, 127]]
    # one outlier: mean 10, std 99.5 → 1.49 clips to 255; the rest 0.49 → 124
    spiky = deprocess(np.r_[np.zeros(99), 1000.0])
    assert spiky[-1] == 255 and set(spiky[:-1].tolist()) == {124}
    np.testing.assert_array_equal(deprocess(np.full((2, 2, 3), 5.0)), 127)


def test_guided_backprop_swaps_every_relu_of_a_nested_vgg16_and_restores_them():
    from keras.applications.vgg16 import preprocess_input

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input((32, 32, 3)), base,
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    probe = ActivationProbe(model, preprocess=preprocess_input)
    with relu_backward_rule(probe.layers, "guided") as swapped:
        assert swapped == 13
    state = relu_state(probe)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    batch = probe.model_input(probe.prepare(image))
    before = model(batch).numpy()
    result = guided_backprop(probe, image, 1)
    assert result.shape == (32, 32, 3) and result.dtype == np.float32
    assert np.isfinite(result).all() and np.any(result != 0)
    assert input_gradients(probe, "guided").space == "pixels"
    assert relu_state(probe) == state
    np.testing.assert_array_equal(model(batch).numpy(), before)
