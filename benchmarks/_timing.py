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


def alternating_medians(functions, repeats):
    """Median wall-clock seconds of each of ``functions``, called in turn ``repeats`` times
    (alternating, so that a change of the machine's load hits all of them alike)."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, record in zip(functions, times):
            record.append(seconds(function))
    return [statistics.median(record) for record in times]


def checked_device(parser, device, option="--device"):
    """``device`` checked before any timing (a CUDA device absent here is a one-line error
    from ``parser``, not torch's traceback after the CPU cases ran)."""
    from sklrank._device import check_device

    if device is None:
        return None
    try:
        return check_device(device, types=("cpu", "cuda"), parameter=option)
    except ValueError as exc:
        parser.error(str(exc))
