"""Themes: ``"default"`` for a screen at arm's length, ``"projector"`` for the back row.

A theme is a CSS class on the widget and one style sheet (ipywidgets' own CSS variables, so the
stock controls grow with it, and a few rules for bqplot's text); no front-end code. The
projector theme sets text to at least 18 pixels, thicker slider handles, black text on white,
a thicker outline on the chosen tile, and larger tiles (fewer columns a row).
"""

from __future__ import annotations

import ipywidgets as widgets

THEMES = ("default", "projector")

_current = "default"

#: One style sheet for every theme; a widget takes effect by its class ``convviz-theme-NAME``.
STYLE = """
<style>
.convviz-theme-projector {
  --jp-widgets-font-size: 18px;
  --jp-widgets-inline-height: 36px;
  --jp-widgets-inline-label-width: 120px;
  --jp-widgets-slider-handle-size: 22px;
  --jp-widgets-slider-track-thickness: 6px;
  --jp-widgets-label-color: #000;
  --jp-widgets-readout-color: #000;
  color: #000;
  font-size: 18px;
}
.convviz-theme-projector .widget-label, .convviz-theme-projector .widget-readout,
.convviz-theme-projector .widget-html-content, .convviz-theme-projector select,
.convviz-theme-projector input, .convviz-theme-projector button,
.convviz-theme-projector .widget-label-basic {
  font-size: 18px !important;
}
.convviz-theme-projector .widget-dropdown {
  width: auto !important;
}
.convviz-theme-projector .widget-dropdown select {
  min-width: 150px;
}
.convviz-theme-projector .widget-text {
  width: 240px !important;
}
.convviz-theme-projector .widget-toggle-button {
  width: auto !important;
  padding: 0 12px;
}
.convviz-theme-projector .bqplot text, .convviz-theme-projector .bqplot tspan,
.convviz-theme-projector .bqplot .tick text {
  font-size: 16px !important;
}
.convviz-theme-projector .bqplot .mainheading {
  font-size: 18px !important;
}
.convviz-theme-projector .convviz-grid text, .convviz-theme-projector .convviz-gallery-grid text {
  font-size: 18px !important;
}
.convviz-theme-projector .convviz-grid path, .convviz-theme-projector .convviz-gallery-grid path {
  stroke-width: 5px !important;
}
</style>
"""


def set_theme(name: str) -> None:
    """Choose the theme of the widgets made from now on (each also takes ``theme=``).

    Parameters
    ----------
    name : {"default", "projector"}
        ``"projector"``: text at least 18 pixels, thicker slider handles, high contrast and
        larger tiles, for a lecture hall.

    Examples
    --------
    >>> from convviz_widgets import set_theme
    >>> set_theme("projector")
    >>> set_theme("default")
    """
    global _current
    _current = check_theme(name)


def current_theme() -> str:
    """The theme new widgets take when not given one."""
    return _current


def check_theme(name: str) -> str:
    """``name`` if it is a theme; else a ``ValueError`` naming the themes."""
    if name not in THEMES:
        raise ValueError(f"no theme named {name!r}; choose one of {list(THEMES)}.")
    return name


def style_sheet() -> widgets.HTML:
    """The style sheet, as a widget to place among a widget's children (it shows nothing)."""
    sheet = widgets.HTML(STYLE, layout=widgets.Layout(height="0", margin="0", padding="0"))
    sheet.add_class("convviz-style")
    return sheet
