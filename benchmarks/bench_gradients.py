"""gradient_decomposition at the paper's size against autograd plus a dense SVD.

Run: ``python benchmarks/bench_gradients.py`` (``--quick`` for a smaller run); or all
benchmarks at once with ``python benchmarks/run.py``.

The baseline is what a user would write without sklrank: the first-layer gradient by torch
autograd (float64) and ``numpy.linalg.svd`` of it for the spectrum. ``gradient_decomposition``
computes the same gradient in closed form, splits it into the residue term, the spike term and
the rest, and takes the spectra; the two gradients are compared entry by entry.

Both are called once untimed, then in turn (``repeats`` times each; medians), so that a change
of the machine's load hits both alike; the load average is reported with the times. On a
machine whose cores other processes keep busy, every multi-threaded operation, torch's and
numpy's alike, waits for its slowest thread: with two threads at a load average of 3 on the 2
cores, one 400 x 400 eigendecomposition took 0.17 s against 0.013 s in one thread. Such a run
times the machine, not the code.
"""

import argparse
import os

import numpy as np
from _timing import alternating_medians

from sklrank.datasets import make_spiked
from sklrank.gradients import autograd_gradient, gradient_decomposition
from sklrank.nn import TwoLayerNet


def run(quick=False, repeats=3):
    n, d, m = (250, 400, 500) if quick else (750, 1000, 1250)
    X, y, spike = make_spiked(n, d, nu=0.35, random_state=0, return_spike=True)
    net = TwoLayerNet(d, m, random_state=0)

    def baseline():
        G = autograd_gradient(net, X, y)
        return G, np.linalg.svd(G, compute_uv=False)

    G_autograd, _ = baseline()
    result = gradient_decomposition(net, X, y, spike=spike, return_matrices=True)
    rel_error = float(np.abs(result.G - G_autograd).max() / np.abs(G_autograd).max())
    t_sklrank, t_baseline = alternating_medians(
        [lambda: gradient_decomposition(net, X, y, spike=spike), baseline], repeats)
    return {
        "size": f"n={n}, d={d}, m={m}",
        "decomposition_s": t_sklrank,
        "autograd_svd_s": t_baseline,
        "ratio": t_baseline / t_sklrank,
        "max_rel_gradient_diff": rel_error,
        "top2_share": result.top2_share,
        "load": os.getloadavg()[0],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller network")
    args = parser.parse_args(argv)
    r = run(quick=args.quick, repeats=5 if args.quick else 3)
    print(f"{r['size']}: gradient_decomposition {r['decomposition_s']:.3f} s | autograd + SVD "
          f"{r['autograd_svd_s']:.3f} s (x{r['ratio']:.2f}) | gradients agree to "
          f"{r['max_rel_gradient_diff']:.1e} | top-2 share {r['top2_share']:.3f} | load "
          f"average {r['load']:.1f}")


if __name__ == "__main__":
    main()
