"""The ``convviz`` command draws each channel where it belongs and reports bad input plainly."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from convviz_widgets import zoo
from convviz_widgets.cli import main
from convviz_widgets.engine.render import decode_png


def test_layers_lists_every_layer_with_kind_and_shape(capsys):
    assert main(["layers", "--model", "shapes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "block1_conv1 (conv) 64×64×16" in lines


def test_render_draws_each_channel_of_a_saved_model_in_its_own_tile(tmp_path):
    from PIL import Image

    from tiny_models import numbered_channels_model

    model = tmp_path / "numbered.keras"
    numbered_channels_model(8).save(model)  # channel c of "numbers" is the constant c
    image = tmp_path / "blank.png"
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(image)
    out = tmp_path / "grid.png"
    assert main(["render", "--model", str(model), "--image", str(image), "--layer", "numbers",
                 "--out", str(out), "--columns", "4", "--tile", "3", "--cmap", "gray",
                 "--norm", "layer"]) == 0
    picture = decode_png(out.read_bytes())
    # 2×3 maps in 2×3 tiles (the longer side is 3), 2 rows of 4, 1-pixel white gaps; over the
    # layer's range [0, 7], channel c is gray level 255 c / 7.
    assert picture.shape == (2 * 3 - 1, 4 * 4 - 1, 3)
    for channel in range(8):
        row, col = divmod(channel, 4)
        tile = picture[row * 3 : row * 3 + 2, col * 4 : col * 4 + 3].astype(int)
        np.testing.assert_allclose(tile, round(255 * channel / 7), atol=1, err_msg=channel)
    np.testing.assert_array_equal(picture[2], 255)
    np.testing.assert_array_equal(picture[:, 3], 255)


def test_a_dense_layer_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["render", "--layer", "predictions", "--out", str(tmp_path / "x.png")]) == 2
    assert "not feature maps" in capsys.readouterr().err


def test_faithfulness_reports_every_method(capsys):
    from convviz_widgets.engine.cam import METHODS

    assert main(["faithfulness", "--scenes", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("shapes, layer block4_conv2, 2 two-shape scenes")
    rows = {line[:16].strip(): line[16:].split() for line in lines[2:]}
    assert set(rows) == set(METHODS)
    for row in rows.values():
        assert row[0].endswith("%") and 0 <= float(row[0][:-1]) <= 100
        assert float(row[1][:-1]) >= float(row[0][:-1])  # the tolerant game hits more
        assert len(row) == 4 + 3  # three randomization steps


def test_precompute_fills_a_folder_that_a_gallery_opens_without_optimizing(tmp_path, capsys,
                                                                          monkeypatch):
    from convviz_widgets import FilterGallery
    from convviz_widgets.engine.featvis import PatternCache

    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "2")
    assert main(["precompute", "--layer", "block1_conv1", "--count", "4", str(tmp_path)]) == 0
    assert "4 patterns of block1_conv1" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*.npz"))) == 4
    gallery = FilterGallery(zoo.load_model("shapes"), layer="block1_conv1", page_size=4,
                            cache=PatternCache(tmp_path))
    assert "4/4 patterns ready" in gallery.status


def one_line(err: str) -> str:
    """The only line on stderr, which must not be a traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["render", "--tile", "0"], "argument --tile: must be a whole number from 1 to 1024, got 0"),
     (["render", "--tile", "-5"], "argument --tile: must be a whole number from 1 to 1024, got -5"),
     (["render", "--tile", "4000"], "from 1 to 1024, got 4000"),
     (["render", "--tile", "big"], "expected a whole number from 1 to 1024, got 'big'"),
     (["render", "--columns", "0"], "argument --columns: must be a whole number of at least 1"),
     (["render", "--columns", "-3"], "argument --columns: must be a whole number of at least 1"),
     (["precompute", "--batch", "-1", "x"], "argument --batch: must be a whole number of at "
                                            "least 1, got -1"),
     (["precompute", "--count", "-1", "x"], "argument --count: must be a whole number of at "
                                            "least 1, got -1"),
     (["precompute", "--count", "0", "x"], "argument --count: must be a whole number of at "
                                           "least 1, got 0"),
     (["precompute", "--first", "-1", "x"], "argument --first: must be a whole number of at "
                                            "least 0, got -1"),
     (["faithfulness", "--scenes", "0"], "argument --scenes: must be a whole number of at least "
                                         "1")],
)
def test_sizes_out_of_range_are_refused_on_one_line(capsys, monkeypatch, tmp_path, argv,
                                                    message):
    monkeypatch.chdir(tmp_path)  # where --out's default would land
    assert main(argv) == 2
    assert list(tmp_path.iterdir()) == []
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"convviz {argv[0]}: argument --") and message in line
    assert line.endswith(f"; see 'convviz {argv[0]} --help'.")


