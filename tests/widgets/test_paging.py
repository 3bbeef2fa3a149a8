"""Paged on its own, with no slider to clamp it: pages, sizes and clamping by hand."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from convviz_widgets.widgets.paging import Paged


class Items(Paged):
    """A layer of ``count`` items (no layer: ``layer`` empty)."""

    def __init__(self, count: int, layer: str = "conv", **traits) -> None:
        self.count, self.layer = count, layer
        super().__init__(**traits)

    def _items_in_layer(self) -> int:
        return self.count


def test_ten_items_in_pages_of_four_make_three_pages_the_last_one_short():
    items = Items(10, page_size=4)
    assert items.page_count == 3
    shown = []
    for page in range(3):
        items.page = page
        shown.append(list(items.page_range()))
    assert shown == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize(("count", "asked", "shown"), [
    (10, 7, 2), (10, -3, 0), (4, 5, 0), (4, 0, 0), (12, 2, 2), (13, 3, 3),
])
def test_the_page_is_clamped_to_the_pages_that_exist(count, asked, shown):
    items = Items(count, page_size=4)
    items.page = asked
    assert items.page == shown


def test_without_a_layer_there_is_one_empty_page():
    items = Items(0, layer="", page_size=4)
    assert items.page_count == 1
    items.page = 3
    assert items.page == 0 and list(items.page_range()) == []


def test_one_item_per_page_and_one_column_are_allowed_zero_is_refused():
    items = Items(3, page_size=1, columns=1)
    assert (items.page_size, items.columns, items.page_count) == (1, 1, 3)
    for trait in ("page_size", "columns"):
        with pytest.raises(TraitError, match=f"{trait} must be at least 1"):
            setattr(items, trait, 0)
    assert (items.page_size, items.columns) == (1, 1)
