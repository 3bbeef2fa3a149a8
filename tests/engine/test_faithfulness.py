"""Faithfulness checks: pointing game, deletion/insertion curves, randomization sanity check."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets import zoo
from convviz_widgets.engine.faithfulness import (
    causal_curves,
    paper_tolerance,
    pointing_game,
    pointing_hit,
    randomization_check,
    randomized_copy,
    rank_correlation,
)
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.zoo.shapes import SHAPE_CLASSES, make_scene, two_shape_scenes

from tiny_models import cam_model


def test_pointing_hit_looks_only_at_the_peak():
    mask = np.zeros((3, 3), bool)
    mask[2, 2] = True
    saliency = np.zeros((3, 3))
    assert not pointing_hit(saliency, mask), "an empty map points nowhere"
    saliency[2, 2] = 0.5
    assert pointing_hit(saliency, mask)
    saliency[0, 0] = 0.9
    assert not pointing_hit(saliency, mask)
    with pytest.raises(ValueError, match="upsample"):
        pointing_hit(np.zeros((2, 2)), mask)


def test_deletion_and_insertion_follow_the_saliency_order_exactly():
    # score = sum of the pixels; pixel values 1..4, saliency ranks them 4, 3, 2, 1.
    image = np.arange(1, 5, dtype=np.float32).reshape(2, 2, 1)
    saliency = image[:, :, 0]
    curves = causal_curves(lambda b: b.sum(axis=(1, 2, 3)), image, saliency, steps=4,
                           baseline=0.0)
    np.testing.assert_allclose(curves.fractions, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curves.deletion, [10, 6, 3, 1, 0])
    np.testing.assert_allclose(curves.insertion, [0, 4, 7, 9, 10])
    # Trapezoids over steps of 0.25.
    assert curves.deletion_auc == pytest.approx((10 + 6) / 8 + (6 + 3) / 8 + (3 + 1) / 8
                                                + (1 + 0) / 8)
    assert curves.insertion_auc == pytest.approx((0 + 4) / 8 + (4 + 7) / 8 + (7 + 9) / 8
                                                 + (9 + 10) / 8)
    reversed_curves = causal_curves(lambda b: b.sum(axis=(1, 2, 3)), image, -saliency, steps=4,
                                    baseline=0.0)
    assert reversed_curves.deletion_auc > curves.deletion_auc
    assert reversed_curves.insertion_auc < curves.insertion_auc


def test_causal_curves_score_every_image_in_batches():
    calls = []

    def score(batch):
        calls.append(len(batch))
        return batch.mean(axis=(1, 2, 3))

    causal_curves(score, np.ones((4, 4, 3), np.float32), np.ones((4, 4)), steps=16,
                  batch_size=34)
    assert calls == [34], "2 × 17 images in one batch"


def test_rank_correlation_matches_hand_computed_spearman():
    assert rank_correlation(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == 1.0
    assert rank_correlation(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == -1.0
    # ranks a = [0, 1, 2, 3], b = [1.5, 1.5, 0, 3]  (ties share 1.5)
    a, b = np.array([0.0, 1, 2, 3]), np.array([5.0, 5, 1, 9])
    ra, rb = np.array([0, 1, 2, 3]) - 1.5, np.array([1.5, 1.5, 0, 3]) - 1.5
    expected = (ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum())
    assert rank_correlation(a, b) == pytest.approx(expected)
    assert rank_correlation(np.ones(4), a) == 0.0


def test_randomized_copy_changes_only_the_named_layers_and_never_the_model():
    model = cam_model()
    before = [w.copy() for w in model.get_weights()]
    copy = randomized_copy(model, ["predictions"], seed=1)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(copy.get_layer("conv").get_weights()[0],
                                  model.get_layer("conv").get_weights()[0])
    assert not np.allclose(copy.get_layer("predictions").get_weights()[0],
                           model.get_layer("predictions").get_weights()[0])


@pytest.fixture(scope="module")
def shapes_probe():
    return ActivationProbe(zoo.load_model("shapes"))


def test_gradcam_points_at_each_present_shape(shapes_probe):
    """The issue's floor: Grad-CAM's peak on each present shape in ≥90% of two-shape scenes."""
    scenes = list(two_shape_scenes(40))

    def explain(image, index):
        return shapes_probe.cam(image, "block4_conv2", index).upsampled

    strict = pointing_game(explain, scenes, SHAPE_CLASSES)
    tolerant = pointing_game(explain, scenes, SHAPE_CLASSES, tolerance=paper_tolerance(64))
    assert strict >= 0.9, f"pointing game on the shape: {strict:.1%}"
    assert tolerant >= strict


def test_gradcam_does_not_follow_the_contrast_of_a_lone_shape(shapes_probe):
    """Trained on labels alone, the model put a light shape's evidence on its top edge and a
    dark shape's on its bottom edge (correlation −0.84 between contrast and the peak's vertical
    offset); the equivariance fine-tuning of ``zoo.train`` removes that."""
    rows = np.mgrid[:64, :64][0] + 0.5
    offsets, contrasts = [], []
    for i in range(60):
        name = SHAPE_CLASSES[i % len(SHAPE_CLASSES)]
        image, masks = make_scene([name], seed=80_000 + i)
        mask, pixels = masks[name], image.astype(float)
        cam = shapes_probe.cam(image, "block4_conv2", SHAPE_CLASSES.index(name)).upsampled
        peak_row = np.unravel_index(np.argmax(cam), cam.shape)[0] + 0.5
        offsets.append(peak_row - rows[mask].mean())
        contrasts.append(pixels[mask].mean() - pixels[~mask].mean())
    correlation = np.corrcoef(offsets, contrasts)[0, 1]
    assert abs(correlation) < 0.4, f"peak offset follows the contrast: r = {correlation:+.2f}"


def test_the_pointing_tolerance_is_a_distance_to_the_object():
    mask = np.zeros((9, 9), bool)
    mask[0, 0] = True
    saliency = np.zeros((9, 9))
    saliency[3, 4] = 1.0  # 5 px from (0, 0)
    assert not pointing_hit(saliency, mask, tolerance=4.9)
    assert pointing_hit(saliency, mask, tolerance=5.0)
    assert paper_tolerance(224) == 15.0


def test_gradcam_deletes_faster_than_a_random_order(shapes_probe):
    from convviz_widgets.engine.faithfulness import target_probability

    image = zoo.load_image("star")
    cam = shapes_probe.cam(image, "block4_conv2", 3)
    score = target_probability(shapes_probe, 3)
    ours = causal_curves(score, image.astype(np.float32), cam.upsampled, steps=16)
    noise = np.random.default_rng(0).random(cam.upsampled.shape)
    random_order = causal_curves(score, image.astype(np.float32), noise, steps=16)
    assert ours.deletion[0] == pytest.approx(shapes_probe.predict(image)[3], abs=1e-5)
    assert ours.deletion_auc < 0.5 * random_order.deletion_auc


def test_gradcam_inserts_faster_than_a_random_order_on_two_shape_scenes(shapes_probe):
    """Averaged over scenes, as Petsiuk et al. report them. Since the equivariance fine-tuning
    centred the maps on the shapes, deletion no longer beats a random order on these small
    shapes (removing a shape's middle first leaves its outline; see the README's
    faithfulness table), and on the large lone star above a random order inserts faster
    (scattered pixels already outline the star, while the map reveals its body first)."""
    from convviz_widgets.engine.faithfulness import target_probability

    rng = np.random.default_rng(0)
    ours, random_order = [], []
    for image, masks in two_shape_scenes(5, seed=60_000):
        for name in masks:
            index = SHAPE_CLASSES.index(name)
            cam = shapes_probe.cam(image, "block4_conv2", index).upsampled
            score = target_probability(shapes_probe, index)
            for order, out in ((cam, ours), (rng.random(cam.shape), random_order)):
                curves = causal_curves(score, image.astype(np.float32), order, steps=16)
                out.append((curves.deletion_auc, curves.insertion_auc))
    our_insertion, random_insertion = np.mean(ours, axis=0)[1], np.mean(random_order, axis=0)[1]
    assert our_insertion > random_insertion + 0.1, (our_insertion, random_insertion)


def test_gradcam_passes_the_randomization_sanity_check(shapes_probe):
    image = zoo.load_image("star")

    def explain(model, picture):
        return ActivationProbe(model).cam(picture, "block4_conv2", 3).map

    steps = randomization_check(explain, shapes_probe.model, image,
                                ["predictions", "block4_conv2", "block4_conv1"])
    assert [s.randomized for s in steps] == [(), ("predictions",),
                                             ("predictions", "block4_conv2"),
                                             ("predictions", "block4_conv2", "block4_conv1")]
    assert steps[0].rank_correlation == 1.0
    assert all(s.rank_correlation < 0.5 for s in steps[1:]), [s.rank_correlation for s in steps]
