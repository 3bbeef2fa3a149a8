"""Side-by-side benchmarks against the tutorial way; run with ``make bench``."""
