"""``sklrank gradients``: the low-rank gradient experiments of section B (spiked data).

Three parts, written to ``--out``:

1. ``nu_sweep.csv``: the decomposition of the gradient at initialisation for every nu,
   activation and seed (``nu_sweep.png``: alignments and shares against nu).
2. ``spectrum.png``: the top singular values of G for a small and a large nu per activation,
   with ||S1|| (red) and ||S2|| (blue) marked, as in the paper's figure.
3. ``regularisers.csv``: for each activation, a network trained with no regulariser, weight
   decay, input noise or a Jacobian penalty (same seed, same data), decomposed before and
   after training (``regularisers.png``). Column ``when``: ``init`` (initial weights,
   regularised loss), ``trained`` (trained weights, regularised loss, one noise draw) and
   ``trained_data_only`` (trained weights, data loss only); ``train_mse`` is the MSE of
   the trained network on the training data.

Plus ``config.json`` with every option and the package versions.
"""

import argparse
import json
import time
from pathlib import Path

from . import CLIError

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "huberized")


def _floats(text, name):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise CLIError(f"--{name} needs at least one value")
    return values


def add_parser(subparsers):
    p = subparsers.add_parser(
        "gradients",
        help="low-rank gradients of two-layer nets on spiked data (nu sweep, regularisers)",
        description=__doc__.replace("``", "")
        + "\nPaper settings by default (n=750, d=1000, m=1250, NTK, alpha=0, MSE loss).",
        epilog="Example: sklrank gradients --out results/gradients --quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--n-samples", type=int, default=750, help="n (default 750)")
    p.add_argument("--n-features", type=int, default=1000, help="d (default 1000)")
    p.add_argument("--n-hidden", type=int, default=1250, help="width m (default 1250)")
    p.add_argument("--alpha", type=float, default=0.0, help="bulk decay k^-alpha (default 0)")
    p.add_argument(
        "--nu",
        default="0,0.1,0.2,0.25,0.3,0.35,0.4,0.45",
        help="comma-separated spike exponents of the sweep (default 0,...,0.45)",
    )
    p.add_argument(
        "--spectrum-nu",
        default="0.1,0.4",
        help="the nu values drawn in spectrum.png (default 0.1,0.4)",
    )
    p.add_argument(
        "--activations",
        default=",".join(_ACTIVATIONS),
        help="comma-separated activations among relu,tanh,sigmoid,huberized (default all)",
    )
    p.add_argument("--scaling", choices=["ntk", "mean_field"], default="ntk",
                   help="gamma_m = 1/sqrt(m) (ntk, default) or 1/m (mean_field)")
    p.add_argument("--init", choices=["sphere", "spike"], default="sphere",
                   help="W rows uniform on the sphere (default) or correlated with q")
    p.add_argument("--target", choices=["triple_index", "spike"], default="triple_index",
                   help="target of make_spiked (default triple_index)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    p.add_argument("--reg-nu", type=float, default=0.35,
                   help="nu of the regulariser comparison (default 0.35)")
    p.add_argument("--reg-seeds", type=int, default=2,
                   help="seeds of the regulariser comparison (default 2)")
    p.add_argument("--reg-activations", default="relu,tanh",
                   help="activations of the regulariser comparison (default relu,tanh)")
    p.add_argument("--weight-decay", type=float, default=0.2,
                   help="lambda of (lambda/2)||W||_F^2 (default 0.2)")
    p.add_argument("--input-noise", type=float, default=1.0,
                   help="std tau of the input noise (default 1.0)")
    p.add_argument("--jacobian-penalty", type=float, default=1.0,
                   help="lambda_J of the Jacobian penalty (default 1.0)")
    p.add_argument("--epochs", type=int, default=100,
                   help="full-batch GD steps of the regulariser runs (default 100)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of those runs (default 20 / n_features)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (n=150, d=200, m=250), 3 nu values, 2 seeds, 10 epochs: "
                        "a smoke test in seconds")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)
    return p


