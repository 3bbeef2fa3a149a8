"""One registry of explanation methods, read by the engine, the widget and the command line."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets import CAMOverlay, zoo
from convviz_widgets.cli import main
from convviz_widgets.engine.cam import METHODS, Cancelled, Method, Request, get_method
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.targets import ClassTarget

from tiny_models import cam_model

IMAGE = np.array([[[10, 0, 7], [40, 100, 9]], [[200, 50, 3], [0, 30, 1]]], np.uint8)


class Brightness(Method):
    """A stand-in for "one small file": the input's brightness as the map."""

    name = "brightness"
    title = "Brightness"
    resolution = "input"
    needs = frozenset()
    paper = "none (a test)"

    def explain(self, request: Request) -> np.ndarray:
        pixels = request.image.pixels.mean(axis=-1)
        return (pixels / max(float(pixels.max()), 1.0)).astype(np.float32)


def test_every_method_a_user_can_pick_is_registered_with_what_it_needs():
    assert list(METHODS) == ["gradcam", "gradcam++", "layercam", "eigencam", "scorecam",
                             "saliency", "smoothgrad", "guided backprop", "guided gradcam",
                             "deconvnet"]
    slow = {name for name, cls in METHODS.items() if cls.slow}
    assert slow == {"scorecam", "smoothgrad"}
    at_input = {name for name, cls in METHODS.items() if cls.resolution == "input"}
    assert at_input == {"saliency", "smoothgrad", "guided backprop", "guided gradcam",
                        "deconvnet"}
    assert METHODS["scorecam"].needs == {"activations", "scorer", "passes"}
    assert "gradients" not in METHODS["eigencam"].needs
    for cls in METHODS.values():
        assert cls.title and "20" in cls.paper  # each cites its paper (year)


def test_a_new_method_is_one_class_and_one_registry_line(monkeypatch, capsys):
    monkeypatch.setitem(METHODS, "brightness", Brightness)
    probe = ActivationProbe(cam_model(channels=3))
    result = probe.cam(IMAGE, "conv", 0, "brightness")
    np.testing.assert_allclose(result.map, IMAGE.mean(axis=-1) / IMAGE.mean(axis=-1).max(),
                               rtol=1e-6)
    overlay = CAMOverlay(probe, image=IMAGE, method="brightness")
    assert ("Brightness", "brightness") in overlay.method_picker.options
    assert "⚠" not in overlay.status_line.value
    assert main(["faithfulness", "--scenes", "1"]) == 0
    rows = [line[:16].strip() for line in capsys.readouterr().out.splitlines()[2:]]
    assert "brightness" in rows and rows == list(METHODS)


def test_score_cam_is_a_method_whose_scorer_is_traced_once_per_model():
    probe = ActivationProbe(zoo.load_model("shapes"))
    star = zoo.load_image("star")
    progress = []
    first = probe.cam(star, "block4_conv2", 3, "scorecam",
                      progress=lambda done, total: progress.append((done, total)))
    assert first.map.shape == (16, 16) and progress == [(32, 64), (64, 64)]
    probe.cam(star, "block3_conv1", 0, "scorecam")
    scorer = probe.explainer().scorer()
    assert scorer.traces == 1 and scorer.calls == 4
    assert probe.cam(star, "block4_conv2", 3, "scorecam") is first  # cached: no pass


def test_a_cancelled_slow_method_stops_between_batches_and_caches_nothing():
    probe = ActivationProbe(zoo.load_model("shapes"))
    star = zoo.load_image("star")
    with pytest.raises(Cancelled):
        probe.cam(star, "block4_conv2", 3, "scorecam", cancel=lambda: True)
    assert probe.explainer().scorer().calls == 1
    assert probe.explainer().cached(star, "block4_conv2", 3, "scorecam") is None


def test_unknown_methods_and_layers_without_maps_are_one_sentence():
    probe = ActivationProbe(cam_model(channels=3))
    with pytest.raises(ValueError, match=r"^unknown explanation method 'magic'; use one of "):
        probe.cam(IMAGE, "conv", 0, "magic")
    with pytest.raises(ValueError, match=r"^layer 'predictions' \(Dense\) has no feature maps"):
        probe.cam(IMAGE, "predictions", 0, "scorecam")
    assert get_method("gradcam").name == "gradcam"
    assert probe.cam(IMAGE, "conv", ClassTarget(1), "gradcam").target == ClassTarget(1)
