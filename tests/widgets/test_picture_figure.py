"""PictureFigure: each picture reaches the mark, through two image widgets used in turn."""

from __future__ import annotations

import numpy as np

from convviz_widgets.engine.render import decode_png, encode_png
from convviz_widgets.widgets.base import PictureFigure


def test_each_picture_is_the_marks_and_no_widget_is_made_per_update():
    figure = PictureFigure("test-picture")
    rng = np.random.default_rng(0)
    shown, previous = set(), figure.mark.image
    for width in (5, 9, 5, 7):
        picture = rng.integers(0, 256, (4, width, 3), dtype=np.uint8)
        figure.show(encode_png(picture), width, 4)
        # What the page reads when the mark's image changes: the picture just shown.
        np.testing.assert_array_equal(decode_png(figure.mark.image.value), picture)
        assert (figure.x_scale.max, figure.y_scale.max) == (width, 4.0)
        assert figure.figure.min_aspect_ratio == figure.figure.max_aspect_ratio == width / 4
        assert figure.mark.image is not previous
        previous = figure.mark.image
        shown.add(id(figure.mark.image))
    # The mark is handed another widget each time (bqplot redraws only then), from two.
    assert len(shown) == 2
