"""Procedural coloured-shapes images: the data set behind the bundled ``shapes`` model.

Only numpy and Pillow are used here (no TensorFlow), so generating images is cheap to import
and fast: about ten thousand 64×64 images per few seconds.

Every image holds one (or, in a scene, several) filled shape drawn with Pillow at four times
the final resolution and box-downsampled, so edges are antialiased. Each shape has a random
fill colour that contrasts with the background, a random size, position (always fully inside
the image) and rotation. Backgrounds are a plain colour or a gentle linear gradient, and light
Gaussian noise is added on top.

Examples
--------
>>> import numpy as np
>>> from convviz_widgets.zoo import shapes
>>> image, mask = shapes.draw_shape("star", np.random.default_rng(0))
>>> image.shape, image.dtype, mask.shape, mask.dtype
((64, 64, 3), dtype('uint8'), (64, 64), dtype('bool'))
>>> x, y = shapes.make_dataset(10, seed=1)
>>> x.shape, np.bincount(y).tolist()
((10, 64, 64, 3), [2, 2, 2, 2, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "SHAPE_CLASSES",
    "draw_shape",
    "make_dataset",
    "make_scene",
    "make_scene_dataset",
    "sample_image",
    "two_shape_scenes",
]

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
"""Class names, in the order of the model's output units."""

_SUPERSAMPLE = 4
#: Circumscribed radius of a lone shape, as a fraction of the image size.
_RADIUS_RANGE = (0.2, 0.44)
#: Circumscribed radius of the shapes in a two-shape scene (fraction of the image size).
_SCENE_RADIUS_RANGE = (0.14, 0.21)
#: Minimum Euclidean RGB distance between the fill colour and the mean background colour.
_MIN_CONTRAST = 110.0
#: Largest change of the background colour across a gradient, per channel.
_GRADIENT_SPAN = 40.0
#: Largest standard deviation of the added noise, in grey levels.
_MAX_NOISE = 6.0
#: Fixed seeds of :func:`sample_image`'s colours, one per class (any value works).
_SAMPLE_SEED = 20240


def _check_shape(shape: str) -> None:
    if shape not in SHAPE_CLASSES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {list(SHAPE_CLASSES)}")


def _outline(shape: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple]:
    """Polygon vertices (pixel coordinates) of ``shape`` with circumscribed ``radius``.

    Circles return an empty list: they are drawn as ellipses.
    """
    if shape == "circle":
        return []
    if shape == "square":
        local = [(np.cos(a), np.sin(a)) for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    elif shape == "triangle":
        local = [(np.cos(a), np.sin(a)) for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    elif shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        local = list(zip(radii * np.cos(angles), radii * np.sin(angles), strict=True))
    elif shape == "cross":
        # A plus sign of four arms, each 0.66 wide (arms reach the circumscribed circle).
        w = 0.33
        h = float(np.sqrt(1.0 - w * w))
        local = [(w, -h), (w, -w), (h, -w), (h, w), (w, w), (w, h),
                 (-w, h), (-w, w), (-h, w), (-h, -w), (-w, -w), (-w, -h)]
    else:  # pragma: no cover - guarded by _check_shape
        raise ValueError(shape)
    c, s = np.cos(angle), np.sin(angle)
    return [(cx + radius * (c * x - s * y), cy + radius * (s * x + c * y)) for x, y in local]


def _coverage(items: Sequence[tuple[str, float, float, float, float]], size: int) -> list:
    """Antialiased coverage in [0, 1] of each ``(shape, cx, cy, radius, angle)`` item."""
    big = size * _SUPERSAMPLE
    out = []
    for shape, cx, cy, radius, angle in items:
        canvas = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(canvas)
        k = _SUPERSAMPLE
        if shape == "circle":
            r = radius * 0.9 * k  # a circle of the full radius would look larger than the rest
            draw.ellipse([cx * k - r, cy * k - r, cx * k + r, cy * k + r], fill=255)
        else:
            draw.polygon([(x * k, y * k) for x, y in _outline(shape, cx, cy, radius, angle)],
                         fill=255)
        small = canvas.resize((size, size), Image.Resampling.BOX)
        out.append(np.asarray(small, dtype=np.float32) / 255.0)
    return out


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A plain or gently graded random background, float32 (size, size, 3) in [0, 255]."""
    base = rng.uniform(0, 255, 3)
    if rng.random() < 0.5:
        return np.broadcast_to(base.astype(np.float32), (size, size, 3)).copy()
    theta = rng.uniform(0, 2 * np.pi)
    span = rng.uniform(-_GRADIENT_SPAN, _GRADIENT_SPAN, 3)
    coords = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / max(size - 1, 1)
    t = np.cos(theta) * coords[None, :] + np.sin(theta) * coords[:, None]  # in [-0.71, 0.71]
    bg = base[None, None, :] + t[:, :, None] * span[None, None, :]
    return np.clip(bg, 0, 255).astype(np.float32)


def _fill_colour(rng: np.random.Generator, background: np.ndarray,
                 avoid: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A random colour at least ``_MIN_CONTRAST`` away from the mean background colour."""
    # Mean of the four corners: exact for a linear gradient, and much cheaper than a full mean.
    mean = background[[0, 0, -1, -1], [0, -1, 0, -1]].mean(axis=0)
    for _ in range(1000):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - mean) < _MIN_CONTRAST:
            continue
        if any(np.linalg.norm(colour - other) < 40.0 for other in avoid):
            continue
        return colour
    # Unreachable in practice: the farthest RGB corner is always ≥ 221 away from any colour.
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], float)
    return corners[np.argmax(np.linalg.norm(corners - mean, axis=1))]


