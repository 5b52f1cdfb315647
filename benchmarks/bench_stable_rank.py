"""stable_rank against a dense SVD, timed in the same process.

Run: ``python benchmarks/bench_stable_rank.py`` (add ``--quick`` for a smaller run); or all
benchmarks at once with ``python benchmarks/run.py``.

Two kinds of matrices, because the cost of an exact top singular value depends on the
spectrum: float32 Gaussian noise (the hardest case for iterative methods: the top singular
values are packed together) and the MNIST training images (60000 x 784, float32 in [0, 1];
real data, whose top singular value stands out), as they are and centred (column means
removed, a flatter top of the spectrum). The MNIST rows need the MNIST files (``--data-home``
or the ``SKLRANK_DATA`` environment variable) and are left out, with a note, without them.

Three dense baselines are timed, because "the SVD" a user would write is one of them:
``numpy.linalg.svd(A, full_matrices=False)`` (singular vectors too),
``numpy.linalg.svd(A, compute_uv=False)`` (singular values only, the cheapest dense call) and
the same on ``A`` cast to float64 (the accuracy ``stable_rank`` delivers; one run, it is also
the reference). The relative error of ``stable_rank`` is reported against that reference.
"""

import argparse

import numpy as np
from _timing import median_seconds, seconds

from sklrank import stable_rank
from sklrank.datasets import DataFileError, fetch_mnist

SHAPES = [(60000, 784), (10000, 3072)]


def gaussian_cases(shapes, seed=0):
    """(name, matrix) pairs of float32 Gaussian noise."""
    rng = np.random.default_rng(seed)
    return [(f"Gaussian noise {m} x {n}", rng.standard_normal((m, n), dtype=np.float32))
            for m, n in shapes]


def mnist_cases(data_home=None, n_samples=None):
    """(name, matrix) pairs from the MNIST training images, or ``(None, reason)``."""
    try:
        X, _ = fetch_mnist(data_home, n_samples=n_samples, random_state=0, return_X_y=True,
                          download_if_missing=False)
    except (FileNotFoundError, DataFileError) as exc:
        return [(None, f"MNIST rows left out: {str(exc).splitlines()[0]}")]
    X = np.ascontiguousarray(X, dtype=np.float32)
    return [(f"MNIST images {X.shape[0]} x {X.shape[1]}", X),
            (f"MNIST images, centred, {X.shape[0]} x {X.shape[1]}", X - X.mean(axis=0))]


def time_case(name, A, repeats):
    """Time stable_rank and the dense SVDs on A; return one dict."""
    A64 = A.astype(np.float64)
    svd_values = {}

    def dense_reference():
        svd_values["s"] = np.linalg.svd(A64, compute_uv=False)

    t_values64 = seconds(dense_reference)
    s64 = svd_values["s"]
    reference = float((s64**2).sum() / s64[0] ** 2)
    value = stable_rank(A)
    t_rank = median_seconds(lambda: stable_rank(A), repeats)
    t_values = median_seconds(lambda: np.linalg.svd(A, compute_uv=False), repeats)
    t_thin = median_seconds(lambda: np.linalg.svd(A, full_matrices=False), 1)
    return {
        "matrix": name,
        "stable_rank": value,
        "top_ratio": float(s64[0] / s64[1]),
        "stable_rank_s": t_rank,
        "svd_values_s": t_values,
        "svd_values_float64_s": t_values64,
        "svd_thin_s": t_thin,
        "ratio_vs_values": t_values / t_rank,
        "ratio_vs_values_float64": t_values64 / t_rank,
        "ratio_vs_thin": t_thin / t_rank,
        "rel_error": abs(value - reference) / reference,
    }


def run(shapes=SHAPES, repeats=3, data_home=None, mnist_samples=None):
    """Time every case; return (rows, notes)."""
    rows, notes = [], []
    for name, A in gaussian_cases(shapes) + mnist_cases(data_home, mnist_samples):
        if name is None:
            notes.append(A)
            continue
        rows.append(time_case(name, A, repeats))
    return rows, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller matrices, one repeat")
    parser.add_argument("--data-home", default=None,
                        help="folder holding mnist/ (default: $SKLRANK_DATA)")
    args = parser.parse_args(argv)
    if args.quick:
        rows, notes = run(shapes=[(20000, 784)], repeats=1, data_home=args.data_home,
                          mnist_samples=20000)
    else:
        rows, notes = run(data_home=args.data_home)
    for r in rows:
        print(
            f"{r['matrix']:>40}: stable_rank {r['stable_rank_s']:.3f} s | "
            f"svd(compute_uv=False) {r['svd_values_s']:.3f} s (x{r['ratio_vs_values']:.1f}) | "
            f"svd(full_matrices=False) {r['svd_thin_s']:.3f} s (x{r['ratio_vs_thin']:.1f}) | "
            f"relative error {r['rel_error']:.1e}"
        )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
