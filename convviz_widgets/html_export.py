"""A kernel-free page that still scrubs: pre-rendered frames, sliders and keys, in one file.

:func:`write_player` writes one self-contained HTML file (no network, nothing from a CDN: the
frames are inline PNGs, the script and style are inline) that shows one frame per combination
of its axes (e.g. layer × page) and swaps them with sliders and the keyboard, with no Python
behind it. The frames are decoded once when the page opens, so a key press only draws a
decoded bitmap onto a canvas (within one animation frame). Each widget's ``export_html``
renders its frames with the renderer the widget itself uses.

The page measures itself: ``window.convvizPlayer.swapTimes`` holds, for every change, the
milliseconds from the key press or slider move to the frame on the canvas.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .engine.files import write_whole


@dataclass(frozen=True)
class Axis:
    """One control of the page: its name, its values' labels, and the two keys that step it."""

    name: str
    labels: Sequence[str]
    keys: tuple[str, str]


def frame_key(indices: Sequence[int]) -> str:
    """The key of the frame at these axis positions, e.g. ``"3/1"``."""
    return "/".join(str(int(i)) for i in indices)


def write_player(path: str | Path, title: str, axes: Sequence[Axis],
                 frames: Mapping[str, bytes], notes: Mapping[str, str] | None = None,
                 start: Sequence[int] | None = None) -> Path:
    """Write the page and return its path.

    Parameters
    ----------
    path : str or Path
        Where to write (``.html``); written whole or not at all.
    title : str
        The page's heading.
    axes : sequence of Axis
        The controls, e.g. layer then page. The first axis is stepped with its keys (← →),
        the second with its own (↑ ↓), and so on.
    frames : mapping
        :func:`frame_key` → PNG bytes. A combination without a frame (a layer with fewer pages)
        is clamped to the nearest existing frame along the last axis.
    notes : mapping, optional
        :func:`frame_key` → a line shown under the frame (what it shows).
    start : sequence of int, optional
        The axis positions shown first (default all 0).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convviz_widgets.engine.render import encode_png
    >>> import numpy as np
    >>> png = encode_png(np.zeros((2, 2, 3), np.uint8))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "page.html"
    >>> page = write_player(out, "demo", [Axis("layer", ["a", "b"], ("ArrowLeft", "ArrowRight"))],
    ...                     {"0": png, "1": png})
    >>> text = page.read_text()
    >>> '"frames": {"0": "iVBOR' in text, "://" in text  # inline PNGs; no address at all
    (True, False)
    """
    if not frames:
        raise ValueError("there is nothing to export: no frame was rendered.")
    data = {
        "axes": [{"name": a.name, "labels": list(a.labels), "keys": list(a.keys)} for a in axes],
        "frames": {key: base64.b64encode(png).decode("ascii") for key, png in frames.items()},
        "notes": dict(notes or {}),
        "start": list(start) if start is not None else [0] * len(axes),
    }
    # Inside a <script> element only "</" could end it early: escape it in the JSON.
    payload = json.dumps(data).replace("</", "<\\/")
    page = _PAGE.replace("%TITLE%", html.escape(title)).replace("%DATA%", payload)
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{str(path)!r} does not end in .html; give the page a .html name.")
    if not target.parent.is_dir():
        raise ValueError(f"folder {str(target.parent)!r} does not exist; create it first.")
    write_whole(target, lambda stream: stream.write(page.encode("utf-8")))
    return target


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%TITLE%</title>
<style>
  /* Whole-pixel line heights: the canvas lands on whole pixels, drawn 1:1. */
  body { font: 16px/24px system-ui, sans-serif; margin: 16px; color: #111; }
  h1 { font-size: 20px; line-height: 28px; margin: 0 0 8px; }
  .controls { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 8px 0; }
  .controls label { display: flex; align-items: center; gap: 8px; }
  .controls output { min-width: 12ch; font-weight: 600; }
  #frame { display: block; image-rendering: pixelated; max-width: 100%; }
  .frame { display: inline-block; border: 2px solid #ccc; }
  #frame:focus { outline: none; }  /* the frame's border shows the focus instead */
  .frame:focus-within { border-color: #1a73e8; }
  #note, #help { color: #333; margin: 6px 0; }
</style>
</head>
<body>
<h1>%TITLE%</h1>
<div class="controls" id="controls"></div>
<div class="frame"><canvas id="frame" tabindex="0"></canvas></div>
<div id="note"></div>
<div id="help"></div>
<script id="convviz-data" type="application/json">%DATA%</script>
<script>
(async () => {
  const data = JSON.parse(document.getElementById('convviz-data').textContent);
  const axes = data.axes, position = data.start.slice();
  const canvas = document.getElementById('frame'), context = canvas.getContext('2d');
  const note = document.getElementById('note');
  const bitmaps = {};
  // Decode every frame once, so that a change only draws a bitmap.
  await Promise.all(Object.entries(data.frames).map(async ([key, b64]) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    bitmaps[key] = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  }));
  const sliders = axes.map((axis, i) => {
    const label = document.createElement('label');
    const slider = Object.assign(document.createElement('input'),
        {type: 'range', min: 0, max: axis.labels.length - 1, step: 1, value: position[i]});
    slider.className = 'convviz-axis'; slider.dataset.axis = axis.name;
    const shown = document.createElement('output');
    label.append(axis.name, slider, shown);
    document.getElementById('controls').append(label);
    slider.addEventListener('input', () => {
      position[i] = +slider.value;
      show(performance.now());
    });
    return {slider, shown};
  });
  function existing() {
    // The frame at the position, or the nearest one along the last axis.
    const at = position.slice();
    for (let last = at.length - 1; last >= 0; last--) {
      while (at[last] > 0 && !(at.join('/') in bitmaps)) at[last]--;
      if (at.join('/') in bitmaps) return at;
    }
    return at;
  }
  const player = window.convvizPlayer = {swapTimes: [], position, shown: null};
  function show(started) {
    const at = existing();
    at.forEach((value, i) => { position[i] = value; });
    const key = at.join('/'), bitmap = bitmaps[key];
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width; canvas.height = bitmap.height;
    }
    context.drawImage(bitmap, 0, 0);
    sliders.forEach(({slider, shown}, i) => {
      slider.value = position[i]; shown.textContent = axes[i].labels[position[i]];
    });
    note.textContent = data.notes[key] || '';
    player.shown = key;
    if (started !== undefined)
      requestAnimationFrame(() => player.swapTimes.push(performance.now() - started));
  }
  document.addEventListener('keydown', event => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    axes.forEach((axis, i) => {
      const step = axis.keys.indexOf(event.key);
      if (step < 0) return;
      event.preventDefault();
      position[i] = Math.max(0, Math.min(axis.labels.length - 1, position[i] + (step ? 1 : -1)));
      show(event.timeStamp);
    });
  });
  document.getElementById('help').textContent = 'keys: ' + axes.map(axis =>
      `${axis.keys.join(' ')} ${axis.name}`).join(' · ');
  show();
  document.body.dataset.ready = 'yes';
})();
</script>
</body>
</html>
"""