def _compose(background: np.ndarray, coverages: Sequence[np.ndarray],
             colours: Sequence[np.ndarray], noise: float,
             rng: np.random.Generator) -> np.ndarray:
    image = background
    for alpha, colour in zip(coverages, colours, strict=True):
        a = alpha[:, :, None]
        image = image + a * (colour.astype(np.float32)[None, None, :] - image)
    if noise > 0:
        image = image + np.float32(noise) * rng.standard_normal(image.shape, dtype=np.float32)
    image += 0.5  # round to nearest when truncating below
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8)


def _place(rng: np.random.Generator, size: int, radius: float) -> tuple[float, float]:
    """A random centre keeping a disc of ``radius`` (plus a 1-pixel margin) inside the image."""
    lo, hi = radius + 1.0, size - radius - 1.0
    return float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))


def draw_shape(shape: str, rng: np.random.Generator, size: int = 64
               ) -> tuple[np.ndarray, np.ndarray]:
    """Draw one random filled shape on a random background.

    Parameters
    ----------
    shape : str
        One of :data:`SHAPE_CLASSES`.
    rng : numpy.random.Generator
        Source of all randomness (colours, size, position, rotation, background, noise).
    size : int, default 64
        Height and width of the image, in pixels.

    Returns
    -------
    image : numpy.ndarray
        uint8 RGB image, shape ``(size, size, 3)``.
    mask : numpy.ndarray
        bool array ``(size, size)``, True where the shape covers at least half of a pixel.

    Raises
    ------
    ValueError
        If ``shape`` is not a known class.

    Examples
    --------
    >>> import numpy as np
    >>> image, mask = draw_shape("cross", np.random.default_rng(3), size=32)
    >>> image.shape, bool(mask.any())
    ((32, 32, 3), True)
    """
    _check_shape(shape)
    radius = float(rng.uniform(*_RADIUS_RANGE)) * size
    cx, cy = _place(rng, size, radius)
    angle = float(rng.uniform(0, 2 * np.pi))
    background = _background(rng, size)
    colour = _fill_colour(rng, background)
    noise = float(rng.uniform(0, _MAX_NOISE))
    (alpha,) = _coverage([(shape, cx, cy, radius, angle)], size)
    image = _compose(background, [alpha], [colour], noise, rng)
    return image, alpha >= 0.5


