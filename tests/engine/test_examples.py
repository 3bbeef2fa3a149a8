"""Dataset examples: exact top-k per channel against a full sort done by hand, thumbnails equal to
the receptive field cut by hand, every kind of source giving the same index, and the index kept
on disk (resumed after a stop, refused for other weights)."""

from __future__ import annotations

import json
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from convviz_widgets.engine.examples import OUTSIDE, build_index, load_index
from convviz_widgets.engine.images import prepare_image

N = 50


def window_model(padding: str = "valid") -> keras.Model:
    """(6, 6, 3) → "pixels": 1×1 identity (channel c is colour c) → "windows": 3×3 sums of each
    channel on its own (a depthwise kernel of ones), so its receptive field is 3×3."""
    inputs = keras.Input((6, 6, 3))
    pixels = keras.layers.Conv2D(3, 1, name="pixels", use_bias=False,
                                 kernel_initializer=keras.initializers.Constant(
                                     np.eye(3, dtype=np.float32)[None, None]))(inputs)
    windows = keras.layers.DepthwiseConv2D(3, name="windows", padding=padding, use_bias=False,
                                           depthwise_initializer="ones")(pixels)
    outputs = keras.layers.Dense(2, name="scores")(keras.layers.GlobalAveragePooling2D()(windows))
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model():
    return window_model()


@pytest.fixture(scope="module")
def images():
    images = np.random.default_rng(7).integers(0, 256, (N, 6, 6, 3), dtype=np.uint8)
    images[3] = 255  # the brightest image, and image 10 the same: a tie the earlier one wins
    images[10] = images[3]
    return images


def window_sums(images: np.ndarray) -> np.ndarray:
    """(N, 4, 4, 3) sums of 3×3 windows, by hand."""
    x = images.astype(np.float64)
    return sum(x[:, dy : dy + 4, dx : dx + 4] for dy in range(3) for dx in range(3))


