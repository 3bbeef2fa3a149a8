"""The upright check of the browser tests, on made-up screens (no browser): it passes on the
expected picture, shifted or clipped a little, and fails, saying how, on a flipped one."""

from __future__ import annotations

import numpy as np
import pytest

from picture_checks import check_upright, orientation, resized


def picture(height: int = 40, width: int = 60) -> np.ndarray:
    """A ramp growing down and to the right, with a bright triangle in the top-left corner."""
    rows = np.linspace(0.0, 1.0, height)[:, None]
    cols = np.linspace(0.0, 1.0, width)[None, :]
    red = 0.6 * rows + 0.2 * cols
    green = np.where(rows + cols < 0.6, 1.0, 0.3 * cols)
    blue = np.broadcast_to(0.5 * cols, (height, width))
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def test_the_expected_picture_enlarged_and_shifted_two_pixels_passes():
    screen = np.roll(resized(picture(), 180, 120), (2, -2), axis=(0, 1))
    scores = orientation(screen, picture())
    check_upright(scores, "shifted")
    assert scores.upright > 0.95


def test_a_picture_drawn_upside_down_fails_and_says_so():
    screen = resized(picture(), 180, 120)[::-1]
    scores = orientation(screen, picture())
    assert scores.upside_down > 0.95
    with pytest.raises(AssertionError, match="it is drawn upside down"):
        check_upright(scores, "flipped")


def test_a_mirrored_picture_fails_and_says_so():
    screen = resized(picture(), 180, 120)[:, ::-1]
    with pytest.raises(AssertionError, match="it is drawn mirrored"):
        check_upright(orientation(screen, picture()), "mirrored")


def test_a_clipped_drawing_is_compared_with_the_part_shown():
    whole = resized(picture(), 180, 120)
    screen = whole[5:-5, 4:-4]  # the figure's plot area cuts a border off the drawing
    check_upright(orientation(screen, picture(), drawn_size=(180, 120), offset=(4, 5)), "clip")
    flipped = whole[::-1][5:-5, 4:-4]
    with pytest.raises(AssertionError, match="upside down"):
        check_upright(orientation(flipped, picture(), drawn_size=(180, 120), offset=(4, 5)),
                      "clipped and flipped")


def test_another_picture_or_a_flat_one_fails():
    noise = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    with pytest.raises(AssertionError, match="does not show the expected picture"):
        check_upright(orientation(noise, picture()), "noise")
    with pytest.raises(AssertionError, match="flat colour"):
        check_upright(orientation(np.full((40, 60, 3), 200, np.uint8), picture()), "flat")
