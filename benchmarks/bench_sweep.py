"""Time of the synthetic noise sweep as a function of n_samples and of n_jobs.

Run: ``python benchmarks/bench_sweep.py`` (``--quick`` for a smaller run); or all benchmarks
at once with ``python benchmarks/run.py``.

Every fit is full-batch gradient descent, so its cost is linear in the number of training
samples plus a fixed part (skorch's loop, the rank callback, the test-set evaluation and the
data ranks); the table reports the time per 1000 samples so that the linear part reads off
directly. ``n_jobs`` runs the sweep's points in parallel worker processes (joblib's loky
backend), one torch thread each.
"""

import argparse

import numpy as np
from _timing import median_seconds

from sklrank.experiments import noise_sweep

NOISE_LEVELS = (0.0, 0.5, 1.0)
CLASSIFIER = {"max_epochs": 300, "rank_every": 50}


def _sweep_seconds(n_samples, n_jobs, seeds, repeats):
    def run():
        noise_sweep(
            "synthetic", noise_levels=NOISE_LEVELS, seeds=seeds, n_samples=n_samples,
            classifier_params=CLASSIFIER, n_jobs=n_jobs, verbose=0,
        )

    return median_seconds(run, repeats)


def run(quick=False, repeats=3):
    """Rows of (what varies, n_samples, n_jobs, seconds) and the linear fit of time on n."""
    sizes = (250, 500, 1000) if quick else (500, 1000, 2000, 4000)
    seeds = (0, 1)
    rows = []
    for n_jobs in (1, 2):  # warm-up: imports, and joblib's worker processes (reused after)
        noise_sweep("synthetic", noise_levels=(0.0, 1.0), seeds=(0,), n_samples=50,
                    classifier_params={"max_epochs": 2}, n_jobs=n_jobs, verbose=0)
    for n in sizes:
        rows.append({"varies": "n_samples", "n_samples": n, "n_jobs": 1,
                     "seconds": _sweep_seconds(n, 1, seeds, repeats)})
    n_fixed = sizes[-2]
    for n_jobs in (1, 2):
        rows.append({"varies": "n_jobs", "n_samples": n_fixed, "n_jobs": n_jobs,
                     "seconds": _sweep_seconds(n_fixed, n_jobs, seeds, repeats)})
    for row in rows:
        row["fits"] = len(NOISE_LEVELS) * len(seeds)
        row["seconds_per_fit"] = row["seconds"] / row["fits"]
    n = np.array([r["n_samples"] for r in rows if r["varies"] == "n_samples"], dtype=float)
    t = np.array([r["seconds"] for r in rows if r["varies"] == "n_samples"])
    slope, intercept = np.polyfit(n, t, 1)
    residual = float(np.max(np.abs(t - (slope * n + intercept)) / t))
    fit = {"seconds_per_1000_samples": slope * 1000, "fixed_seconds": intercept,
           "max_relative_deviation_from_line": residual}
    return rows, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args(argv)
    rows, fit = run(quick=args.quick, repeats=1 if args.quick else 3)
    for r in rows:
        print(f"n_samples={r['n_samples']:>5} n_jobs={r['n_jobs']}: {r['seconds']:.2f} s "
              f"({r['fits']} fits)")
    print(f"linear fit: {fit['seconds_per_1000_samples']:.2f} s per 1000 samples + "
          f"{fit['fixed_seconds']:.2f} s; largest deviation from the line "
          f"{fit['max_relative_deviation_from_line']:.1%}")


if __name__ == "__main__":
    main()
