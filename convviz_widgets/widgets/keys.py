"""Keyboard control of a widget while the pointer is over its picture (with ipyevents).

Keys are caught only while the pointer is over the widget's picture (the grid, the overlay):
ipyevents gives that element the focus when the pointer enters it, so the widget's text boxes,
dropdowns and sliders keep their own keys, and JupyterLab's shortcuts are not triggered.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
from traitlets import TraitError


@dataclass(frozen=True)
class Key:
    """One binding: the ``KeyboardEvent.key`` names that trigger it, what it does (for the
    help line) and the action, called with -1 for the first of two names (back) and +1 for the
    second (forward) or a single name.

    Examples
    --------
    >>> moved = []
    >>> key = Key(("ArrowLeft", "ArrowRight"), "layer", moved.append)
    >>> key.press("ArrowLeft"); key.press("ArrowRight"); moved
    [-1, 1]
    >>> key.label
    '← →'
    """

    names: tuple[str, ...]
    does: str
    action: Callable[[int], None]

    def press(self, name: str) -> None:
        """Do what key ``name`` (one of :attr:`names`) does."""
        self.action(-1 if len(self.names) == 2 and name == self.names[0] else 1)

    @property
    def label(self) -> str:
        """The keys as the help line shows them (arrows as arrows)."""
        arrows = {"ArrowLeft": "←", "ArrowRight": "→", "ArrowUp": "↑", "ArrowDown": "↓",
                  "Escape": "Esc", "Enter": "Enter"}
        return " ".join(arrows.get(name, name) for name in self.names)


def step(values: Sequence[Any], current: Any, by: int) -> Any:
    """The value ``by`` places from ``current`` in ``values``, stopping at either end.

    Examples
    --------
    >>> step(["a", "b", "c"], "b", 1), step(["a", "b", "c"], "c", 1), step([0, 2], 5, -1)
    ('c', 'c', 0)
    """
    values = list(values)
    if current not in values:
        return values[0]
    return values[max(0, min(len(values) - 1, values.index(current) + by))]


def cycle(values: Sequence[Any], current: Any) -> Any:
    """The value after ``current`` in ``values``, the first after the last.

    Examples
    --------
    >>> cycle(["a", "b"], "a"), cycle(["a", "b"], "b"), cycle(["a", "b"], "z")
    ('b', 'a', 'a')
    """
    values = list(values)
    return values[(values.index(current) + 1) % len(values)] if current in values else values[0]


class KeyboardControl:
    """Bind keys to a widget's actions while the pointer is over one of ``sources``.

    A key that is not bound is ignored; an action that fails shows its sentence in the widget's
    status line (``report``), as every other control does. ``?`` shows the keys there too.

    Parameters
    ----------
    sources : sequence of DOM widgets
        Where the keys are caught while the pointer is over them (the widget's pictures).
    keys : sequence of Key
        The bindings, in the order the help line lists them.
    report : callable
        ``report(message, error)``: the widget's status line.
    """

    def __init__(self, sources: Sequence[widgets.DOMWidget], keys: Sequence[Key],
                 report: Callable[[str, bool], None]) -> None:
        from ipyevents import Event  # its front end ships with the package (Lab and Voila)

        self.keys = list(keys)
        self._report = report
        self._by_name = {name: key for key in self.keys for name in key.names}
        self.events = []
        for source in sources:
            event = Event(source=source, watched_events=["keydown"],
                          ignore_modifier_key_events=True)
            event.on_dom_event(self.handle)
            self.events.append(event)
        self.help = widgets.HTML(
            f'<span title="{html.escape(self.describe())}">⌨ keys: pointer on the picture, '
            f"then {html.escape(self.describe(short=True))} · ? for all</span>")
        self.help.add_class("convviz-keys")

    def describe(self, short: bool = False) -> str:
        """The help line: every key and what it does (the first three if ``short``)."""
        keys = self.keys[:3] if short else self.keys
        return " · ".join(f"{key.label} {key.does}" for key in keys)

    def handle(self, event: dict[str, Any]) -> None:
        """React to a browser ``keydown`` event (a dict with at least ``"key"``)."""
        name = event.get("key")
        if event.get("ctrlKey") or event.get("metaKey") or event.get("altKey"):
            return  # the browser's and JupyterLab's own shortcuts
        if name == "?":
            self._report(f"keys (pointer on the picture): {self.describe()}", False)
            return
        key = self._by_name.get(name)
        if key is None:
            return
        try:
            key.press(name)
        except (ValueError, TraitError) as err:  # shown by the widget; the kernel stays up
            message = str(err).strip() or type(err).__name__
            self._report(message[0].upper() + message[1:], True)
