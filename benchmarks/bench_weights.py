"""The weights-change check every cache look-up makes, against a forward pass and against the
naive check (an exact hash of every weight), on VGG16 and on the bundled shapes model."""

from __future__ import annotations

import hashlib

import numpy as np

from benchmarks.timing import median_seconds, report_overhead, report_speedup
from benchmarks.vgg import photo, preprocess, vgg16


def exact_hash(model) -> str:
    """The naive check: read and hash every weight."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()


def measure(name: str, model, batch: np.ndarray, ceiling: float | None) -> None:
    import tensorflow as tf

    from convviz_widgets.engine.weights import WeightsWatch

    watch = WeightsWatch(model)
    check = median_seconds(watch.check, repeat=200, warmup=5)
    bare = tf.function(lambda x: model(x, training=False))
    tensor = tf.constant(batch)
    forward = median_seconds(lambda: bare(tensor).numpy(), repeat=9, warmup=2)
    naive = median_seconds(lambda: exact_hash(model), repeat=5, warmup=1)
    if ceiling is None:  # reported: a tiny model's forward pass is itself a few milliseconds
        print(f"weights check vs one {name} forward pass: {check * 1e3:.2f} ms vs "
              f"{forward * 1e3:.2f} ms → {check / forward:.3f}× (reported)", flush=True)
    else:
        report_overhead(f"weights check vs one {name} forward pass", forward, check, ceiling)
    if ceiling is None:
        print(f"{name} weights check vs an exact hash of every weight: {naive * 1e3:.2f} ms vs "
              f"{check * 1e3:.2f} ms → {naive / check:.1f}× (reported)", flush=True)
    else:
        report_speedup(f"{name} weights check (exact hash of every weight vs sampled check)",
                       naive, check, 10.0)


def main() -> None:
    from convviz_widgets import zoo

    model = vgg16()
    measure("VGG16", model, preprocess(photo()[None].astype("float32")), 0.02)
    shapes = zoo.load_model("shapes")
    measure("shapes", shapes, zoo.load_image("star")[None].astype("float32"), None)


if __name__ == "__main__":
    main()
