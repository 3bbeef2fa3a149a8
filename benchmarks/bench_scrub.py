"""Scrubbing LayerBrowser: 50 page/colormap/normalization changes after the first view.

Counts forward passes (must stay zero) and compares the median update, which includes
rendering, PNG encoding and publishing the widget messages, with one VGG16 forward pass.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.timing import median_seconds, report_overhead
from benchmarks.vgg import photo, preprocess, vgg16


def main() -> None:
    import tensorflow as tf

    from convviz_widgets import LayerBrowser

    model = vgg16()
    browser = LayerBrowser(model, image=photo(), layer="block3_conv1", preprocess=preprocess)
    passes = browser.probe.forward_passes
    changes = [("page", p) for p in (1, 2, 3, 0)] + [("cmap", c) for c in ("magma", "gray")] + [
        ("norm", n) for n in ("layer", "symmetric", "channel")
    ] + [("cmap", "viridis")]
    times = []
    for i in range(50):
        name, value = changes[i % len(changes)]
        start = time.perf_counter()
        setattr(browser, name, value)
        times.append(time.perf_counter() - start)
    extra = browser.probe.forward_passes - passes
    print(f"scrub: {extra} forward passes during 50 changes (must be 0)")
    if extra:
        raise SystemExit("scrubbing ran the network again")

    bare = tf.function(lambda x: model(x, training=False))
    batch = tf.constant(preprocess(photo()[None].astype("float32")))
    forward = median_seconds(lambda: bare(batch).numpy(), repeat=7, warmup=2)
    report_overhead("median scrub update vs one VGG16 forward pass", forward,
                    statistics.median(times), 0.1)


if __name__ == "__main__":
    main()