def top_k_by_hand(maps: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel: the k largest image maxima (ties to the earlier image), their images and
    the first (row-major) position of each maximum."""
    count, height, width, channels = maps.shape
    flat = maps.reshape(count, height * width, channels)
    maxima = flat.max(axis=1)
    first = flat.argmax(axis=1)
    ids = np.stack([sorted(range(count), key=lambda i, c=c: (-maxima[i, c], i))[:k]
                    for c in range(channels)])
    values = np.take_along_axis(maxima.T, ids, axis=1)
    where = np.take_along_axis(first.T, ids, axis=1)
    return values, ids, np.stack(np.divmod(where, width), axis=-1)


@pytest.mark.parametrize("batch_size", [64, 7])
def test_the_top_k_equal_a_full_sort_of_every_images_maximum(model, images, batch_size):
    index = build_index(model, images, k=4, batch_size=batch_size)
    assert index.seen == N and index.complete and index.skipped == 0
    for layer, maps in (("pixels", images.astype(np.float64)), ("windows", window_sums(images))):
        values, ids, positions = top_k_by_hand(maps, 4)
        found = index.layer(layer)
        np.testing.assert_array_equal(found.ids, ids, err_msg=layer)
        np.testing.assert_array_equal(found.values, values, err_msg=layer)
        np.testing.assert_array_equal(found.positions, positions, err_msg=layer)
    np.testing.assert_array_equal(index.layer("windows").ids[:, :2], [[3, 10]] * 3)


def test_thumbnails_are_the_receptive_field_cut_from_the_image(model, images):
    index = build_index(model, images, k=3)
    for channel in range(3):
        for example in index.examples("windows", channel):
            row, column = example.position
            assert example.box == (row, column, row + 3, column + 3)
            np.testing.assert_array_equal(
                example.crop, images[example.image, row : row + 3, column : column + 3])
        for example in index.examples("pixels", channel):
            assert example.crop.shape == (1, 1, 3)
            np.testing.assert_array_equal(example.crop[0, 0],
                                          images[example.image][example.position])


def test_fields_past_the_border_are_grey_and_boxes_clipped():
    images = np.zeros((2, 6, 6, 3), np.uint8)
    images[1, 0, 0] = 255  # the top-left corner: its field under "same" padding leaves the image
    index = build_index(window_model("same"), images, layers=["windows"], k=1)
    example = index.examples("windows", 0)[0]
    assert (example.image, example.position, example.box) == (1, (0, 0), (0, 0, 2, 2))
    expected = np.full((3, 3, 3), OUTSIDE, np.uint8)
    expected[1:, 1:] = images[1, :2, :2]
    np.testing.assert_array_equal(example.crop, expected)


def test_large_fields_are_shrunk_to_the_thumbnail_size(images):
    inputs = keras.Input((6, 6, 3))
    wide = keras.layers.Conv2D(2, 6, name="wide")(inputs)  # one cell seeing the whole image
    index = build_index(keras.Model(inputs, wide), images, k=1, thumbnail=3)
    example = index.examples("wide", 0)[0]
    np.testing.assert_array_equal(example.crop, images[example.image, 1::2, 1::2])


def test_every_kind_of_source_gives_the_same_index(model, images, tmp_path):
    expected = build_index(model, images, k=3)
    folder = tmp_path / "pictures"
    (folder / "more").mkdir(parents=True)
    for i, image in enumerate(images):
        place = folder / "more" if i % 2 else folder
        Image.fromarray(image).save(place / f"{i:03d}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    (folder / "notes.txt").write_text("not an image at all")
    pairs = tf.data.Dataset.from_tensor_slices((images, np.arange(N)))
    sources = {
        "floats in [0, 1]": images.astype(np.float32) / 255.0,
        "tf.data pairs": pairs,
        "tf.data batches": tf.data.Dataset.from_tensor_slices(images).batch(8),
        "list": list(images),
        "generator": (image for image in images),
    }
    for name, source in sources.items():
        found = build_index(model, source, k=3)
        assert found.seen == N, name
        for layer in ("pixels", "windows"):
            np.testing.assert_array_equal(found.layer(layer).ids, expected.layer(layer).ids,
                                          err_msg=name)
            np.testing.assert_array_equal(found.layer(layer).crops,
                                          expected.layer(layer).crops, err_msg=name)
    from_folder = build_index(model, folder, k=3)
    assert (from_folder.seen, from_folder.skipped) == (N, 1)
    # Sorted paths: "000.png", "002.png", …, then "more/001.png", …: map them back.
    order = [int(name.rsplit("/", 1)[-1][:3]) for name in from_folder.names]
    for layer in ("pixels", "windows"):
        found = from_folder.layer(layer)
        np.testing.assert_array_equal(found.values, expected.layer(layer).values)
        for channel in range(3):
            for example in from_folder.examples(layer, channel):
                assert example.name.endswith(f"{order[example.image]:03d}.png")


def test_a_resized_source_is_indexed_at_the_models_size(model, images):
    large = np.repeat(np.repeat(images[:4], 2, axis=1), 2, axis=2)  # 12×12, nearest doubling
    index = build_index(model, large, k=1, layers=["pixels"])
    assert index.seen == 4 and index.examples("pixels", 0)[0].crop.shape == (1, 1, 3)


def test_saved_and_loaded_the_index_is_the_same(model, images, tmp_path):
    index = build_index(model, images, k=3, folder=tmp_path / "index")
    manifest = json.loads((tmp_path / "index" / "index.json").read_text())
    assert manifest["format"] == "convviz-examples v1" and manifest["complete"]
    assert [layer["path"] for layer in manifest["layers"]] == ["pixels", "windows"]
    loaded = load_index(tmp_path / "index", model)
    for layer in ("pixels", "windows"):
        for name in ("values", "ids", "positions", "boxes", "crops"):
            np.testing.assert_array_equal(getattr(loaded.layer(layer), name),
                                          getattr(index.layer(layer), name))
    assert loaded.layer("windows").field == index.layer("windows").field


def test_a_stopped_build_resumes_and_a_complete_one_returns_at_once(model, images, tmp_path):
    folder = tmp_path / "resumable"
    stop = threading.Event()
    partial = build_index(model, images, k=3, batch_size=16, folder=folder, cancel=stop,
                          progress=lambda seen, total: stop.set())
    # Stopped once the first batch was merged; the second was already running: it is kept.
    assert (partial.seen, partial.complete) == (32, False)
    assert json.loads((folder / "index.json").read_text())["seen"] == 32
    calls = []
    resumed = build_index(model, images, k=3, batch_size=16, folder=folder,
                          progress=lambda seen, total: calls.append(seen))
    assert calls == [48, 50] and resumed.complete
    whole = build_index(model, images, k=3)
    for layer in ("pixels", "windows"):
        np.testing.assert_array_equal(resumed.layer(layer).ids, whole.layer(layer).ids)
        np.testing.assert_array_equal(resumed.layer(layer).crops, whole.layer(layer).crops)
    calls.clear()
    again = build_index(model, images, k=3, batch_size=16, folder=folder,
                        progress=lambda seen, total: calls.append(seen))
    assert calls == [] and again.complete


def test_an_index_of_other_weights_or_data_is_rebuilt_or_refused(model, images, tmp_path):
    folder = tmp_path / "index"
    build_index(model, images, k=2, folder=folder)
    other = window_model()
    other.get_layer("pixels").set_weights([np.eye(3, dtype=np.float32)[None, None] * 2])
    with pytest.raises(ValueError, match="built with other weights than this model's"):
        load_index(folder, other)
    rebuilt = build_index(other, images, k=2, folder=folder)
    assert rebuilt.layer("pixels").values[0, 0] == 2.0 * images[..., 0].max()
    assert load_index(folder, other).weights == rebuilt.weights


@pytest.mark.parametrize(("arguments", "message"), [
    ({"k": 0}, r"^k must be a whole number of at least 1, got 0\.$"),
    ({"layers": ["scores"]}, r"has no feature maps to index"),
    ({"layers": ["nowhere"]}, r"nowhere"),
    ({"data": np.zeros((0, 6, 6, 3), np.uint8)}, r"holds no image the model can take"),
    ({"data": np.zeros((6, 6, 3), np.uint8)}, r"must have shape \(N, height, width, channels\)"),
    ({"data": 42}, r"^cannot index a int; give a folder of images"),
    ({"data": "/no/such/folder"}, r"^no folder at '/no/such/folder'"),
    ({"data": np.full((2, 6, 6, 3), 300.0)}, r"values from 300 to 300, outside 0–255"),
])
def test_bad_arguments_are_one_sentence(model, images, arguments, message):
    options = {"data": images, **arguments}
    data = options.pop("data")
    with pytest.raises(ValueError, match=message):
        build_index(model, data, **options)


def test_a_folder_without_an_index_or_with_a_broken_one_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="no dataset-examples index in"):
        load_index(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot be read .*; build it again"):
        load_index(tmp_path)


def test_a_stopped_build_of_a_batched_stream_resumes_inside_a_batch(model, images, tmp_path):
    batched = tf.data.Dataset.from_tensor_slices(images).batch(12)  # 12 does not divide 16
    folder = tmp_path / "stream"
    stop = threading.Event()
    partial = build_index(model, batched, k=3, batch_size=16, folder=folder, cancel=stop,
                          dataset_key="shapes-50", progress=lambda seen, total: stop.set())
    assert not partial.complete and partial.seen == 32
    resumed = build_index(model, batched, k=3, batch_size=16, folder=folder,
                          dataset_key="shapes-50")
    whole = build_index(model, images, k=3)
    assert resumed.complete and resumed.seen == N
    for layer in ("pixels", "windows"):
        np.testing.assert_array_equal(resumed.layer(layer).ids, whole.layer(layer).ids)


def test_an_empty_folder_and_one_of_unreadable_files_are_one_sentence(model, tmp_path):
    empty = tmp_path / "empty"
    (empty / "nested").mkdir(parents=True)
    (empty / "notes.txt").write_text("not an image file")
    with pytest.raises(ValueError, match=r"^the folder '.*empty' holds no image files \(\.png"):
        build_index(model, empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a picture")
    (broken / "b.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"^none of the data set's 2 files could be read as an "
                                         r"image; give files the model can take"):
        build_index(model, broken)


def test_a_folder_of_mixed_sizes_and_modes_is_converted_resized_and_counted(model, images,
                                                                            tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    opaque = np.dstack([images[0], np.full((6, 6), 255, np.uint8)])
    Image.fromarray(opaque, "RGBA").save(folder / "a_rgba.png")
    Image.fromarray(images[1, :, :, 0], "L").save(folder / "b_gray.png")
    Image.fromarray(images[2].repeat(2, axis=0).repeat(2, axis=1)).save(folder / "c_large.png")
    Image.fromarray(images[3, :, :, 1].astype(np.uint16) * 257).save(folder / "d_16bit.png")
    Image.fromarray(images[4]).save(folder / "e.jpg", quality=95)
    (folder / "f_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    index = build_index(model, folder, k=2)
    assert (index.seen, index.skipped, index.complete) == (5, 1, True)
    # Each file as the widgets show it: read, converted to RGB and resized to 6×6.
    shown = np.stack([prepare_image(folder / name, size=(6, 6), channels=3).display
                      for name in index.names])
    np.testing.assert_array_equal(shown[0], images[0])  # opaque RGBA: its RGB
    np.testing.assert_array_equal(shown[1], images[1, :, :, :1].repeat(3, axis=2))  # gray
    expected = build_index(model, shown, k=2)
    for layer in ("pixels", "windows"):
        np.testing.assert_array_equal(index.layer(layer).ids, expected.layer(layer).ids)
        np.testing.assert_array_equal(index.layer(layer).crops, expected.layer(layer).crops)
