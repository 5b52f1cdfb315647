"""Low-rank gradients: is the first-layer gradient of a two-layer net about rank two?

Spiked data ``X = X_B + n^nu z q^T`` (section B of docs/science.md). For a weak spike
(nu < 1/4) the gradient with respect to W is one rank-one term along the residue direction
X_B^T r; for a stronger spike (1/4 <= nu < 1/2) a second term along q appears. This script
decomposes the gradient at initialisation for both regimes, then trains a network with a
GradientSpectrum callback and plots how ||S1|| and ||S2|| evolve.

Run: ``python examples/low_rank_gradients.py [--out DIR]`` (about half a minute on a CPU;
``sklrank gradients`` runs the paper-size experiments).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sklrank import TwoLayerNetRegressor  # noqa: E402
from sklrank.callbacks import GradientSpectrum  # noqa: E402
from sklrank.datasets import make_spiked  # noqa: E402
from sklrank.gradients import gradient_decomposition  # noqa: E402
from sklrank.nn import TwoLayerNet  # noqa: E402


def main(out):
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    n, d, m = 300, 400, 500

    # 1. the two regimes at initialisation
    frames = []
    for nu in (0.1, 0.4):
        X, y, spike = make_spiked(n, d, nu=nu, random_state=0, return_spike=True)
        for activation in ("relu", "tanh"):
            net = TwoLayerNet(d, m, activation=activation, random_state=0)
            res = gradient_decomposition(net, X, y, spike=spike)
            frames.append(res.to_frame().assign(nu=nu))
    table = pd.concat(frames, ignore_index=True)
    cols = ["nu", "activation", "sv1", "sv2", "s1_norm", "s2_norm", "cos_residue_1",
            "cos_spike_1", "cos_spike_2", "spike_in_top2", "top2_share", "stable_rank"]
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(table[cols].to_string(index=False))

    # 2. how the two terms evolve while training (and the same with weight decay)
    X, y, spike = make_spiked(n, d, nu=0.35, random_state=0, return_spike=True)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for weight_decay, style in ((0.0, "-"), (2.0, "--")):
        reg = TwoLayerNetRegressor(
            n_hidden=m, activation="tanh", lr=2.0 / d, max_epochs=60, random_state=0,
            weight_decay=weight_decay, callbacks=[GradientSpectrum(every=5, spike=spike)],
        ).fit(X, y)
        hist = pd.DataFrame([row for row in reg.history if "grad_s1_norm" in row])
        ax.plot(hist.epoch, hist.grad_s1_norm, "r" + style, label=f"||S1||, wd={weight_decay:g}")
        ax.plot(hist.epoch, hist.grad_s2_norm, "b" + style, label=f"||S2||, wd={weight_decay:g}")
        print(f"weight_decay={weight_decay:g}: train loss {reg.history[0, 'train_loss']:.3f} "
              f"-> {reg.history[-1, 'train_loss']:.3f}; final ||S1|| "
              f"{hist.grad_s1_norm.iloc[-1]:.3f}, ||S2|| {hist.grad_s2_norm.iloc[-1]:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("spectral norm")
    ax.set_title(f"tanh net, nu=0.35, n={n}, d={d}, m={m}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "gradient_terms_during_training.png", dpi=110)
    print(f"wrote {out / 'gradient_terms_during_training.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("example_output"),
                        help="folder for the figure (default ./example_output)")
    main(parser.parse_args().out)