def make_dataset(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` labelled single-shape images, classes balanced and shuffled.

    Parameters
    ----------
    n : int
        Number of images. Every class gets ``n // len(SHAPE_CLASSES)`` images, and the first
        ``n % len(SHAPE_CLASSES)`` classes one more.
    size : int, default 64
        Height and width of the images.
    seed : int, default 0
        Seed of the generator: the same seed always gives the same arrays.

    Returns
    -------
    images : numpy.ndarray
        uint8 array ``(n, size, size, 3)``.
    labels : numpy.ndarray
        int64 array ``(n,)`` of indices into :data:`SHAPE_CLASSES`.

    Examples
    --------
    >>> x, y = make_dataset(50, size=32, seed=7)
    >>> x.shape, x.dtype, y.dtype, np.bincount(y).tolist()
    ((50, 32, 32, 3), dtype('uint8'), dtype('int64'), [10, 10, 10, 10, 10])
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(SHAPE_CLASSES))
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i], _ = draw_shape(SHAPE_CLASSES[label], rng, size)
    return images, labels


def _make_easy_dataset(n: int, size: int = 64, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`make_dataset`, but dark grey shapes on a plain light grey background.

    A warm-up curriculum for training: with random colours a freshly initialised plain convnet
    sits at chance level for many steps before it finds colour-independent shape features;
    mixing these high-contrast images into the first epochs shortens that plateau.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(SHAPE_CLASSES))
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        radius = float(rng.uniform(*_RADIUS_RANGE)) * size
        cx, cy = _place(rng, size, radius)
        angle = float(rng.uniform(0, 2 * np.pi))
        (alpha,) = _coverage([(SHAPE_CLASSES[label], cx, cy, radius, angle)], size)
        light, dark = rng.uniform(170, 255), rng.uniform(0, 90)
        images[i] = np.rint(light + alpha * (dark - light)).astype(np.uint8)[:, :, None]
    return images, labels


def make_scene(shapes: Sequence[str], size: int = 64, seed: int = 0
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw several non-overlapping shapes in one image, with one mask per class.

    The shapes are smaller than in :func:`make_dataset` so that two of them fit side by side;
    their circumscribed discs never overlap (a 2-pixel gap at least). Useful to check that a
    class-activation map points at the right object (the "pointing game").

    Parameters
    ----------
    shapes : sequence of str
        Class names of the shapes to draw, e.g. ``("circle", "star")``. A repeated name gets
        one mask covering all its copies.
    size : int, default 64
        Height and width of the image.
    seed : int, default 0
        Seed of the generator: the same arguments always give the same scene.

    Returns
    -------
    image : numpy.ndarray
        uint8 RGB image ``(size, size, 3)``.
    masks : dict of str to numpy.ndarray
        Class name → bool mask ``(size, size)`` of the pixels that shape covers.

    Raises
    ------
    ValueError
        If a name is unknown, ``shapes`` is empty, or the shapes cannot be placed without
        overlapping.

    Examples
    --------
    >>> image, masks = make_scene(["circle", "star"], seed=1)
    >>> sorted(masks), bool((masks["circle"] & masks["star"]).any())
    (['circle', 'star'], False)
    """
    shapes = list(shapes)
    if not shapes:
        raise ValueError("make_scene needs at least one shape")
    for shape in shapes:
        _check_shape(shape)
    rng = np.random.default_rng(seed)
    # Shrink shapes when more than two must fit, keeping the total covered area similar.
    scale = min(1.0, float(np.sqrt(2.0 / len(shapes))))
    lo, hi = (f * size * scale for f in _SCENE_RADIUS_RANGE)
    for _attempt in range(200):
        items = []
        for shape in shapes:
            radius = float(rng.uniform(lo, hi))
            for _try in range(100):
                cx, cy = _place(rng, size, radius)
                if all(np.hypot(cx - ox, cy - oy) >= radius + orad + 2.0
                       for _, ox, oy, orad, _ in items):
                    break
            else:
                break  # could not place this one: start the whole scene again
            items.append((shape, cx, cy, radius, float(rng.uniform(0, 2 * np.pi))))
        if len(items) == len(shapes):
            break
    else:
        raise ValueError(f"cannot fit {len(shapes)} shapes in a {size}×{size} image")
    background = _background(rng, size)
    colours: list[np.ndarray] = []
    for _ in shapes:
        colours.append(_fill_colour(rng, background, avoid=colours))
    noise = float(rng.uniform(0, _MAX_NOISE))
    coverages = _coverage(items, size)
    image = _compose(background, coverages, colours, noise, rng)
    masks: dict[str, np.ndarray] = {}
    for (shape, *_), alpha in zip(items, coverages, strict=True):
        masks[shape] = masks.get(shape, np.zeros((size, size), bool)) | (alpha >= 0.5)
    return image, masks


def make_scene_dataset(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` two-shape scenes of two different classes, pairs balanced and shuffled.

    Parameters
    ----------
    n : int
        Number of scenes.
    size : int, default 64
        Height and width of the images.
    seed : int, default 0
        Seed of the generator: the same seed always gives the same arrays.

    Returns
    -------
    images : numpy.ndarray
        uint8 array ``(n, size, size, 3)``.
    present : numpy.ndarray
        bool array ``(n, len(SHAPE_CLASSES))``, True for the two classes in each scene.

    Examples
    --------
    >>> x, present = make_scene_dataset(4, size=32, seed=2)
    >>> x.shape, present.sum(axis=1).tolist()
    ((4, 32, 32, 3), [2, 2, 2, 2])
    """
    pairs = list(itertools.combinations(range(len(SHAPE_CLASSES)), 2))
    rng = np.random.default_rng(seed)
    picks = rng.permutation(np.arange(n) % len(pairs))
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    present = np.zeros((n, len(SHAPE_CLASSES)), dtype=bool)
    for i, pick in enumerate(picks):
        pair = pairs[pick]
        images[i], _ = make_scene([SHAPE_CLASSES[k] for k in pair], size=size,
                                  seed=int(rng.integers(2**31)))
        present[i, list(pair)] = True
    return images, present


def two_shape_scenes(count: int, size: int = 64, seed: int = 10_000
                     ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``count`` scenes of two different shapes, cycling through every pair of classes.

    Scene ``i`` is ``make_scene(pair_i, size, seed + i)``: the same arguments always give the
    same scenes. The benchmark of the pointing game (does a CAM peak on the shape it explains?).

    Examples
    --------
    >>> [sorted(masks) for _, masks in two_shape_scenes(2)]
    [['circle', 'square'], ['circle', 'triangle']]
    """
    pairs = list(itertools.combinations(SHAPE_CLASSES, 2))
    for i in range(count):
        yield make_scene(pairs[i % len(pairs)], size=size, seed=seed + i)


def sample_image(shape: str, size: int = 64) -> np.ndarray:
    """A fixed, clearly drawn example of one class (the same pixels on every call).

    The shape is centred, large and slightly rotated, on a light, gently graded background,
    with a colour of its own per class and no noise.

    Parameters
    ----------
    shape : str
        One of :data:`SHAPE_CLASSES`.
    size : int, default 64
        Height and width of the image.

    Returns
    -------
    numpy.ndarray
        uint8 RGB image ``(size, size, 3)``.

    Examples
    --------
    >>> image = sample_image("triangle")
    >>> image.shape, image.dtype
    ((64, 64, 3), dtype('uint8'))
    >>> bool((image == sample_image("triangle")).all())
    True
    """
    _check_shape(shape)
    index = SHAPE_CLASSES.index(shape)
    rng = np.random.default_rng(_SAMPLE_SEED + index)
    palette = np.array([[214, 48, 49], [9, 132, 227], [0, 148, 50], [230, 126, 34],
                        [142, 68, 173], [22, 160, 133]], dtype=np.float32)
    colour = palette[index % len(palette)]
    coords = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / max(size - 1, 1)
    t = 0.6 * coords[None, :] + 0.8 * coords[:, None]
    background = (np.array([236, 232, 222], np.float32)[None, None, :]
                  + t[:, :, None] * np.array([-24, -20, -12], np.float32)[None, None, :])
    angle = float(rng.uniform(-0.25, 0.25))
    (alpha,) = _coverage([(shape, (size - 1) / 2 + 0.5, (size - 1) / 2 + 0.5,
                           0.38 * size, angle)], size)
    return _compose(background, [alpha], [colour], 0.0, rng)
