"""Deconvnet projections: top filters, hand-computed rules, one batched call, nested paths."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.engine.deconv import DeconvNet, deconv_projections, deconvnet, top_filters
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.saliency import RULES

from tiny_models import deconv_model, nested_model

RAMP = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)  # x[i, j] = 4 i + j

# deconv_model on RAMP, by hand:
# conv1: c0 = x − 4, whose 2×2 maxima (the pool's switches) sit at the bottom-right of each
#        block: (1, 1), (1, 3), (3, 1), (3, 3); c1 = 6 − x, maxima at the top-left: (0, 0),
#        (0, 2), (2, 0), (2, 2).
# pool:  p0 = [[1, 3], [9, 11]], p1 = [[6, 4], [-2, -4]]; relu: r0 = p0, r1 = [[6, 4], [0, 0]].
# conv2: f0 = relu(r0 − r1) = [[0, 0], [9, 11]]   (sum 20)
#        f1 = relu(r1 − r0) = [[5, 1], [0, 0]]    (sum 6)
#        f2 = relu(r0 + r1) = [[7, 7], [9, 11]]   (sum 34)
# Projecting filter k sends S = f_k back: r0 gets W[0, k] S and r1 gets W[1, k] S; the ReLU
# layer (inputs p0 > 0 everywhere, p1 < 0 on the bottom row) applies the rule; the pool routes
# each value to its switch; conv1's transpose gives dx = g(c0) − g(c1).
#   f0: r0 ← S ≥ 0, r1 ← −S ≤ 0 (only where p1 < 0): every rule keeps r0, drops r1.
#   f1: r0 ← −S = [[-5, -1], ..]: plain keeps it (p0 > 0); guided and deconvnet drop it
#       (negative gradient). r1 ← S (p1 > 0 there): kept by all.
#   f2: r0 ← S, r1 ← S = [[7, 7], [9, 11]]: plain and guided drop the bottom row of r1
#       (p1 < 0); deconvnet keeps it (positive gradient).


def projection(*entries: tuple[int, int, float]) -> np.ndarray:
    values = np.zeros((4, 4, 1), np.float32)
    for i, j, value in entries:
        values[i, j, 0] = value
    return values


F0 = projection((3, 1, 9), (3, 3, 11))
F1_GUIDED = projection((0, 0, -5), (0, 2, -1))
F1_PLAIN = projection((0, 0, -5), (0, 2, -1), (1, 1, -5), (1, 3, -1))
F2_PLAIN = projection((1, 1, 7), (1, 3, 7), (3, 1, 9), (3, 3, 11), (0, 0, -7), (0, 2, -7))
F2_DECONV = F2_PLAIN + projection((2, 0, -9), (2, 2, -11))
EXPECTED = {
    "plain": [F0, F1_PLAIN, F2_PLAIN],
    "guided": [F0, F1_GUIDED, F2_PLAIN],
    "deconvnet": [F0, F1_GUIDED, F2_DECONV],
}


def relu_state(probe: ActivationProbe) -> list[tuple]:
    return [(info.path, getattr(info.layer, "activation", None), "call" in vars(info.layer))
            for info in probe.layers]


def test_the_hand_model_computes_the_feature_maps_worked_out_above():
    maps = ActivationProbe(deconv_model()).activations(RAMP, "conv2")
    np.testing.assert_array_equal(maps.transpose(2, 0, 1),
                                  [[[0, 0], [9, 11]], [[5, 1], [0, 0]], [[7, 7], [9, 11]]])


def test_top_filters_are_those_with_the_largest_summed_activation():
    probe = ActivationProbe(deconv_model())
    maps = probe.activations(RAMP, "conv2")  # sums 20, 6, 34
    assert top_filters(maps, 3) == [2, 0, 1]
    assert top_filters(maps, 10) == [2, 0, 1]
    assert top_filters(np.ones((2, 2, 3)), 2) == [0, 1]  # ties: lower index first
    assert [f for f, _ in deconv_projections(probe, RAMP, "conv2", k=2)] == [2, 0]


def test_deconvnet_projections_of_the_top_filters_match_hand_computed_values():
    result = deconv_projections(ActivationProbe(deconv_model()), RAMP, "conv2", k=3)
    assert [f for f, _ in result] == [2, 0, 1]
    for (index, projected), expected in zip(result, [F2_DECONV, F0, F1_GUIDED], strict=True):
        assert projected.dtype == np.float32 and projected.shape == (4, 4, 1)
        np.testing.assert_array_equal(projected, expected, err_msg=f"filter {index}")


@pytest.mark.parametrize("rule", RULES)
def test_each_relu_rule_projects_as_computed_by_hand(rule):
    projected = DeconvNet(ActivationProbe(deconv_model()), rule).project(RAMP, "conv2", [0, 1, 2])
    np.testing.assert_array_equal(projected, np.stack(EXPECTED[rule]))


def test_the_deconvnet_rule_differs_from_plain_and_from_guided_backprop():
    probe = ActivationProbe(deconv_model())
    got = {rule: DeconvNet(probe, rule).project(RAMP, "conv2", [1, 2]) for rule in RULES}
    assert not np.allclose(got["deconvnet"], got["plain"])
    assert not np.allclose(got["deconvnet"], got["guided"])
    assert not np.allclose(got["guided"], got["plain"])
    np.testing.assert_array_equal(got["deconvnet"][1] - got["guided"][1],
                                  projection((2, 0, -9), (2, 2, -11)))


def test_all_top_k_projections_come_from_one_batched_call_of_one_trace():
    probe = ActivationProbe(deconv_model())
    shared = deconvnet(probe)
    shared.top_k(RAMP, "conv2", k=1)
    function, traced = shared._functions["conv2"]
    sizes = []

    def spy(inputs, selectors):
        sizes.append(int(inputs.shape[0]))
        return traced(inputs, selectors)

    shared._functions["conv2"] = (function, spy)
    deconv_projections(probe, RAMP, "conv2", k=3)
    deconv_projections(probe, RAMP[::-1].copy(), "conv2", k=2)
    assert sizes == [3, 2]
    assert shared is deconvnet(probe) and shared.calls == 3 and shared.traces("conv2") == 1


def test_layers_inside_a_nested_model_are_projected_by_path():
    model = keras.Sequential([keras.Input((4, 4, 1)), deconv_model(), keras.layers.Dense(1)])
    result = deconv_projections(ActivationProbe(model), RAMP, "deconv/conv2", k=3)
    assert [f for f, _ in result] == [2, 0, 1]
    np.testing.assert_array_equal(np.stack([p for _, p in result]),
                                  np.stack([F2_DECONV, F0, F1_GUIDED]))


def test_a_relu_layer_that_the_rule_swaps_can_itself_be_projected():
    probe = ActivationProbe(nested_model())
    image = np.random.default_rng(5).integers(0, 256, (3, 3, 3), dtype=np.uint8)
    r, g, b = (image[..., c].astype(np.float64) for c in range(3))
    s0, s1 = np.maximum(r + b, 0), np.maximum(g - b - 1, 0)  # inner/relu's two channels
    # back through the 1×1 kernel [[1, 0], [0, 1], [1, -1]] (rows r, g, b):
    expected = {0: np.stack([s0, 0 * s0, s0], -1), 1: np.stack([0 * s1, s1, -s1], -1)}
    order = [int(i) for i in np.argsort([-s0.sum(), -s1.sum()], kind="stable")]
    result = deconv_projections(probe, image, "inner/relu", k=2)
    assert [f for f, _ in result] == order
    for index, projected in result:
        np.testing.assert_allclose(projected, expected[index], rtol=1e-6)
    assert "call" not in vars(probe.layer("inner/relu").layer)


def test_the_model_is_unchanged_after_projection_and_after_a_trace_that_raises():
    model = deconv_model()
    probe = ActivationProbe(model)
    state = relu_state(probe)
    batch = probe.model_input(probe.prepare(RAMP))
    before = model(batch).numpy()
    deconv_projections(probe, RAMP, "conv2", k=3)
    assert relu_state(probe) == state
    np.testing.assert_array_equal(model(batch).numpy(), before)

    explainer = DeconvNet(probe)
    gap = probe.layer("gap").layer

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    gap.call = failing  # the trace fails after conv2 is watched and every ReLU swapped
    try:
        with pytest.raises(RuntimeError, match="boom"):
            explainer.project(RAMP, "conv2", [0])
    finally:
        vars(gap).pop("call")
    assert relu_state(probe) == state
    assert explainer.traces("conv2") == 0  # nothing half-built is kept
    np.testing.assert_array_equal(explainer.project(RAMP, "conv2", [0])[0], F0)
    np.testing.assert_array_equal(model(batch).numpy(), before)


def test_bad_layers_and_filters_are_clear_errors():
    explainer = DeconvNet(ActivationProbe(deconv_model()))
    with pytest.raises(ValueError, match="not feature maps"):
        explainer.top_k(RAMP, "gap")
    with pytest.raises(ValueError, match="filter 3 is out of range"):
        explainer.project(RAMP, "conv2", [3])
    with pytest.raises(ValueError, match="unknown backward rule"):
        DeconvNet(ActivationProbe(deconv_model()), "magic")
