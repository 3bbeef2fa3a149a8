"""Paging through a layer's channels or filters: the traits LayerBrowser and FilterGallery share."""

from __future__ import annotations

from typing import Any

import numpy as np
from traitlets import HasTraits, Int, TraitError, validate


class Paged(HasTraits):
    """``page``, ``page_size`` and ``columns`` of a grid of a layer's items, kept consistent.

    A subclass says how many items the current layer has (:meth:`_items_in_layer`) and owns a
    ``page_slider``; ``page`` is clamped to the pages that exist, ``page_size`` and ``columns``
    must be at least 1. Subclasses may override a trait to change its default, e.g.
    ``page_size = Int(16, help="Filters per page.")``.

    Examples
    --------
    >>> class Items(Paged):
    ...     layer = "conv"
    ...     def _items_in_layer(self):
    ...         return 10
    >>> items = Items(page_size=4)
    >>> items.page = 7
    >>> items.page, items.page_count, list(items.page_range())
    (2, 3, [8, 9])
    """

    page = Int(0, help="Page shown (0-based).")
    page_size = Int(64, help="Items per page.")
    columns = Int(8, help="Tiles per row.")

    def _items_in_layer(self) -> int:
        """Number of channels or filters of the current layer."""
        raise NotImplementedError

    @property
    def page_count(self) -> int:
        """Number of pages of ``page_size`` items in the current layer."""
        if not getattr(self, "layer", None):
            return 1
        return max(1, -(-self._items_in_layer() // self.page_size))

    def page_range(self) -> range:
        """Positions of the current page's items (indices, before any reordering)."""
        start = self.page * self.page_size
        return range(start, min(start + self.page_size, self._items_in_layer()))

    def _fit_page(self) -> None:
        """After the layer or the page size changed: resize the page slider, clamp the page."""
        self.page_slider.max = max(0, self.page_count - 1)
        self.page = self.page

    @validate("page")
    def _validate_page(self, proposal: dict[str, Any]) -> int:
        return int(np.clip(proposal["value"], 0, max(0, self.page_count - 1)))

    @validate("page_size", "columns")
    def _validate_positive(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"{proposal['trait'].name} must be at least 1.")
        return int(proposal["value"])
