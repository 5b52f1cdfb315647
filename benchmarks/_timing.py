"""Wall-clock timing shared by the benchmark scripts."""

import statistics
import time


def seconds(func):
    """Wall-clock seconds of one call of ``func()``."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def median_seconds(func, repeats):
    """Median over ``repeats`` calls of ``func()`` of their wall-clock seconds."""
    return statistics.median(seconds(func) for _ in range(repeats))