def test_a_grid_over_the_pixel_limit_is_refused_before_rendering(tmp_path, capsys, monkeypatch):
    from convviz_widgets import cli

    # block1_conv1: 16 channels of 64 × 64, 8 columns: 8·65−1 × 2·65−1 = 519 × 129 pixels.
    monkeypatch.setattr(cli, "MAX_GRID_PIXELS", 60_000)
    out = tmp_path / "grid.png"
    assert main(["render", "--layer", "block1_conv1", "--tile", "64", "--out", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (
        "convviz: the grid of 16 channels of 'block1_conv1' would be 519×129 pixels, more than "
        "the limit of 0.06 megapixels; use --tile 60 or less.")
    assert not out.exists()
    assert main(["render", "--layer", "block1_conv1", "--tile", "60", "--out", str(out)]) == 0
    assert decode_png(out.read_bytes()).shape == (2 * 61 - 1, 8 * 61 - 1, 3)


def test_out_into_a_missing_or_read_only_folder_is_one_line(tmp_path, capsys, read_only_folder):
    assert main(["render", "--out", str(tmp_path / "missing" / "grid.png")]) == 2
    assert "the folder" in one_line(capsys.readouterr().err)
    assert main(["render", "--out", str(read_only_folder / "grid.png")]) == 2
    assert one_line(capsys.readouterr().err).endswith(
        "is not writable (Permission denied); choose another folder.")
    assert main(["render", "--out", str(tmp_path / "grid.gif")]) == 2
    assert "must end in .png" in one_line(capsys.readouterr().err)


def test_bad_model_files_are_one_line(tmp_path, capsys):
    text = tmp_path / "model.keras"
    text.write_text("not a model")
    assert main(["layers", "--model", str(text)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"convviz: {str(text)!r} is not a Keras model file (a .keras file is a zip archive); "
        "save the model with model.save('model.keras').")
    junk = tmp_path / "junk.keras"
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("config.json", "{not json")
    assert main(["layers", "--model", str(junk)]) == 2
    assert one_line(capsys.readouterr().err).startswith(
        f"convviz: could not load a model from {str(junk)!r} (")
    assert main(["layers", "--model", str(tmp_path / "missing.keras")]) == 2
    assert one_line(capsys.readouterr().err).endswith(
        "give a .keras file or a model of the zoo (shapes, shapes_circle, vgg16, resnet50, "
        "mobilenetv2).")


def test_a_decompression_bomb_image_is_one_line(tmp_path, capsys):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"  # a 30000 × 30000 header: refused before any pixel
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(bytes(3751)))
        + chunk(b"IEND", b""))
    assert main(["render", "--image", str(bomb), "--out", str(tmp_path / "grid.png")]) == 2
    assert "is 900.0 megapixels, more than the limit of 50 megapixels" in one_line(
        capsys.readouterr().err)


def test_precompute_refuses_read_only_folders_other_layers_and_filters_past_the_end(
        capsys, read_only_folder, tmp_path):
    assert main(["precompute", "--layer", "block1_conv1", str(read_only_folder)]) == 2
    assert one_line(capsys.readouterr().err).startswith("convviz: cannot store patterns in the "
                                                        "folder")
    for layer, kind in [("predictions", "Dense"), ("block1_pool", "MaxPooling2D")]:
        assert main(["precompute", "--layer", layer, str(tmp_path)]) == 2
        assert one_line(capsys.readouterr().err) == (
            f"convviz: layer {layer!r} ({kind}) has no conv filters to optimize; choose a Conv2D "
            "layer such as 'block4_conv2'.")
    assert main(["precompute", "--layer", "block1_conv1", "--first", "14", "--count", "4",
                 str(tmp_path)]) == 2
    assert "filter 16 is out of range for layer 'block1_conv1'" in one_line(
        capsys.readouterr().err)
    assert main(["render", "--layer", "block9", "--out", str(tmp_path / "x.png")]) == 2
    assert "no layer 'block9'" in one_line(capsys.readouterr().err)


def test_unexpected_errors_are_one_line_unless_convviz_debug_is_set(capsys, monkeypatch):
    from convviz_widgets import cli

    def broken(spec):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cli, "_load_model", broken)
    assert main(["layers"]) == 1
    assert one_line(capsys.readouterr().err) == (
        "convviz: OSError: [Errno 5] Input/output error (set CONVVIZ_DEBUG=1 for the traceback)")
    monkeypatch.setattr(cli, "_load_model", lambda spec: 1 / 0)
    assert main(["layers"]) == 1
    assert "ZeroDivisionError: division by zero" in one_line(capsys.readouterr().err)
    monkeypatch.setenv("CONVVIZ_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["layers"])


def test_the_command_itself_never_prints_a_traceback(tmp_path):
    text = tmp_path / "model.keras"
    text.write_text("not a model")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("CONVVIZ_DEBUG", None)
    for argv in (["render", "--tile", "0"], ["layers", "--model", str(text)]):
        run = subprocess.run([sys.executable, "-m", "convviz_widgets.cli", *argv], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and run.stdout == ""
        assert one_line(run.stderr).startswith("convviz")


def test_export_writes_a_page_and_refuses_a_wrong_name(tmp_path, capsys):
    out = tmp_path / "maps.html"
    assert main(["export", "feature-maps", str(out), "--layers", "block1_conv1,block2_conv1",
                 "--page-size", "16"]) == 0
    text = out.read_text(encoding="utf-8")
    assert '"labels": ["block1_conv1", "block2_conv1"]' in text
    assert "maps.html" in capsys.readouterr().out
    assert main(["export", "cam", str(tmp_path / "cam.txt")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "does not end in .html" in error