def _check(args):
    if args.quick:
        args.n_samples, args.n_features, args.n_hidden = 150, 200, 250
        args.nu, args.spectrum_nu, args.seeds, args.epochs = "0.1,0.3,0.45", "0.1,0.45", 2, 10
        args.reg_seeds = 1
    for name in ("n_samples", "n_features", "n_hidden", "seeds", "reg_seeds", "threads"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be >= 1")
    if args.n_features < 3:
        raise CLIError("--n-features must be >= 3 (the triple-index target needs 3 directions)")
    if args.epochs < 0:
        raise CLIError("--epochs must be >= 0")
    args.nu_values = _floats(args.nu, "nu")
    args.spectrum_nu_values = _floats(args.spectrum_nu, "spectrum-nu")
    for v in args.nu_values + args.spectrum_nu_values + [args.reg_nu]:
        if v < 0:
            raise CLIError(f"nu must be >= 0, got {v}")
    if args.alpha < 0:
        raise CLIError(f"--alpha must be >= 0, got {args.alpha}")
    for name in ("weight_decay", "input_noise", "jacobian_penalty"):
        if getattr(args, name) < 0:
            raise CLIError(f"--{name.replace('_', '-')} must be >= 0")
    for attr in ("activations", "reg_activations"):
        acts = [a.strip() for a in getattr(args, attr).split(",") if a.strip()]
        bad = [a for a in acts if a not in _ACTIVATIONS]
        if bad or not acts:
            raise CLIError(
                f"--{attr.replace('_', '-')}: unknown activation(s) {bad}; choose among "
                f"{','.join(_ACTIVATIONS)}"
            )
        setattr(args, attr + "_list", acts)
    if args.lr is None:
        args.lr = 20.0 / args.n_features
    if args.lr <= 0:
        raise CLIError("--lr must be > 0")


def run(args):
    _check(args)
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd
    import torch
    from tqdm.auto import tqdm

    from sklrank import TwoLayerNetRegressor, __version__
    from sklrank.datasets import make_spiked
    from sklrank.gradients import gradient_decomposition
    from sklrank.nn import TwoLayerNet

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n, d, m = args.n_samples, args.n_features, args.n_hidden
    disable = args.no_progress

    def data(nu, seed):
        return make_spiked(n, d, alpha=args.alpha, nu=nu, target=args.target,
                           random_state=seed, return_spike=True)

    def net(act, seed, spike):
        return TwoLayerNet(d, m, scaling=args.scaling, activation=act, init=args.init,
                           spike=spike.q, spike_weight=n ** -0.25, random_state=seed)

    # 1. nu sweep at initialisation
    rows, spectra = [], []
    nus = sorted(set(args.nu_values) | set(args.spectrum_nu_values))
    jobs = [(nu, act, s) for nu in nus for act in args.activations_list
            for s in range(args.seeds)]
    t0 = time.perf_counter()
    times = []
    for nu, act, seed in tqdm(jobs, desc="nu sweep", disable=disable):
        X, y, spike = data(nu, seed)
        t = time.perf_counter()
        res = gradient_decomposition(net(act, seed, spike), X, y, spike=spike)
        times.append(time.perf_counter() - t)
        row = res.to_frame().assign(nu=nu, seed=seed, sv1_over_sv2=res.singular_values[0]
                                    / res.singular_values[1])
        rows.append(row)
        if seed == 0 and nu in args.spectrum_nu_values:
            spectra.append((nu, act, res.singular_values[:20], res.s1_norm, res.s2_norm))
    sweep = pd.concat(rows, ignore_index=True)
    sweep.to_csv(out / "nu_sweep.csv", index=False)
    sweep_time = time.perf_counter() - t0

    # 2. regularisers: train with each, decompose before (epoch 0) and after
    regs = {
        "none": {},
        "weight_decay": {"weight_decay": args.weight_decay},
        "input_noise": {"input_noise": args.input_noise},
        "jacobian_penalty": {"jacobian_penalty": args.jacobian_penalty},
    }
    reg_rows = []
    jobs = [(act, name, s) for act in args.reg_activations_list for name in regs
            for s in range(args.reg_seeds)]
    for act, name, seed in tqdm(jobs, desc="regularisers", disable=disable):
        X, y, spike = data(args.reg_nu, seed)
        est = TwoLayerNetRegressor(
            n_hidden=m, scaling=args.scaling, activation=act, init=args.init,
            spike=spike.q if args.init == "spike" else None, lr=args.lr,
            max_epochs=args.epochs, random_state=seed, **regs[name],
        )
        est.set_params(max_epochs=0).fit(X, y)  # epoch 0: the initial weights
        before = gradient_decomposition(est, X, y, spike=spike, random_state=seed)
        est.set_params(max_epochs=args.epochs).fit(X, y)
        after = gradient_decomposition(est, X, y, spike=spike, random_state=seed)
        # the data-term decomposition of the trained weights without the regulariser's
        # own gradient or noise: how training with it moved r and D
        data_only = gradient_decomposition(est, X, y, spike=spike, weight_decay=0.0,
                                           input_noise=0.0, jacobian_penalty=0.0)
        for when, res in (("init", before), ("trained", after), ("trained_data_only", data_only)):
            reg_rows.append(res.to_frame().assign(
                regulariser=name, when=when, seed=seed, nu=args.reg_nu, epochs=args.epochs,
                lr=args.lr, train_mse=float(np.mean((est.predict(X) - y) ** 2)),
            ))
    reg_frame = pd.concat(reg_rows, ignore_index=True)
    reg_frame.to_csv(out / "regularisers.csv", index=False)

    _plot(out, sweep, spectra, reg_frame, args)
    config = {k: v for k, v in vars(args).items() if k != "run"}
    config.update(
        sklrank=__version__, torch=torch.__version__,
        decomposition_seconds_median=float(np.median(times)),
        decomposition_seconds_max=float(np.max(times)), nu_sweep_seconds=sweep_time,
    )
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    summary = sweep.groupby(["nu", "activation"])[
        ["cos_residue_1", "spike_in_top2", "top2_share", "sv1_over_sv2", "s1_norm", "s2_norm"]
    ].mean()
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(summary)
        print(reg_frame.groupby(["activation", "when", "regulariser"])[
            ["s1_norm", "s2_norm", "residue_component", "spike_component", "train_mse"]
        ].mean())
    print(f"wrote {out}/nu_sweep.csv, regularisers.csv, *.png, config.json; median "
          f"decomposition {np.median(times):.2f} s at n={n}, d={d}, m={m}")
    return 0


def _plot(out, sweep, spectra, reg_frame, args):
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    # spectrum with S1 / S2 marked
    acts = args.activations_list
    nus = args.spectrum_nu_values
    fig, axes = plt.subplots(len(nus), len(acts), figsize=(3.2 * len(acts), 2.8 * len(nus)),
                             squeeze=False)
    for nu, act, sv, s1, s2 in spectra:
        ax = axes[nus.index(nu)][acts.index(act)]
        ax.semilogy(np.arange(1, len(sv) + 1), sv, "ko", ms=3, label="sv of G")
        ax.axhline(s1, color="tab:red", lw=1.2, label="||S1||")
        ax.axhline(s2, color="tab:blue", lw=1.2, ls="--", label="||S2||")
        ax.set_title(f"{act}, nu={nu:g}", fontsize=9)
        ax.set_xlabel("index")
    axes[0][0].legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("singular value")
    fig.suptitle(f"top singular values of G at init (n={args.n_samples}, d={args.n_features}, "
                 f"m={args.n_hidden}, {args.scaling}, seed 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "spectrum.png", dpi=110)
    plt.close(fig)

    # nu sweep
    cols = [("cos_residue_1", "|cos(u1, X_B^T r)|"), ("spike_in_top2", "||P_top2 q||"),
            ("top2_share", "top-2 share of ||G||_F^2"), ("s1_over_s2", "||S1|| / ||S2||")]
    sweep = sweep.assign(s1_over_s2=sweep.s1_norm / sweep.s2_norm)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax, (col, label) in zip(axes, cols, strict=True):
        sns.lineplot(data=sweep, x="nu", y=col, hue="activation", marker="o", ax=ax,
                     errorbar=("pi", 100))
        ax.axvline(0.25, color="gray", lw=0.8, ls=":")
        ax.set_ylabel(label)
        if col == "s1_over_s2":
            ax.set_yscale("log")
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.suptitle(f"gradient at init vs spike strength n^nu (band: min-max over {args.seeds} "
                 "seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "nu_sweep.png", dpi=110)
    plt.close(fig)

    # regularisers: trained ||S1||, ||S2|| relative to training without one (same seed)
    # row 1: direct effect at the initial weights, on the gradient of the regularised loss
    # (wd / Jacobian only add G_reg, which sits in E, so show the components along u and q);
    # row 2: the data-loss split at the weights that training with the regulariser reached
    whens = [
        ("init", "at init, regularised loss", ("residue_component", "spike_component"),
         ("|u^T G|", "|q^T G|")),
        ("trained_data_only", f"after {args.epochs} steps, data loss", ("s1_norm", "s2_norm"),
         ("S1", "S2")),
    ]
    acts = list(dict.fromkeys(reg_frame.activation))
    names = [r for r in dict.fromkeys(reg_frame.regulariser) if r != "none"]
    fig, axes = plt.subplots(len(whens), len(acts), figsize=(4.2 * len(acts), 6.4),
                             squeeze=False)
    for row, (when, title, terms, labels) in enumerate(whens):
        trained = reg_frame[reg_frame["when"] == when]
        base = trained[trained.regulariser == "none"].set_index(["activation", "seed"])
        for ax, act in zip(axes[row], acts, strict=True):
            width = 0.38
            for k, (term, color) in enumerate(zip(terms, ("tab:red", "tab:blue"),
                                                  strict=True)):
                ratios = []
                for name in names:
                    sub = trained[(trained.activation == act) & (trained.regulariser == name)]
                    ref = base.loc[[(act, s) for s in sub.seed], term].to_numpy()
                    ratios.append(np.mean(sub[term].to_numpy() / ref))
                x = np.arange(len(names)) + (k - 0.5) * width
                ax.bar(x, ratios, width, color=color, label=labels[k])
                for xi, v in zip(x, ratios, strict=True):
                    ax.text(xi, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(names)), names, fontsize=8)
            ax.set_title(f"{act}: {title}", fontsize=9)
            ax.set_ylabel("norm / unregularised")
            ax.legend(fontsize=7)
    fig.suptitle(f"effect of each regulariser relative to none (same seed and init; "
                 f"nu={args.reg_nu:g}, lr={args.lr:g}, mean over {args.reg_seeds} seeds)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "regularisers.png", dpi=110)
    plt.close(fig)
