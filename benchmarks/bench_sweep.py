"""Time of the noise sweep: batched against one-by-one fits, and against n_samples and n_jobs;
peak memory of one MNIST sweep point.

Run: ``python benchmarks/bench_sweep.py`` (``--quick`` for a smaller run); or all benchmarks
at once with ``python benchmarks/run.py``. ``--memory`` instead measures the peak resident
memory of one ten-digit MNIST sweep point (2 x 2 canvas, K = 10, noise 1, all 60000 training
images by default) in a fresh process: the maximum resident set size the kernel reports for
that process (``resource.getrusage``), imports and data loading included.

Batched against one-by-one: the README's sweep (the synthetic defaults: 5 noise levels x 3
seeds, 200 samples, 1000 epochs) and a small ten-digit MNIST sweep, each timed one point at a
time (``batched=False``), batched on one core and batched in two threads, in this process,
the three runs taking turns in every repeat (a change of the machine's load then hits all of
them); the whole ``noise_sweep`` call is timed (data, training, measurements), not the
command's imports and figure. The rows also give how far the batched numbers are from the
one-by-one ones.

Every fit is full-batch gradient descent, so its cost is linear in the number of training
samples plus a fixed part (skorch's loop, the rank callback, the test-set evaluation and the
data ranks); the table reports the time per 1000 samples so that the linear part reads off
directly. ``n_jobs`` runs the sweep's points in parallel worker processes (joblib's loky
backend), one torch thread each; these rows train one point at a time (``batched=False``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import warnings

import numpy as np
from _timing import median_seconds, seconds
from sklearn.exceptions import ConvergenceWarning

from sklrank.datasets import DataFileError
from sklrank.experiments import noise_sweep

NOISE_LEVELS = (0.0, 0.5, 1.0)
CLASSIFIER = {"max_epochs": 300, "rank_every": 50}
# The README's main command: the synthetic defaults.
README_SWEEP = {"dataset": "synthetic"}
# A small image sweep: ten-digit MNIST, 500 images a point on the default 2 x 2 canvas.
IMAGE_SWEEP = {"dataset": "mnist", "n_samples": 500, "n_test": 500, "noise_levels": (0.0, 1.0),
               "seeds": (0, 1), "classifier_params": {"max_epochs": 100},
               "download_if_missing": False}
# How each is run: one point at a time, batched on one core, batched in two threads.
MODES = {
    "one-by-one": {"batched": False, "n_jobs": 1},
    "batched": {"batched": "auto", "n_jobs": 1},
    "batched, 2 threads": {"batched": "auto", "n_jobs": 2},
}


def _timed_sweep(kwargs):
    """Seconds of one noise_sweep call, and its frame."""
    frame = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs in --quick
        elapsed = seconds(lambda: frame.append(noise_sweep(**kwargs, verbose=0)))
    return elapsed, frame[0]


def batched_against_one_by_one(repeats=3, quick=False, data_home=None):
    """Rows (one a case) of the sweep's seconds in each of MODES, and notes."""
    cases = {"README sweep (synthetic)": dict(README_SWEEP),
             "MNIST, 500 images, 2 x 2 canvas": {**IMAGE_SWEEP, "data_home": data_home}}
    if quick:
        for case, epochs in (("README sweep (synthetic)", 200),
                             ("MNIST, 500 images, 2 x 2 canvas", 20)):
            params = cases[case].get("classifier_params") or {}
            cases[case]["classifier_params"] = {**params, "max_epochs": epochs}
    rows, notes = [], []
    for case, kwargs in cases.items():
        try:
            noise_sweep(**{**kwargs, "classifier_params": {"max_epochs": 1}}, verbose=0)
        except (FileNotFoundError, DataFileError) as exc:
            notes.append(f"{case} left out: {str(exc).splitlines()[0]}")
            continue
        times = {mode: [] for mode in MODES}
        frames = {}
        loads = []
        for _ in range(repeats):
            for mode, options in MODES.items():
                elapsed, frames[mode] = _timed_sweep({**kwargs, **options})
                times[mode].append(elapsed)
                loads.append(os.getloadavg()[0])
        alone, batched = frames["one-by-one"], frames["batched"]
        median = {mode: statistics.median(t) for mode, t in times.items()}
        rel = np.abs(batched["filter_stable_rank"] / alone["filter_stable_rank"] - 1).max()
        same = ["data_stable_rank", "train_accuracy", "test_accuracy"]
        rows.append({
            "case": case, "points": len(alone),
            "epochs": int(alone["n_epochs"].iloc[0]),
            "one_by_one_s": median["one-by-one"], "batched_s": median["batched"],
            "batched_2_threads_s": median["batched, 2 threads"],
            "ratio": median["one-by-one"] / median["batched"],
            "ratio_2_threads": median["one-by-one"] / median["batched, 2 threads"],
            "max_filter_rank_rel_diff": float(rel),
            "same_predictions": bool((batched[same] == alone[same]).all().all()),
            "load": statistics.median(loads),
        })
    return rows, notes


def _sweep_seconds(n_samples, n_jobs, seeds, repeats):
    def run():
        noise_sweep(
            "synthetic", noise_levels=NOISE_LEVELS, seeds=seeds, n_samples=n_samples,
            classifier_params=CLASSIFIER, n_jobs=n_jobs, batched=False, verbose=0,
        )

    return median_seconds(run, repeats)


