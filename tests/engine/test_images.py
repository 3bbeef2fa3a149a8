"""Image inputs: every accepted form, and one clear sentence for every bad one."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convviz_widgets.engine.images import prepare_image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


ROOT = str(Path(__file__).resolve().parents[2])
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


def encoded(picture: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_prepare_image_of_none_is_one_sentence():
    with pytest.raises(ValueError, match=r"^no image was given \(None\); pass .*\.$"):
        prepare_image(None)


# -- bit depth ---------------------------------------------------------------------------------
def test_a_16_bit_png_is_scaled_from_0_65535_to_0_255(tmp_path):
    values = np.array([[0, 257, 65535], [128 * 257, 1000, 2 * 257]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    image = prepare_image(path)
    expected = np.array([[0, 1, 255], [128, 1000 / 257, 2]], np.float32)  # value / 257
    np.testing.assert_array_equal(image.pixels[..., 0], expected)
    np.testing.assert_array_equal(image.pixels[..., 0], image.pixels[..., 2])
    assert image.display[0, 2, 0] == 255 and image.display[1, 1, 0] == 4  # 3.89 rounds to 4


@pytest.mark.parametrize(
    ("values", "expected"),
    [([[0.0, 0.5, 1.0]], [[0.0, 127.5, 255.0]]),  # [0, 1]: scaled
     ([[0.0, 100.0, 255.0]], [[0.0, 100.0, 255.0]])],  # [0, 255]: kept
)
def test_a_float_tiff_is_read_on_its_own_scale(tmp_path, values, expected):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array(values, np.float32)).save(path)
    assert Image.open(path).mode == "F"
    np.testing.assert_array_equal(prepare_image(path).pixels[..., 1], expected)


@pytest.mark.parametrize(
    ("picture", "message"),
    [(Image.fromarray(np.array([[-1.0, 300.0]], np.float32)),
      r"values from -1 to 300, outside 0–255: save it with values in \[0, 1\] or \[0, 255\]"),
     (Image.fromarray(np.array([[0, 70000]], np.int32)),
      r"32-bit integer pixels .* save it with 8 or 16 bits per channel")],
)
def test_a_tiff_without_a_standard_scale_is_refused(picture, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(encoded(picture, "TIFF"))


# -- alpha, colour modes and other conversions -------------------------------------------------
RGBA = np.array([[[10, 20, 30, 255], [10, 20, 30, 0], [200, 100, 0, 51]]], np.uint8)
# Over white: colour × a + 255 × (1 − a), a = alpha / 255 (51 / 255 = 0.2).
OVER_WHITE = np.array([[[10, 20, 30], [255, 255, 255], [244, 224, 204]]], np.float32)


def test_alpha_is_composited_over_white_and_said_for_every_source(tmp_path):
    path = tmp_path / "clear.png"
    Image.fromarray(RGBA).save(path)
    for source in (RGBA, RGBA / 255.0, Image.fromarray(RGBA), path, path.read_bytes()):
        image = prepare_image(source)
        np.testing.assert_allclose(image.pixels, OVER_WHITE, atol=1e-4)
        assert image.note == "the alpha channel was dropped (transparent pixels composited over " \
                             "white)"


def test_palette_transparency_is_composited_too():
    picture = Image.new("P", (2, 1))
    picture.putpalette([0, 0, 0, 255, 0, 0])
    picture.putpixel((1, 0), 1)
    image = prepare_image(encoded(picture, transparency=0))
    np.testing.assert_array_equal(image.pixels, [[[255, 255, 255], [255, 0, 0]]])
    assert "composited over white" in image.note


def test_an_opaque_palette_or_rgb_image_needs_no_note():
    picture = Image.new("P", (2, 1))
    picture.putpalette([0, 0, 0, 255, 0, 0])
    picture.putpixel((1, 0), 1)
    image = prepare_image(encoded(picture))
    np.testing.assert_array_equal(image.pixels, [[[0, 0, 0], [255, 0, 0]]])
    assert image.note is None and prepare_image(RGB).note is None


def test_gray_and_colour_files_are_converted_to_the_models_mode_and_said():
    gray = prepare_image(png_bytes(RGB[..., 0]))
    np.testing.assert_array_equal(gray.pixels, np.repeat(RGB[..., :1], 3, axis=2))
    assert gray.note == "the grayscale image was copied into the R, G and B channels"
    red = prepare_image(encoded(Image.new("RGB", (2, 1), (255, 0, 0))), channels=1)
    np.testing.assert_allclose(red.pixels, np.full((1, 2, 1), 0.299 * 255), rtol=1e-6)
    assert "converted to grayscale" in red.note
    same = prepare_image(png_bytes(RGB[..., 0]), channels=1)  # already gray: nothing to say
    np.testing.assert_array_equal(same.pixels[..., 0], RGB[..., 0])
    assert same.note is None


def test_an_rgba_array_for_a_grayscale_model_is_still_an_error():
    with pytest.raises(ValueError, match="has 4 channels but the model expects 1"):
        prepare_image(RGBA, channels=1)


def test_exif_orientation_and_animation_are_applied_and_said():
    tall = Image.new("RGB", (3, 2), (0, 0, 0))
    exif = tall.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    upright = prepare_image(encoded(tall, "JPEG", exif=exif.tobytes()))
    assert upright.shape == (3, 2, 3) and "EXIF orientation" in upright.note
    frames = [Image.new("RGB", (2, 2), (80 * i, 0, 0)) for i in range(3)]
    animated = prepare_image(encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    assert animated.note == "only the first frame of the animation was used"


# -- size cap ----------------------------------------------------------------------------------
def black_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG written by hand: 30000 × 30000 is about 109 KB (0.3 s)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then 8 pixels a byte
    compressor = zlib.compressobj(9)
    rows = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    data = b"".join([*rows, compressor.compress(row * (height % 1000)), compressor.flush()])
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", data),
                     chunk(b"IEND", b"")])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    for side in (12000, 30000):
        (folder / f"{side}.png").write_bytes(black_png(side, side))
    return folder


# Run in a fresh interpreter: ru_maxrss is the process's peak, and Pillow's pixel buffers are
# not seen by tracemalloc.
PEAK_SCRIPT = """
import resource, sys
from convviz_widgets.engine.images import prepare_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sys.argv[1:]:
    try:
        prepare_image(path)
    except ValueError as err:
        print(err)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_huge_images_are_refused_from_their_header_without_decoding(bombs):
    paths = [str(bombs / "12000.png"), str(bombs / "30000.png")]
    assert (bombs / "30000.png").stat().st_size < 120_000
    run = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, *paths], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    *errors, megabytes = run.stdout.splitlines()
    assert run.returncode == 0, run.stderr
    assert errors[0].endswith("is 12000×12000 pixels (144.0 megapixels), more than the limit of "
                              "50 megapixels; scale it down first (or raise "
                              "convviz_widgets.engine.images.MAX_IMAGE_PIXELS).")
    assert "900.0 megapixels, more than the limit of 50 megapixels" in errors[1]
    assert int(megabytes) < 20, "the pixels were decoded"


