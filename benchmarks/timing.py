"""Timing helpers: medians of repeated runs and one line per ratio, with its floor."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS: list[tuple[str, float, str, bool]] = []


def median_seconds(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_seconds(fns: dict[str, Callable[[], object]], repeat: int = 5,
                        warmup: int = 1) -> dict[str, float]:
    """Median wall time of each of ``fns``, timed in turn round after round.

    For ratios of two runs of a second or so: a change in the machine's load (another
    process, the CPU's clock) falls on both alike instead of on whichever ran in that moment.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(found) for name, found in times.items()}


def report_speedup(name: str, naive: float, ours: float, floor: float) -> float:
    """Print how many times faster ``ours`` is than ``naive`` against a floor (≥)."""
    ratio = naive / ours
    ok = ratio >= floor
    RESULTS.append((name, ratio, f"≥{floor:g}×", ok))
    print(f"{name}: naive {naive * 1e3:.1f} ms, ours {ours * 1e3:.1f} ms → {ratio:.1f}× faster "
          f"(floor ≥{floor:g}×) {'OK' if ok else 'BELOW FLOOR'}", flush=True)
    return ratio


def report_overhead(name: str, floor_time: float, ours: float, ceiling: float,
                    unit: tuple[str, float] = ("ms", 1e3)) -> float:
    """Print ``ours / floor_time`` against a ceiling (≤); ``unit`` is the printed unit and
    its scale (milliseconds by default; e.g. ``("MB", 2**-20)`` for sizes in bytes)."""
    ratio = ours / floor_time
    ok = ratio <= ceiling
    RESULTS.append((name, ratio, f"≤{ceiling:g}×", ok))
    label, scale = unit
    print(f"{name}: reference {floor_time * scale:.1f} {label}, ours {ours * scale:.1f} {label} → "
          f"{ratio:.2f}× (ceiling ≤{ceiling:g}×) {'OK' if ok else 'ABOVE CEILING'}", flush=True)
    return ratio


def summary() -> int:
    """Print every ratio measured in this run; return 1 if any missed its bound."""
    print("\nsummary")
    for name, ratio, bound, ok in RESULTS:
        print(f"  {'OK ' if ok else 'MISS'} {name}: {ratio:.2f}× ({bound})")
    return 0 if all(ok for *_, ok in RESULTS) else 1
