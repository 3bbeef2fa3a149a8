"""Filter patterns: seed S2's eager loop, one filter at a time, vs the batched engine run.

Seed S2 (Chollet, *Deep Learning with Python* §5.4) in TF2 eager form: a ``keras.Model(inputs,
layer.output)`` sub-model, a ``tf.GradientTape`` per step, loss = mean of filter ``i``'s
activation, gradient divided by its RMS + 1e-5, 40 steps of size 1 from gray noise, then
``deprocess_image``. Ours: :func:`~convviz_widgets.engine.featvis` with the TUTORIAL preset, all
filters in one batch, one compiled step on a model truncated at the layer. Both start from the
same gray-noise image (the engine's seeded ``random * 20 + 128``), so their patterns can be
checked against each other.

Measured, side by side in one run:

1. 64 filters of VGG16 (``weights=None``, no top) ``block3_conv1`` at 150×150 (floor ≥2.5×).
   Both sides are too slow here to run in full within a benchmark: the eager loop is timed on
   a few filters (each a full 40 steps) and scaled to 64; the batched run is timed on all 64
   filters for a few steps (the first one includes tracing) and scaled to 40 steps.
2. The bundled shapes model's last conv layer ``block4_conv2`` (64 filters, 64×64, 40 steps;
   floor ≥10×); the batched run is timed in full, the eager loop on a subset, scaled.
3. The batched step per filter against a bare compiled forward+backward pass of the truncated
   model on the same batch (ceiling ≤1.25×).
4. bfloat16 against float32: speed, and how alike the patterns are (report only).
5. Time to the first streamed preview of a page of 16 filters of the shapes model, from calling
   ``pattern_steps`` on a new model and a new cache (report only; aim: under a second).

Ours is timed cold (a new visualizer: the step is traced inside the timing), as a user pressing
Run on a layer for the first time sees it; the warm figure (trace reused) is printed as well.
The two CPU cores are shared with other jobs, so the series compared are timed in alternation
(one eager filter, one batched step, one bare pass, ...), each seeing the same share of the CPU.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from benchmarks.timing import report_overhead, report_speedup

STEPS = 40
FILTERS = 64
VGG_LAYER = "block3_conv1"
SHAPES_LAYER = "block4_conv2"
# VGG16: eager filters timed (each a full 40 steps; the loop is linear in the number of filters),
# and batched steps timed after the first (traced) one, one of each per round, then scaled.
VGG_ROUNDS = 4
SHAPES_EAGER_FILTERS = 8
SHAPES_ROUNDS = 4  # each: 2 eager filters, then one batched run of 64 filters × 40 steps
OVERHEAD_REPEATS = 15
BFLOAT16_ROUNDS = 3
PREVIEW_PAGE = 16


def eager_filter(sub, start: np.ndarray, index: int, steps: int = STEPS,
                 keep: int | None = None):
    """Seed S2's loop for one filter, in TF2 eager form; returns the deprocessed pattern.

    ``keep``: also return the image after that many steps (a reference, no copy).
    """
    import tensorflow as tf

    from convviz_widgets.engine.featvis import deprocess_image

    image = tf.constant(start[None])
    kept = None
    for step in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_mean(sub(image)[:, :, :, index])
        grads = tape.gradient(loss, image)
        grads /= tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5
        image = image + grads * 1.0
        if keep is not None and step + 1 == keep:
            kept = image
    return deprocess_image(image.numpy()[0]), kept


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images (NaN when one is flat)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def bare_gradient(model, layer: str):
    """A compiled forward+backward pass: d(sum of image i's mean of channel i)/d(input batch)."""
    import keras
    import tensorflow as tf

    sub = keras.Model(model.inputs, model.get_layer(layer).output)

    @tf.function
    def bare(images, indices):
        with tf.GradientTape() as tape:
            tape.watch(images)
            means = tf.reduce_mean(sub(images, training=False), axis=(1, 2))
            total = tf.reduce_sum(tf.gather(means, indices, axis=1, batch_dims=1))
        return tape.gradient(total, images)

    return bare


def timed(fn):
    """``(seconds, result)`` of one call."""
    begin = time.perf_counter()
    result = fn()
    return time.perf_counter() - begin, result


def seconds(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def vgg_comparison(keras, tf) -> None:
    """Part 1 (and 3, 4 on VGG16): every series is timed in alternation, round by round, so that
    each sees the same share of the two CPU cores (another job is running on them)."""
    from convviz_widgets.engine.featvis import TUTORIAL, FeatureVisualizer, channels

    base = keras.applications.VGG16(weights=None, include_top=False)
    sub = keras.Model(base.inputs, base.get_layer(VGG_LAYER).output)
    visualizer = FeatureVisualizer(base)
    start = visualizer.initial_images(TUTORIAL)[0]
    assert start.shape == (150, 150, 3)
    objective = channels(VGG_LAYER, range(FILTERS))
    keep = 1 + VGG_ROUNDS  # engine steps taken: the traced first one, then one per round

    eager_filter(sub, start, 0, steps=1)  # first eager call, not timed
    bare = bare_gradient(base, VGG_LAYER)
    batch = tf.constant(np.broadcast_to(start, (FILTERS, *start.shape)))
    indices = tf.range(FILTERS)
    bare(batch[:1], indices[:1]).numpy()  # trace the batch-of-one reference
    float32 = visualizer.steps(objective, TUTORIAL)
    first, record = timed(lambda: next(float32))
    bfloat16 = visualizer.steps(objective, TUTORIAL.replace(dtype="bfloat16"))
    first16, record16 = timed(lambda: next(bfloat16))
    bare_first, _ = timed(lambda: bare(batch, indices).numpy())

    eager, outputs, steps, steps16, bares, singles = [], [], [], [], [], []
    for index in range(VGG_ROUNDS):
        elapsed, output = timed(lambda i=index: eager_filter(sub, start, i, keep=keep))
        eager.append(elapsed)
        outputs.append(output)
        elapsed, record = timed(lambda: next(float32))
        steps.append(elapsed)
        bares.append(timed(lambda: bare(batch, indices).numpy())[0])
        elapsed, record16 = timed(lambda: next(bfloat16))
        steps16.append(elapsed)
        singles.append(timed(lambda: bare(batch[:1], indices[:1]).numpy())[0])
    float32.close()
    bfloat16.close()
    convert, images = timed(lambda: record.images)  # the conversion a finished run does

    per_filter = statistics.median(eager)
    naive = per_filter * FILTERS
    step = statistics.median(steps)
    ours = first + (STEPS - 1) * step + convert
    print(f"S2 eager loop, VGG16 {VGG_LAYER} 150×150, {STEPS} steps: timed on {VGG_ROUNDS} "
          f"filters ({seconds(eager)} s each), median {per_filter:.2f} s per filter, SCALED "
          f"×{FILTERS} → {naive:.0f} s for {FILTERS} filters", flush=True)
    print(f"batched engine, all {FILTERS} filters in one batch: first step (tracing included) "
          f"{first:.1f} s, then {VGG_ROUNDS} steps ({seconds(steps)} s, one per round between "
          f"the eager filters); SCALED to {STEPS} steps: first + {STEPS - 1} × {step:.2f} s = "
          f"{ours:.0f} s; per filter per step {step / FILTERS * 1e3:.0f} ms batched vs "
          f"{per_filter / STEPS * 1e3:.0f} ms eager; {int(record.dead.sum())} of {FILTERS} "
          f"filters still at 0 after {keep} steps", flush=True)
    same = [correlation(kept.numpy()[0], images[i]) for i, (_, kept) in enumerate(outputs)]
    print(f"  check: after {keep} steps the batched images of filters 0–{VGG_ROUNDS - 1} match "
          f"the eager loop's (Pearson r {min(same):.5f}–{max(same):.5f})", flush=True)
    paired = [e * FILTERS / (STEPS * s) for e, s in zip(eager, steps, strict=True)]
    print(f"  per round, 64 × eager filter / (40 × batched step), trace left out: "
          f"{seconds(paired)}× (median {statistics.median(paired):.2f}×)", flush=True)
    single = statistics.median(singles)
    print(f"  where the eager time goes: a compiled fwd+bwd of the truncated model on ONE image "
          f"takes {single * 1e3:.0f} ms ({seconds(singles)} s), on {FILTERS} images "
          f"{statistics.median(bares) / FILTERS * 1e3:.0f} ms per image; the eager step "
          f"{per_filter / STEPS * 1e3:.0f} ms per image (TF's eager Conv2D gradient also "
          "computes every kernel's gradient, conv2d_backprop_filter, which a compiled graph "
          "prunes; batching adds little per image where the step is compute-bound)", flush=True)
    report_speedup(f"64 filters of VGG16 {VGG_LAYER}, 150×150, 40 steps (S2 eager loop vs "
                   "batched; both scaled, see above)", naive, ours, 2.5)

    reference = statistics.median(bares)
    print(f"bare compiled fwd+bwd of the truncated VGG16 on the same {FILTERS} images: first call "
          f"(tracing) {bare_first:.1f} s, then {seconds(bares)} s", flush=True)
    report_overhead(f"VGG16 {VGG_LAYER}: batched step per filter vs bare compiled fwd+bwd "
                    f"of the truncated model, batch of {FILTERS}",
                    reference / FILTERS, step / FILTERS, 1.25)

    step16 = statistics.median(steps16)
    alike = [correlation(a, b) for a, b in zip(images, record16.images, strict=True)]
    print(f"bfloat16 on VGG16 {VGG_LAYER}, {FILTERS} filters: first step (clone + tracing) "
          f"{first16:.1f} s, then {seconds(steps16)} s; per step float32 {step:.2f} s vs "
          f"bfloat16 {step16:.2f} s → {step / step16:.2f}× (report only); images after {keep} "
          f"steps vs float32: mean Pearson r {np.nanmean(alike):.4f} (40-step patterns not "
          "compared here: too slow; weights=None, so they would not be meaningful)", flush=True)


def shapes_comparison(keras, tf) -> None:
    """Part 2 and 3 on the bundled shapes model, eager and batched timed in alternation."""
    from convviz_widgets import zoo
    from convviz_widgets.engine.featvis import TUTORIAL, FeatureVisualizer, channels

    base = zoo.load_model("shapes")
    sub = keras.Model(base.inputs, base.get_layer(SHAPES_LAYER).output)
    visualizer = FeatureVisualizer(base)
    start = visualizer.initial_images(TUTORIAL)[0]
    assert start.shape == (64, 64, 3)
    objective = channels(SHAPES_LAYER, range(FILTERS))

    eager_filter(sub, start, 0, steps=1)  # first eager call, not timed
    eager, outputs, runs = [], [], []
    per_round = SHAPES_EAGER_FILTERS // SHAPES_ROUNDS
    for round_ in range(SHAPES_ROUNDS):
        for index in range(round_ * per_round, (round_ + 1) * per_round):
            elapsed, output = timed(lambda i=index: eager_filter(sub, start, i))
            eager.append(elapsed)
            outputs.append(output)
        elapsed, result = timed(lambda: visualizer.run(objective, TUTORIAL))
        elapsed_pixels, pixels = timed(result.pixels)
        runs.append(elapsed + elapsed_pixels)
    per_filter = statistics.median(eager)
    naive = per_filter * FILTERS
    cold, warm = runs[0], statistics.median(runs[1:])
    print(f"S2 eager loop, shapes {SHAPES_LAYER} 64×64, {STEPS} steps: timed on "
          f"{SHAPES_EAGER_FILTERS} filters, median {per_filter:.3f} s per filter "
          f"(min {min(eager):.3f}, max {max(eager):.3f}), SCALED ×{FILTERS} → {naive:.1f} s",
          flush=True)
    print(f"batched engine, all {FILTERS} filters, {STEPS} steps, timed in full (with "
          f"deprocessing): cold (tracing included) {cold:.2f} s, warm {seconds(runs[1:])} s; "
          f"{int(result.dead.sum())} of {FILTERS} filters dead", flush=True)
    same = [correlation(eager_pixels, pixels[i]) for i, (eager_pixels, _) in enumerate(outputs)]
    print(f"  check: deprocessed patterns of filters 0–{SHAPES_EAGER_FILTERS - 1} vs the eager "
          f"loop's: Pearson r {np.nanmin(same):.4f}–{np.nanmax(same):.4f}; warm run "
          f"{naive / warm:.1f}× faster than the eager loop", flush=True)
    report_speedup(f"64 filters of the shapes model's {SHAPES_LAYER}, 64×64, 40 steps (S2 eager "
                   "loop, scaled, vs batched run, cold)", naive, cold, 10)

    bare = bare_gradient(base, SHAPES_LAYER)
    batch = tf.constant(np.broadcast_to(start, (FILTERS, *start.shape)))
    indices = tf.range(FILTERS)
    for _ in range(2):
        bare(batch, indices).numpy()
    steps = FeatureVisualizer(base).steps(objective, TUTORIAL)
    next(steps)  # traced
    bares, ours = [], []
    for _ in range(OVERHEAD_REPEATS):
        bares.append(timed(lambda: bare(batch, indices).numpy())[0])
        ours.append(timed(lambda: next(steps))[0])
    steps.close()
    report_overhead(f"shapes {SHAPES_LAYER}: batched step per filter vs bare compiled fwd+bwd "
                    f"of the truncated model, batch of {FILTERS}",
                    statistics.median(bares) / FILTERS, statistics.median(ours) / FILTERS, 1.25)


def bfloat16_shapes() -> None:
    """Part 4 on the trained shapes model: speed, and whether the patterns change visibly."""
    from convviz_widgets import zoo
    from convviz_widgets.engine.featvis import TUTORIAL, FeatureVisualizer, Pixels, channels

    visualizer = FeatureVisualizer(zoo.load_model("shapes"))
    objective = channels(SHAPES_LAYER, range(FILTERS))
    half = TUTORIAL.replace(dtype="bfloat16")
    cold32, full = timed(lambda: visualizer.run(objective, TUTORIAL))
    cold16, reduced = timed(lambda: visualizer.run(objective, half))
    times32, times16 = [], []
    for _ in range(BFLOAT16_ROUNDS):
        times32.append(timed(lambda: visualizer.run(objective, TUTORIAL))[0])
        times16.append(timed(lambda: visualizer.run(objective, half))[0])
    warm32, warm16 = statistics.median(times32), statistics.median(times16)

    live = ~(full.dead | reduced.dead)
    alike = np.array([correlation(a, b) for a, b in
                      zip(full.pixels(), reduced.pixels(), strict=True)])[live]
    # Both final images scored by the float32 model, without transforms.
    score32 = visualizer.evaluate(objective, full.images)[live]
    score16 = visualizer.evaluate(objective, reduced.images)[live]
    relative = np.abs(score16 - score32) / np.maximum(np.abs(score32), 1e-6)
    speed = warm32 / warm16
    print(f"bfloat16 on shapes {SHAPES_LAYER}, {FILTERS} filters × {STEPS} steps: float32 "
          f"{seconds(times32)} s, bfloat16 {seconds(times16)} s (first runs, tracing included: "
          f"{cold32:.2f} s and, with the clone, {cold16:.2f} s) → {speed:.2f}× (report only)",
          flush=True)
    print(f"  patterns, {int(live.sum())} live filters: deprocessed images' Pearson r mean "
          f"{np.nanmean(alike):.4f}, min {np.nanmin(alike):.4f}; objective reached (scored in "
          f"float32) mean {score32.mean():.2f} (float32 run) vs {score16.mean():.2f} (bfloat16 "
          f"run), median relative difference {np.median(relative):.1%}, max {relative.max():.1%}",
          flush=True)
    # The ascent's own sensitivity: float32 again, from a start nudged by 0.005 % of its spread.
    nudged = visualizer.run(objective, TUTORIAL.replace(parameterization=Pixels(spread=20.001)))
    baseline = np.array([correlation(a, b) for a, b in
                         zip(full.pixels(), nudged.pixels(), strict=True)])[live]
    print(f"  for scale: float32 from a start nudged by 0.005 % gives r mean "
          f"{np.nanmean(baseline):.4f}, min {np.nanmin(baseline):.4f} (40 steps of normalized "
          "ascent amplify small differences)", flush=True)
    worth = speed >= 1.2 and np.nanmean(alike) >= 0.9 and np.median(relative) <= 0.05
    print(f"  verdict: bfloat16 is {'WORTH' if worth else 'NOT worth'} using here "
          f"({speed:.2f}× speed, r {np.nanmean(alike):.3f}, objective within "
          f"{np.median(relative):.1%}; criteria ≥1.2×, r ≥0.9, ≤5%)", flush=True)


def first_preview() -> None:
    from convviz_widgets import zoo
    from convviz_widgets.engine.featvis import (
        TUTORIAL,
        PatternCache,
        deprocess_image,
        pattern_steps,
    )

    rows = []
    for _ in range(3):
        model = zoo.load_model("shapes")  # new model: no visualizer, nothing traced
        begin = time.perf_counter()
        updates = pattern_steps(model, SHAPES_LAYER, range(PREVIEW_PAGE), TUTORIAL,
                                cache=PatternCache())
        cached = None
        for update in updates:
            if update.record is None:
                cached = time.perf_counter() - begin
                continue
            stepped = time.perf_counter() - begin
            deprocess_image(update.record.images)  # what a tile shows
            rows.append((time.perf_counter() - begin, cached, stepped))
            break
        updates.close()
    total, cached, stepped = (statistics.median(column) for column in zip(*rows, strict=True))
    coldest = rows[0][0]
    print(f"first streamed preview, page of {PREVIEW_PAGE} filters of shapes {SHAPES_LAYER} "
          f"(new model, new PatternCache; from calling pattern_steps to the first step's images, "
          f"deprocessed), 3 fresh models: {', '.join(f'{r[0]:.2f}' for r in rows)} s; median "
          f"{total:.2f} s = cache lookup with weights fingerprint {cached:.3f} s + first step "
          f"(visualizer, tracing, step) {stepped - cached:.2f} s + images {total - stepped:.3f} s",
          flush=True)
    print(f"  → first preview {'UNDER' if total < 1 else 'NOT under'} 1 s (median {total:.2f} s; "
          f"first model in this process {coldest:.2f} s, "
          f"{'under' if coldest < 1 else 'NOT under'} 1 s) (report only)", flush=True)


def main() -> None:
    import keras
    import tensorflow as tf

    from convviz_widgets.engine.featvis import TUTORIAL

    if TUTORIAL.effective_steps != STEPS:
        raise RuntimeError("unset CONVVIZ_MAX_STEPS: it caps the steps this benchmark compares.")
    begin = time.perf_counter()
    first_preview()  # first, so that no other featvis work has warmed anything up
    vgg_comparison(keras, tf)
    shapes_comparison(keras, tf)
    bfloat16_shapes()
    print(f"(bench_featvis took {time.perf_counter() - begin:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
