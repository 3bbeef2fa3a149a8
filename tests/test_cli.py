"""The ``convviz`` command renders the same grid as the library and reports bad input plainly."""

from __future__ import annotations

import numpy as np

from convviz_widgets import zoo
from convviz_widgets.cli import main
from convviz_widgets.engine.render import decode_png
from convviz_widgets.export import layer_grid


def test_layers_lists_every_layer_with_kind_and_shape(capsys):
    assert main(["layers", "--model", "shapes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "block1_conv1 (conv) 64×64×16" in lines


def test_render_writes_the_library_grid(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["render", "--image", "star", "--layer", "block2_conv1", "--out", str(out),
                 "--columns", "8", "--tile", "32"]) == 0
    expected = layer_grid(zoo.load_model("shapes"), zoo.load_image("star"), "block2_conv1",
                          columns=8, tile=32)
    np.testing.assert_array_equal(decode_png(out.read_bytes()), expected.rgb)


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
