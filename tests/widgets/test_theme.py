"""The projector theme: one switch for every widget, larger tiles by default, a sentence for a
theme that does not exist, and the style sheet every widget carries."""

from __future__ import annotations

import pytest

import convviz_widgets
from convviz_widgets import CAMOverlay, FilterGallery, InvalidValue, LayerBrowser, zoo
from convviz_widgets.widgets.theme import STYLE, current_theme


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


@pytest.fixture
def projector():
    convviz_widgets.set_theme("projector")
    yield
    convviz_widgets.set_theme("default")


def test_set_theme_applies_to_every_widget_made_after_it(shapes_model, projector):
    browser = LayerBrowser(shapes_model, image="star")
    overlay = CAMOverlay(shapes_model, image="star")
    gallery = FilterGallery(shapes_model, layer="block1_conv1")
    for widget in (browser, overlay, gallery):
        assert widget.theme == "projector"
        assert "convviz-theme-projector" in widget._dom_classes
        assert "convviz-theme-default" not in widget._dom_classes
    # Larger tiles: 4 columns of 16 channels over the same width; 112-pixel gallery tiles.
    assert (browser.columns, browser.page_size) == (4, 16)
    assert browser.snapshot().shape[1] == 4 * 159 + 3
    assert gallery.tile == 112 and gallery.columns == 4
    # A 64-pixel image enlarged by the largest whole factor that fits in 400 (320 by default).
    assert overlay.snapshot().shape[:2] == (384, 384)


def test_theme_argument_and_trait(shapes_model):
    assert current_theme() == "default"
    browser = LayerBrowser(shapes_model, image="star", theme="projector", columns=8)
    assert browser.columns == 8, "an explicit argument wins over the theme's default"
    browser.theme = "default"
    assert "convviz-theme-default" in browser._dom_classes
    assert "convviz-theme-projector" not in browser._dom_classes
    with pytest.raises(InvalidValue, match="no theme named 'dark'"):
        browser.theme = "dark"
    assert browser.theme == "default" and "No theme named 'dark'" in browser.status
    with pytest.raises(ValueError, match="choose one of"):
        convviz_widgets.set_theme("Projector")


def test_the_style_sheet_sizes_text_for_the_back_row(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    sheets = [w for w in walk(browser) if "convviz-style" in getattr(w, "_dom_classes", ())]
    assert len(sheets) == 1 and sheets[0].value == STYLE
    assert "--jp-widgets-font-size: 18px" in STYLE and "font-size: 18px !important" in STYLE