def test_the_size_limit_applies_to_every_source_and_can_be_changed(monkeypatch, tmp_path):
    from convviz_widgets.engine import images

    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 23)  # RGB is 4 × 6 = 24 pixels
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(RGB))
    for source in (RGB, Image.fromarray(RGB), path, png_bytes(RGB)):
        with pytest.raises(ValueError, match=r"is 6×4 pixels \(0.0 megapixels\), more than the "
                                             r"limit of 2.3e-05 megapixels"):
            prepare_image(source)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 24)
    assert prepare_image(path).shape == (4, 6, 3)


# -- edges that the tests above do not reach (found by `make mutate`) ------------------------
def signed_16_bit_tiff(values: np.ndarray) -> bytes:
    """A one-strip grayscale TIFF of signed 16-bit pixels, written by hand (TIFF 6.0 §2, §19):
    Pillow opens it as mode "I" with 16 bits per sample."""
    height, width = values.shape
    pixels = values.astype("<i2").tobytes()
    tags = [(256, 3, width), (257, 3, height), (258, 3, 16), (259, 3, 1), (262, 3, 1),
            (273, 4, 8), (277, 3, 1), (278, 3, height), (279, 4, len(pixels)), (339, 3, 2)]
    directory = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else
                                             struct.pack("<I", value))
        for tag, kind, value in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + len(pixels)) + pixels + directory


