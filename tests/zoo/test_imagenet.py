"""ImageNet models: weights from Keras' cache with no network, one sentence without cache or
network, random weights only when asked and then said in every widget's status line."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from convviz_widgets import LayerBrowser, zoo
from convviz_widgets.cli import main
from convviz_widgets.zoo import imagenet


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache, and a network that cannot be reached (a proxy on a closed port)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("CONVVIZ_RANDOM_WEIGHTS", raising=False)
    return tmp_path / "keras" / "models"


def write_legacy_weights(model, path) -> None:
    """The layout of the weight files Keras downloads (Keras 2's HDF5: one group per layer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as stored:
        stored.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        stored.attrs["backend"] = b"tensorflow"
        stored.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            group = stored.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights, strict=True):
                group.create_dataset(name.decode(), data=np.asarray(weight))


def test_cached_weights_load_with_no_network(offline):
    source = keras.applications.MobileNetV2(weights=None, name="source")
    write_legacy_weights(source, offline / imagenet.MODELS["mobilenetv2"].weights_file)
    model = zoo.load_model("mobilenetv2")
    assert model.name == "mobilenetv2" and not zoo.has_random_weights(model)
    for got, want in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert zoo.class_names("mobilenetv2")[0] == "tench"
    assert zoo.preprocess("mobilenetv2") is keras.applications.mobilenet_v2.preprocess_input


def test_without_cache_or_network_one_sentence_says_what_to_run(offline):
    with pytest.raises(ValueError, match=r"^MobileNetV2's ImageNet weights \(14 MB\) are not in "
                                         r"Keras' cache .* run `convviz fetch mobilenetv2` where "
                                         r"the internet is reachable"):
        zoo.load_model("mobilenetv2")


def test_random_weights_only_when_asked_and_said_in_the_status_line(offline, monkeypatch):
    model = zoo.load_model("mobilenetv2", weights=None)
    assert zoo.has_random_weights(model)
    monkeypatch.setenv("CONVVIZ_RANDOM_WEIGHTS", "1")  # automated runs without a network
    assert zoo.has_random_weights(zoo.load_model("mobilenetv2"))
    browser = LayerBrowser(model, image="cat", layer="Conv1",
                           preprocess=zoo.preprocess("mobilenetv2"), page_size=16)
    assert browser.status.endswith("random weights (not trained: the pictures mean nothing yet)")


def test_fetch_offline_is_one_line_and_a_failure(offline, capsys):
    assert main(["fetch", "mobilenetv2"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("convviz: MobileNetV2's ImageNet weights")
    assert "Traceback" not in "".join(error)
