"""stable_rank against a dense SVD, timed in the same process.

Run: ``python benchmarks/bench_stable_rank.py`` (add ``--quick`` for a smaller run); or all
benchmarks at once with ``python benchmarks/run.py``.

The matrices are float32 Gaussian noise (the hardest case for iterative and randomized
top-singular-value methods). Three dense baselines are timed, because "the SVD" a user would
write is one of them: ``numpy.linalg.svd(A, full_matrices=False)`` (singular vectors too),
``numpy.linalg.svd(A, compute_uv=False)`` (singular values only, the cheapest dense call) and
the same on ``A`` cast to float64 (the accuracy ``stable_rank`` delivers; one run, it is also
the reference). The relative error of ``stable_rank`` is reported against that reference.
"""

import argparse

import numpy as np
from _timing import median_seconds, seconds

from sklrank import stable_rank

SHAPES = [(60000, 784), (10000, 3072)]


def run(shapes=SHAPES, repeats=3, seed=0):
    """Time stable_rank and the dense SVDs; return one dict a shape."""
    rows = []
    rng = np.random.default_rng(seed)
    for m, n in shapes:
        # noise-like: the hardest case for iterative and randomized top-singular-value methods
        A = rng.standard_normal((m, n), dtype=np.float32)
        A64 = A.astype(np.float64)
        svd_values = {}

        def dense_reference(A64=A64, out=svd_values):
            out["s"] = np.linalg.svd(A64, compute_uv=False)

        t_values64 = seconds(dense_reference)
        s64 = svd_values["s"]
        reference = float((s64**2).sum() / s64[0] ** 2)
        value = stable_rank(A)
        t_rank = median_seconds(lambda A=A: stable_rank(A), repeats)
        t_values = median_seconds(lambda A=A: np.linalg.svd(A, compute_uv=False), repeats)
        t_thin = median_seconds(lambda A=A: np.linalg.svd(A, full_matrices=False), 1)
        rows.append(
            {
                "shape": f"{m} x {n}",
                "stable_rank_s": t_rank,
                "svd_values_s": t_values,
                "svd_values_float64_s": t_values64,
                "svd_thin_s": t_thin,
                "ratio_vs_values": t_values / t_rank,
                "ratio_vs_values_float64": t_values64 / t_rank,
                "ratio_vs_thin": t_thin / t_rank,
                "rel_error": abs(value - reference) / reference,
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small shape, one repeat")
    args = parser.parse_args(argv)
    rows = run(shapes=[(20000, 784)], repeats=1) if args.quick else run()
    for r in rows:
        print(
            f"{r['shape']:>12}: stable_rank {r['stable_rank_s']:.3f} s | "
            f"svd(compute_uv=False) {r['svd_values_s']:.3f} s (x{r['ratio_vs_values']:.1f}) | "
            f"svd(full_matrices=False) {r['svd_thin_s']:.3f} s (x{r['ratio_vs_thin']:.1f}) | "
            f"relative error {r['rel_error']:.1e}"
        )


if __name__ == "__main__":
    main()
