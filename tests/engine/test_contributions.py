"""The contribution ranking equals a hand computation and an independent gradient, and costs no
pass beyond the CAM's."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets.engine.cam import compute_cam
from convviz_widgets.engine.contributions import Contributions, channel_contributions
from convviz_widgets.engine.gradients import ClassTarget, LayerGradients
from convviz_widgets.engine.probe import ActivationProbe

import cam_references as ref
from tiny_models import CAM_DENSE, SPATIAL_IMAGE, cam_model, spatial_model

IMAGE = np.array([[[10, 40], [200, 0]], [[0, 100], [50, 30]]], np.uint8)


@pytest.mark.parametrize("cls", [0, 1])
def test_contributions_by_hand_on_a_fixed_weight_model(cls):
    # logit_k = Σ_c CAM_DENSE[c, k] · mean_ij x_c: the gradient is CAM_DENSE[c, k] / 4 at every
    # cell, so α_c = CAM_DENSE[c, k] / 4 and c_c = CAM_DENSE[c, k] · mean(x_c).
    gradients = LayerGradients(ActivationProbe(cam_model()))
    found = channel_contributions(gradients, IMAGE, "conv", cls)
    x = IMAGE.astype(np.float64)
    np.testing.assert_allclose(found.weights, CAM_DENSE[:, cls] / 4, rtol=1e-6)
    np.testing.assert_allclose(found.contributions, CAM_DENSE[:, cls] * x.mean(axis=(0, 1)),
                               rtol=1e-6)
    # Their sum is the logit (the model is linear in the layer, without a bias).
    logit = (CAM_DENSE[:, cls] * x.mean(axis=(0, 1))).sum()
    assert found.contributions.sum() == pytest.approx(logit, rel=1e-6)
    np.testing.assert_allclose(found.weighted_map(1), CAM_DENSE[1, cls] / 4 * x[..., 1],
                               rtol=1e-6)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
@pytest.mark.parametrize("cls", [0, 1, 2])
def test_contributions_equal_an_independent_gradient_where_it_varies_in_space(layer, cls):
    gradients = LayerGradients(ActivationProbe(spatial_model()))
    found = channel_contributions(gradients, SPATIAL_IMAGE, layer, cls)
    activations, gradient = ref.layer_gradient(SPATIAL_IMAGE, layer, cls)
    np.testing.assert_allclose(found.weights, gradient.mean(axis=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(found.contributions, (gradient * activations).sum(axis=(0, 1)),
                               atol=1e-4)
    by_hand = (gradient * activations).sum(axis=(0, 1))
    # The weights are multiples of 1/4, so these sums are exact in float32 too, ties included
    # (conv1, class 0: channels 0 and 2 tie, and the lower channel comes first).
    assert found.order().tolist() == np.argsort(-by_hand, kind="stable").tolist()


def test_the_ranking_costs_no_pass_beyond_the_cams():
    gradients = LayerGradients(ActivationProbe(spatial_model()))
    compute_cam(gradients, SPATIAL_IMAGE, "conv2", ClassTarget(1))
    passes = gradients.backward_passes
    channel_contributions(gradients, SPATIAL_IMAGE, "conv2", 1)
    channel_contributions(gradients, SPATIAL_IMAGE, "conv1", 1)
    assert gradients.backward_passes == passes


def test_order_rank_and_ties():
    ranking = Contributions.of("conv", np.ones((1, 1, 4)), np.array([[[2.0, 5.0, 2.0, -1.0]]]))
    assert ranking.order().tolist() == [1, 0, 2, 3]
    assert [ranking.rank(c) for c in range(4)] == [2, 1, 3, 4]
    assert ranking.order("weight").tolist() == [1, 0, 2, 3]
    with pytest.raises(ValueError, match=r"channel 4 is out of range: 'conv' has 4 channels"):
        ranking.rank(4)
    with pytest.raises(ValueError, match="unknown ranking 'size'; use one of contribution, "
                                         "weight"):
        ranking.order("size")


def test_a_layer_not_explained_is_one_sentence():
    gradients = LayerGradients(ActivationProbe(cam_model()))
    with pytest.raises(ValueError, match="not a conv layer being explained"):
        channel_contributions(gradients, IMAGE, "gap", 0)