def run(quick=False, repeats=3):
    """Rows of (what varies, n_samples, n_jobs, seconds) and the linear fit of time on n."""
    sizes = (250, 500, 1000) if quick else (500, 1000, 2000, 4000)
    seeds = (0, 1)
    rows = []
    for n_jobs in (1, 2):  # warm-up: imports, and joblib's worker processes (reused after)
        with warnings.catch_warnings():  # two epochs train too little, and are not timed
            warnings.simplefilter("ignore", ConvergenceWarning)
            noise_sweep("synthetic", noise_levels=(0.0, 1.0), seeds=(0,), n_samples=50,
                        classifier_params={"max_epochs": 2}, n_jobs=n_jobs, batched=False,
                        verbose=0)
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


# Runs in a fresh interpreter: the peak resident memory of one point, with nothing else
# allocated before it in that process.
_MEMORY_PROBE = """
import json, resource, sys, time
from sklrank.experiments import noise_sweep
n_samples, max_epochs, data_home = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] or None
start = time.perf_counter()
df = noise_sweep("mnist", n_samples=n_samples, noise_levels=[1.0], seeds=[0],
                 data_home=data_home, download_if_missing=False, verbose=0,
                 classifier_params={"max_epochs": max_epochs})
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"peak_mib": peak_kib / 1024, "seconds": time.perf_counter() - start,
                  "fit_time": float(df["fit_time"].iloc[0]),
                  "n_train": int(df["n_train"].iloc[0])}))
"""


def peak_memory(n_samples=60000, max_epochs=2, data_home=None):
    """Peak resident memory (MiB) and times of one MNIST sweep point, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(n_samples), str(max_epochs), data_home or ""],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def gpu_mnist_sweep(data_home=None, one_by_one=False, n_samples=60000):
    """Seconds of the 3-seed x 4-noise ten-digit MNIST sweep at n = 60000 on the GPU, batched
    (and one point at a time with ``one_by_one``), with the peak device memory."""
    import torch

    kwargs = {"n_samples": n_samples, "n_seeds": 3, "device": "cuda", "data_home": data_home,
              "download_if_missing": False, "verbose": 0}
    out = {}
    for name, options in (("batched", {"n_jobs": -1}),
                          ("one-by-one", {"batched": False})) if one_by_one else (
                              ("batched", {"n_jobs": -1}),):
        torch.cuda.reset_peak_memory_stats()
        elapsed, df = _timed_sweep({"dataset": "mnist", **kwargs, **options})
        out[name] = {"seconds": elapsed, "points": len(df),
                     "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30,
                     "n_batched": int(df["n_batched"].max()), "frame": df}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--memory", action="store_true",
                        help="peak memory of one MNIST sweep point instead of the timings")
    parser.add_argument("--n-samples", type=int, default=60000,
                        help="--memory: training images (default 60000)")
    parser.add_argument("--max-epochs", type=int, default=2,
                        help="--memory: full-batch steps (default 2)")
    parser.add_argument("--data-home", help="folder holding mnist/ (default: $SKLRANK_DATA)")
    parser.add_argument("--gpu", action="store_true",
                        help="time the 3-seed x 4-noise ten-digit MNIST sweep at n = 60000 on "
                        "a CUDA device, batched, instead")
    parser.add_argument("--with-one-by-one", action="store_true",
                        help="--gpu: also one point at a time (minutes)")
    args = parser.parse_args(argv)
    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--gpu needs a CUDA device, and torch finds none here (torch "
                         f"{torch.__version__}); run without --gpu.")
        runs = gpu_mnist_sweep(args.data_home, one_by_one=args.with_one_by_one)
        for name, r in runs.items():
            print(f"MNIST n=60000, {r['points']} points on the GPU, {name}: {r['seconds']:.1f} s "
                  f"(batches of up to {r['n_batched']}), peak GPU memory "
                  f"{r['peak_gpu_gib']:.1f} GiB")
        if len(runs) == 2:
            a, b = runs["batched"]["frame"], runs["one-by-one"]["frame"]
            rel = np.abs(a["filter_stable_rank"] / b["filter_stable_rank"] - 1).max()
            print(f"ratio {runs['one-by-one']['seconds'] / runs['batched']['seconds']:.2f}x; "
                  f"filter ranks differ by {rel:.1e} relative at most")
        return
    if args.memory:
        r = peak_memory(args.n_samples, args.max_epochs, args.data_home)
        print(f"one MNIST sweep point, n_train={r['n_train']}, {args.max_epochs} epochs: "
              f"peak resident memory {r['peak_mib']:.0f} MiB ({r['peak_mib'] / 1024:.2f} GiB); "
              f"point {r['fit_time']:.1f} s of preprocessing and training, "
              f"{r['seconds']:.1f} s in all")
        return
    ratios, notes = batched_against_one_by_one(repeats=1 if args.quick else 3,
                                               quick=args.quick, data_home=args.data_home)
    for r in ratios:
        print(f"{r['case']}: {r['points']} points x {r['epochs']} epochs; one-by-one "
              f"{r['one_by_one_s']:.2f} s, batched {r['batched_s']:.2f} s "
              f"({r['ratio']:.2f}x), batched in 2 threads {r['batched_2_threads_s']:.2f} s "
              f"({r['ratio_2_threads']:.2f}x); filter ranks within "
              f"{r['max_filter_rank_rel_diff']:.1e}, same accuracies: {r['same_predictions']};"
              f" load average {r['load']:.1f}")
    for note in notes:
        print(note)
    rows, fit = run(quick=args.quick, repeats=1 if args.quick else 3)
    for r in rows:
        print(f"n_samples={r['n_samples']:>5} n_jobs={r['n_jobs']}: {r['seconds']:.2f} s "
              f"({r['fits']} fits)")
    print(f"linear fit: {fit['seconds_per_1000_samples']:.2f} s per 1000 samples + "
          f"{fit['fixed_seconds']:.2f} s; largest deviation from the line "
          f"{fit['max_relative_deviation_from_line']:.1%}")


if __name__ == "__main__":
    main()
