"""Every example in the package's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import convviz_widgets


def modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(convviz_widgets.__path__, "convviz_widgets."):
        if info.name.endswith("__main__"):
            continue
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return ["convviz_widgets", *names]


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name, monkeypatch):
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "3")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.attempted > 0, f"{name} has '>>> ' in its source but no example ran"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
