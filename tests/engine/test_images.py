"""Image inputs: every accepted form, and one clear sentence for every bad one."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from convviz_widgets.engine.images import prepare_image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


RGB = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)


def test_uint8_array_is_kept_exactly():
    image = prepare_image(RGB)
    np.testing.assert_array_equal(image.display, RGB)
    np.testing.assert_array_equal(image.pixels, RGB.astype(np.float32))


def test_floats_in_unit_range_are_scaled_to_0_255():
    image = prepare_image(RGB / 255.0)
    np.testing.assert_allclose(image.pixels, RGB, atol=1e-4)


def test_pil_image_path_and_bytes_give_the_same_pixels(tmp_path):
    path = tmp_path / "img.png"
    path.write_bytes(png_bytes(RGB))
    keys = {prepare_image(src).key for src in (Image.fromarray(RGB), path, str(path),
                                               png_bytes(RGB), RGB)}
    assert len(keys) == 1


def test_resizing_to_the_model_size_keeps_display_and_pixels_apart():
    image = prepare_image(RGB, size=(8, 12))
    assert image.pixels.shape == (8, 12, 3) and image.display.dtype == np.uint8
    assert prepare_image(RGB, size=(None, None)).shape == (4, 6, 3)


def test_a_leading_batch_of_one_is_dropped():
    assert prepare_image(RGB[None]).shape == (4, 6, 3)


def test_grayscale_array_for_a_grayscale_model():
    assert prepare_image(RGB[..., 0], channels=1).shape == (4, 6, 1)


def test_a_grayscale_file_is_converted_for_an_rgb_model():
    assert prepare_image(png_bytes(RGB[..., 0])).shape == (4, 6, 3)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (RGB[..., 0], "grayscale but the model expects RGB"),
        (np.zeros((4, 6, 4), np.uint8), r"RGBA.*image\[\.\.\., :3\]"),
        (np.zeros((2, 4, 6, 3), np.uint8), "batch of 2 images"),
        (np.zeros((0, 6, 3), np.uint8), "empty"),
        (np.zeros((4,), np.uint8), r"shape \(height, width, channels\)"),
        (np.full((4, 6, 3), np.nan), "NaN"),
        (np.full((4, 6, 3), -100.0), "preprocess="),
        (b"definitely not a png", "could not decode"),
        (b"", "empty"),
        ({"not": "an image"}, "cannot use a dict"),
    ],
)
def test_bad_images_raise_one_clear_sentence(source, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(source)


def test_corrupt_and_missing_files_raise_clear_errors(tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(png_bytes(RGB)[:40])
    with pytest.raises(ValueError, match="could not decode the file"):
        prepare_image(corrupt)
    with pytest.raises(ValueError, match="no image file"):
        prepare_image(tmp_path / "missing.png")
