"""The bundled model, class names and sample images: shipped, offline, and good enough."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convviz_widgets import zoo
from convviz_widgets.zoo import shapes
from convviz_widgets.zoo.train import EVAL_SEED_BASE, TRAIN_SEED_BASE, train

# Seeds far from both the training and the reported evaluation seeds: images the model never saw.
FRESH_SEED = 7_777_777


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def test_the_shipped_model_scores_at_least_95_percent_on_fresh_images(shapes_model):
    assert FRESH_SEED not in (TRAIN_SEED_BASE, EVAL_SEED_BASE)
    images, labels = shapes.make_dataset(1000, seed=FRESH_SEED)
    predicted = shapes_model.predict(images, batch_size=250, verbose=0).argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f} on fresh shapes"
    for index in range(len(shapes.SHAPE_CLASSES)):
        assert (predicted[labels == index] == index).mean() >= 0.85, shapes.SHAPE_CLASSES[index]


def test_every_shape_sample_is_classified_as_its_own_class(shapes_model):
    names = zoo.class_names("shapes")
    batch = np.stack([zoo.load_image(name) for name in names])
    assert shapes_model.predict(batch, verbose=0).argmax(axis=1).tolist() == list(range(5))


def test_the_circle_model_says_whether_there_is_a_circle():
    model = zoo.load_model("shapes_circle")
    assert model.output_shape == (None, 1)
    assert model.layers[-1].get_config()["activation"] == "sigmoid"
    assert zoo.class_names("shapes_circle") == ["circle", "no circle"]
    images, labels = shapes.make_dataset(1000, seed=FRESH_SEED)
    has_circle = labels == shapes.SHAPE_CLASSES.index("circle")
    says_circle = model.predict(images, batch_size=250, verbose=0)[:, 0] > 0.5
    assert (says_circle == has_circle).mean() >= 0.95
    assert says_circle[has_circle].mean() >= 0.9, "recall on circles"


def test_imagenet_class_names_follow_the_keras_applications_order():
    rows = json.loads((zoo._DATA / "imagenet_classes.json").read_text(encoding="utf-8"))
    wnids = [wnid for wnid, _ in rows]
    assert len(wnids) == 1000 == len(set(wnids)) and wnids == sorted(wnids)
    names = zoo.class_names("imagenet")
    assert names[0] == "tench" and names[281] == "tabby" and names[386] == "African elephant"
    assert "`imagenet_classes.json`" in (zoo._DATA / "PROVENANCE.md").read_text()


def test_the_shipped_model_has_the_documented_layout(shapes_model):
    names = [layer.name for layer in shapes_model.layers]
    assert names[:5] == ["image", "rescaling", "block1_conv1", "block1_conv2", "block1_pool"]
    assert "block4_conv2" in names
    assert shapes_model.input_shape == (None, 64, 64, 3)
    assert shapes_model.output_shape == (None, len(zoo.class_names("shapes")))
    assert shapes_model.layers[-1].get_config()["activation"] == "softmax"


def test_each_load_is_an_independent_copy(shapes_model):
    other = zoo.load_model("shapes")
    assert other is not shapes_model
    kernel = other.get_layer("block1_conv1").kernel
    kernel.assign(np.zeros(kernel.shape, np.float32))
    assert np.abs(shapes_model.get_layer("block1_conv1").get_weights()[0]).sum() > 0


@pytest.mark.parametrize("name", zoo._MODELS)
def test_the_weights_stay_small(name):
    """The bundled models' files (the ImageNet models are not bundled: they come from Keras)."""
    size = (zoo._DATA / f"{name}.keras").stat().st_size
    assert size < 3 * 2**20, f"{size} bytes"


def test_photos_load_as_rgb_uint8_and_have_a_licence_note():
    licence = (zoo._IMAGES / "PROVENANCE.md").read_text(encoding="utf-8")
    for name in ("cat", "coffee", "astronaut", "rocket"):
        assert name in zoo.image_names()
        image = zoo.load_image(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) == 320 and image.std() > 20
        assert f"`{name}.jpg`" in licence


@pytest.mark.parametrize("call", [zoo.load_image, zoo.load_model, zoo.class_names])
def test_unknown_names_are_clear_errors(call):
    with pytest.raises(ValueError, match="choose one of"):
        call("no-such-thing")


@pytest.mark.slow
def test_the_training_script_runs_end_to_end_in_quick_mode(tmp_path):
    metrics = train(out_dir=tmp_path, quick=True, verbose=False)
    assert metrics["epochs"] == 1 and metrics["n_eval"] == 200 and metrics["task"] == "shapes"
    assert 0.0 <= metrics["accuracy"] <= 1.0 and np.isfinite(metrics["loss"])
    assert json.loads((tmp_path / "shapes_classes.json").read_text()) == list(
        shapes.SHAPE_CLASSES)
    import keras

    reloaded = keras.saving.load_model(tmp_path / "shapes.keras", compile=False)
    x, y = shapes.make_dataset(200, seed=EVAL_SEED_BASE)
    accuracy = float((reloaded.predict(x, verbose=0).argmax(axis=1) == y).mean())
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-9)


@pytest.mark.slow
def test_the_training_script_trains_the_sigmoid_model_in_quick_mode(tmp_path):
    metrics = train(out_dir=tmp_path, quick=True, verbose=False, task="circle")
    import keras

    reloaded = keras.saving.load_model(tmp_path / "shapes_circle.keras", compile=False)
    assert reloaded.output_shape == (None, 1)
    assert json.loads((tmp_path / "shapes_circle_classes.json").read_text()) == [
        "circle", "no circle"]
    assert 0.0 <= metrics["accuracy"] <= 1.0 and np.isfinite(metrics["loss"])