def test_16_bit_tiffs_signed_or_not_are_scaled_from_0_65535():
    values = np.array([[0, 257, 32767]], np.int32)
    signed = Image.open(io.BytesIO(signed_16_bit_tiff(values)))
    assert signed.mode == "I" and signed.format == "TIFF"
    expected = np.array([[0, 1, 32767 / 257]], np.float32)
    np.testing.assert_array_equal(prepare_image(signed_16_bit_tiff(values)).pixels[..., 0],
                                  expected)
    unsigned = encoded(Image.fromarray(values.astype(np.uint16)), "TIFF")
    assert Image.open(io.BytesIO(unsigned)).mode == "I;16"
    np.testing.assert_array_equal(prepare_image(unsigned).pixels[..., 0], expected)
    with pytest.raises(ValueError, match=r"stores 16-bit integer pixels \(mode I\), which have no "
                                         "standard brightness scale"):
        prepare_image(signed_16_bit_tiff(np.array([[-5, 0, 300]])))


def test_an_integer_pil_image_without_a_file_format_is_refused():
    picture = Image.fromarray(np.array([[0, 300]], np.int32))
    with pytest.raises(ValueError, match=r"stores 32-bit integer pixels \(mode I\)"):
        prepare_image(picture)


def test_float_arrays_a_little_over_1_are_on_the_0_255_scale_and_over_255_refused():
    dim = np.array([[0.0, 1.5]], np.float32)
    np.testing.assert_array_equal(prepare_image(dim, channels=1).pixels[..., 0], dim)
    with pytest.raises(ValueError, match=r"values from 0 to 255\.5, outside 0–255"):
        prepare_image(np.array([[0.0, 255.5]], np.float32), channels=1)


@pytest.mark.parametrize("values", [[-1, 0], [0, 256], [-300, 300]])
def test_integer_arrays_outside_0_255_are_refused(values):
    with pytest.raises(ValueError, match="outside 0–255"):
        prepare_image(np.array([values], np.int16), channels=1)


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((2, 2, 4), np.uint8), "has 4 channels but the model expects 1"),
    (np.zeros((2, 2), np.complex64), "must be real numbers, got dtype complex64"),
    (np.zeros((2, 2), bool), "must be real numbers, got dtype bool"),
])
def test_arrays_a_grayscale_model_cannot_take(array, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(array, channels=1)


def test_anything_with_an_array_interface_is_an_array():
    import tensorflow as tf

    image = prepare_image(tf.constant(RGB))
    np.testing.assert_array_equal(image.pixels, RGB)


def test_files_for_a_model_of_two_channels_are_refused_whatever_their_mode():
    for picture in (Image.fromarray(RGB), Image.fromarray(RGB[..., 0])):
        with pytest.raises(ValueError, match="the model expects 2 channels but an image file"):
            prepare_image(encoded(picture), channels=2)


def test_a_gray_picture_stored_as_rgb_needs_no_note_for_a_grayscale_model():
    gray = np.repeat(RGB[..., :1], 3, axis=2)
    image = prepare_image(encoded(Image.fromarray(gray)), channels=1)
    assert image.shape == (4, 6, 1) and image.note is None
    np.testing.assert_array_equal(image.pixels[..., 0], RGB[..., 0])


def test_files_of_any_shape_decode_to_their_own_rows_and_columns():
    tall = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    np.testing.assert_array_equal(prepare_image(encoded(Image.fromarray(tall))).pixels, tall)
    gray = prepare_image(encoded(Image.fromarray(tall[..., 0])), channels=1)
    np.testing.assert_array_equal(gray.pixels[..., 0], tall[..., 0])


def test_colour_modes_other_than_rgb_are_converted_and_said():
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 0, 0))  # no cyan, full magenta: pure magenta
    image = prepare_image(cmyk)
    assert image.note == "its CMYK colours were converted to RGB"
    assert image.display[0, 0].tolist() == [255, 0, 255]


