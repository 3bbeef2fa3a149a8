"""Run every benchmark in one process and print the ratios: ``python -m benchmarks``."""

from __future__ import annotations

import sys

from benchmarks import (
    bench_cam,
    bench_explorer,
    bench_export,
    bench_featvis,
    bench_grid,
    bench_probe,
    bench_scrub,
    bench_timeline,
    bench_weights,
)
from benchmarks.timing import summary

if __name__ == "__main__":
    for bench in (bench_grid, bench_probe, bench_scrub, bench_weights, bench_timeline,
                  bench_export, bench_explorer, bench_cam, bench_featvis):
        print(f"\n== {bench.__name__}", flush=True)
        bench.main()
    sys.exit(summary())
