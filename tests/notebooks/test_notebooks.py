"""Every notebook under notebooks/ runs top to bottom in a real kernel, without errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_is_committed_without_outputs(path, monkeypatch):
    raw = json.loads(path.read_text())
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    assert not any(cell.get("outputs") for cell in raw["cells"] if cell["cell_type"] == "code")
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "3")
    # Tests run offline: ImageNet weights come from Keras' cache when it has them, else the
    # explicit opt-in gives random weights (labelled); never a 528 MB download in a test run.
    monkeypatch.setenv("CONVVIZ_RANDOM_WEIGHTS", "1")
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("CONVVIZ_MAX_FILTERS", "4")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    # A student's kernel: TensorFlow's log level left to the package, and no PYTEST_CURRENT_TEST
    # (with it, ipykernel stops forwarding what C++ code writes to stderr into the notebook).
    kernel_env = {name: value for name, value in os.environ.items()
                  if name not in ("PYTEST_CURRENT_TEST", "TF_CPP_MIN_LOG_LEVEL")}
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=kernel_env)
    errors = [out for cell in notebook.cells for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    assert not errors
    # Students see the library's output only: no TensorFlow start-up log, no warnings.
    stderr = [out["text"] for cell in notebook.cells for out in cell.get("outputs", [])
              if out.get("output_type") == "stream" and out.get("name") == "stderr"]
    assert not stderr, "".join(stderr)[:2000]
    widget_views = [out for cell in notebook.cells for out in cell.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    assert widget_views, "each notebook shows at least one live widget"