def test_a_truncated_file_is_a_decoding_error(tmp_path):
    data = png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^could not decode the uploaded data as an image"):
        prepare_image(data[: len(data) // 2])


def test_an_empty_file_is_said_to_be_empty(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty; choose a PNG or JPEG file"):
        prepare_image(path)
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="could not decode"):
        prepare_image(path)


def test_prepared_pixels_are_read_only_and_keyed_by_shape_dtype_and_content():
    from convviz_widgets.engine.images import fingerprint

    image = prepare_image(RGB)
    assert not image.pixels.flags.writeable
    assert len(image.key) == 32  # 128 bits in hex
    flat = np.zeros(12, np.uint8)
    keys = {fingerprint(flat), fingerprint(flat.reshape(3, 4)), fingerprint(flat.view(np.int8)),
            fingerprint(np.zeros(3, np.float32))}  # the same twelve zero bytes, four ways
    assert len(keys) == 4


def test_the_requested_size_is_height_then_width_and_none_keeps_a_side():
    image = np.zeros((10, 20, 3), np.uint8)
    assert prepare_image(image, size=(8, 12)).shape == (8, 12, 3)
    assert prepare_image(image, size=(8, None)).shape == (8, 20, 3)
    assert prepare_image(image, size=(None, 12)).shape == (10, 12, 3)


@pytest.mark.parametrize(("size", "stretched"), [
    ((5, 10), False),  # the same aspect ratio
    ((11, 20), False),  # within a pixel of it at the image's scale (|20·11 − 10·20| = 20)
    ((12, 20), True),  # beyond it (40 > 20)
    ((10, 19), False), ((10, 21), False), ((10, 10), True),
])
def test_a_stretch_is_said_only_beyond_a_pixels_rounding(size, stretched):
    note = prepare_image(np.zeros((10, 20, 3), np.uint8), size=size).note
    assert (note is not None and "was stretched" in note) == stretched


def test_no_warning_escapes_for_an_image_between_pillows_two_limits(monkeypatch):
    import warnings

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # Pillow warns above 20, refuses above 40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_image(png_bytes(RGB)).shape == (4, 6, 3)  # 24 pixels


def test_pillows_bomb_refusal_names_pillows_limit_or_ours(monkeypatch):
    from convviz_widgets.engine import images

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # refused above 20 pixels
    with pytest.raises(ValueError, match=r"^the uploaded data is 0.0 megapixels, more than "
                                         r"Pillow's decompression-bomb limit of 2e-05 megapixels;"
                                         r".*"
                                         r"PIL.Image.MAX_IMAGE_PIXELS\)\.$"):
        prepare_image(png_bytes(RGB))
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 12)
    with pytest.raises(ValueError, match=r"more than the limit of 1.2e-05 megapixels"):
        prepare_image(png_bytes(RGB))


def test_the_default_size_limit_is_50_megapixels():
    one_over = np.zeros((1, 50_000_001, 1), np.uint8)  # not touched: the header is enough
    with pytest.raises(ValueError, match=r"more than the limit of 50 megapixels"):
        prepare_image(one_over, channels=1)


def test_colour_files_for_a_grayscale_model_use_the_luma_weights():
    colours = np.array([[[200, 100, 50], [10, 240, 90]]], np.uint8)
    gray = prepare_image(encoded(Image.fromarray(colours)), channels=1)
    expected = colours.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(gray.pixels[..., 0], expected, rtol=1e-6)


@pytest.mark.parametrize(("channels", "array", "message"), [
    (3, np.zeros((2, 2, 2), np.uint8), r"^the image has 2 channels but the model expects 3; "),
    (2, np.zeros((2, 2), np.uint8), r"^the image has 1 channels but the model expects 2; "),
])
def test_only_a_gray_image_for_an_rgb_model_is_called_grayscale(channels, array, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(array, channels=channels)
