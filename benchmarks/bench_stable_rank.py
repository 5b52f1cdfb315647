"""stable_rank against one float32 Gram product and a dense SVD, timed in the same process.

Run: ``python benchmarks/bench_stable_rank.py`` (add ``--quick`` for a smaller run); or all
benchmarks at once with ``python benchmarks/run.py``.

Two kinds of matrices, because the cost of an exact top singular value depends on the
spectrum: float32 Gaussian noise (the hardest case for iterative methods: the top singular
values are packed together, and one Gram product ``A.T @ A`` is the least work an exact answer
needs) and the MNIST training images (60000 x 784, float32 in [0, 1]; real data, whose top
singular value stands out), as they are and centred (column means removed, a flatter top of
the spectrum). The MNIST rows need the MNIST files (``--data-home`` or the ``SKLRANK_DATA``
environment variable) and are left out, with a note, without them.

Two baselines are timed in the same process, alternating with ``stable_rank`` (medians over
the repeats): one float32 Gram product ``A.T @ A`` (numpy calls BLAS's syrk) and
``numpy.linalg.svd(A, compute_uv=False)`` (singular values only, the cheapest dense call a
user would write). ``numpy.linalg.svd`` of ``A`` cast to float64 is run once: it is the
reference of the relative error, and its time is reported too. The first ``stable_rank`` call
of each matrix is not timed: it measures the costs that choose its path (kept by the process).
With ``--device cuda`` (``benchmarks/run.py`` does it when a CUDA device exists) each matrix
is also timed as a CUDA tensor, against one float32 Gram product and ``torch.linalg.svdvals``
on the device.
"""

import argparse

import numpy as np
from _timing import alternating_medians, checked_device, median_seconds, seconds

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
    """Time stable_rank, one float32 Gram product and the dense SVDs on A; return one dict."""
    A64 = A.astype(np.float64)
    svd_values = {}

    def dense_reference():
        svd_values["s"] = np.linalg.svd(A64, compute_uv=False)

    t_values64 = seconds(dense_reference)
    s64 = svd_values["s"]
    reference = float((s64**2).sum() / s64[0] ** 2)
    value = stable_rank(A)  # untimed: measures the costs that choose the path
    t_rank, t_gram = alternating_medians([lambda: stable_rank(A), lambda: A.T @ A], repeats)
    t_values = median_seconds(lambda: np.linalg.svd(A, compute_uv=False), repeats)
    return {
        "matrix": name,
        "stable_rank": value,
        "top_ratio": float(s64[0] / s64[1]),
        "stable_rank_s": t_rank,
        "gram_s": t_gram,
        "svd_values_s": t_values,
        "svd_values_float64_s": t_values64,
        "rank_over_gram": t_rank / t_gram,
        "ratio_vs_values": t_values / t_rank,
        "ratio_vs_values_float64": t_values64 / t_rank,
        "rel_error": abs(value - reference) / reference,
    }


def time_case_on_device(name, A, repeats, device="cuda"):
    """Time stable_rank of A as a torch tensor on ``device`` against one float32 Gram product
    ``A.T @ A`` and ``torch.linalg.svdvals`` there (TF32 off, so that the Gram product is a
    float32 one); the reference of the error is numpy's float64 SVD. One dict, as
    :func:`time_case`; on a CUDA device every call is timed to its end
    (``torch.cuda.synchronize``)."""
    import torch

    s64 = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    reference = float((s64**2).sum() / s64[0] ** 2)
    T = torch.from_numpy(np.ascontiguousarray(A)).to(device)

    def synchronised(function):
        def call():
            function()
            if T.device.type == "cuda":
                torch.cuda.synchronize(T.device)
        return call

    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        value = stable_rank(T)  # untimed: warms the device's kernels up
        synchronised(lambda: T.T @ T)()
        t_rank, t_gram, t_svd = alternating_medians(
            [synchronised(lambda: stable_rank(T)), synchronised(lambda: T.T @ T),
             synchronised(lambda: torch.linalg.svdvals(T))], repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return {
        "matrix": f"{name} ({T.device.type})",
        "stable_rank": value,
        "top_ratio": float(s64[0] / s64[1]),
        "stable_rank_s": t_rank,
        "gram_s": t_gram,
        "svd_values_s": t_svd,
        "svd_values_float64_s": float("nan"),
        "rank_over_gram": t_rank / t_gram,
        "ratio_vs_values": t_svd / t_rank,
        "ratio_vs_values_float64": float("nan"),
        "rel_error": abs(value - reference) / reference,
    }


def run(shapes=SHAPES, repeats=3, data_home=None, mnist_samples=None, device=None):
    """Time every case; return (rows, notes). ``device`` (e.g. "cuda") adds the rows of
    each matrix as a torch tensor on that device."""
    rows, notes = [], []
    for name, A in gaussian_cases(shapes) + mnist_cases(data_home, mnist_samples):
        if name is None:
            notes.append(A)
            continue
        rows.append(time_case(name, A, repeats))
        if device is not None:
            rows.append(time_case_on_device(name, A, repeats, device))
    return rows, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller matrices, one repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each (default 5)")
    parser.add_argument("--data-home", default=None,
                        help="folder holding mnist/ (default: $SKLRANK_DATA)")
    parser.add_argument("--device", default=None,
                        help="also time each matrix as a torch tensor on this device (cuda)")
    args = parser.parse_args(argv)
    checked_device(parser, args.device)
    if args.quick:
        rows, notes = run(shapes=[(20000, 784)], repeats=1, data_home=args.data_home,
                          mnist_samples=20000, device=args.device)
    else:
        rows, notes = run(repeats=args.repeats, data_home=args.data_home, device=args.device)
    for r in rows:
        print(
            f"{r['matrix']:>40}: stable_rank {r['stable_rank_s']:.3f} s = "
            f"{r['rank_over_gram']:.2f}x one float32 A.T @ A ({r['gram_s']:.3f} s) | "
            f"svd(compute_uv=False) {r['svd_values_s']:.3f} s (x{r['ratio_vs_values']:.1f}) | "
            f"relative error {r['rel_error']:.1e}"
        )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
