"""Grid search over the background-noise level on MNIST, with ranks next to the accuracy.

Two MNIST digits are reduced to rank ``K`` (:class:`sklrank.PCARankReducer`), each image is
placed in a 2 x 2 canvas whose other tiles are Gaussian noise (:class:`sklrank.BackgroundNoise`)
and a two-layer CNN with one image tile as kernel is trained by gradient descent
(:class:`sklrank.RankCNNClassifier`). ``GridSearchCV`` over ``noise__noise_std`` reports, per
noise level, the test accuracy, the stable rank of the data the CNN receives and the stable
rank of its filters (section A of ``docs/science.md``).

Run from the repository root (about 1 to 2 minutes on 2 CPU cores)::

    python examples/noise_gridsearch_mnist.py --data-home ../shared/data

It writes ``mnist_gridsearch.png`` and ``mnist_gridsearch.csv`` to ``--out``.
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from sklrank import make_rank_pipeline  # noqa: E402
from sklrank.datasets import load_mnist  # noqa: E402
from sklrank.metrics import data_stable_rank_scorer, filter_stable_rank_scorer  # noqa: E402

SCORES = {"accuracy": "accuracy", "data_rank": "data", "filter_rank": "filters"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-home", default=None,
                        help="folder holding mnist/ (default: $SKLRANK_DATA, then "
                             "~/scikit_learn_data/sklrank)")
    parser.add_argument("--out", default="docs/figures", help="output folder")
    parser.add_argument("--digits", type=int, nargs=2, default=[3, 8])
    parser.add_argument("--n-samples", type=int, default=400)
    parser.add_argument("--n-components", type=int, default=10, help="rank K of clean images")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--n-filters", type=int, default=5, help="filters per class")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--init-std", type=float, default=0.01)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def run_search(args):
    """Fit the grid search; return it and the long table of per-fold scores."""
    X, y = load_mnist(args.data_home, classes=args.digits, n_samples=args.n_samples,
                      random_state=args.random_state, return_X_y=True)
    pipe = make_rank_pipeline(
        (1, 28, 28),
        n_components=args.n_components,
        grid=(2, 2),
        random_state=args.random_state,
        n_filters=args.n_filters,
        max_epochs=args.max_epochs,
        lr=args.lr,
        init_std=args.init_std,
        verbose=0 if args.quiet else 1,  # a tqdm bar per fit
    )
    search = GridSearchCV(
        pipe,
        {"noise__noise_std": args.noise},
        scoring={
            "accuracy": "accuracy",
            "filter_rank": filter_stable_rank_scorer,
            "data_rank": data_stable_rank_scorer,
        },
        refit="accuracy",
        cv=StratifiedKFold(args.cv, shuffle=True, random_state=args.random_state),
        error_score="raise",
        n_jobs=args.n_jobs,
    )
    search.fit(X, y)
    res = search.cv_results_
    rows = [
        {"noise_std": float(noise), "fold": fold, "score": score,
         "value": res[f"split{fold}_test_{score}"][i]}
        for i, noise in enumerate(res["param_noise__noise_std"])
        for fold in range(args.cv)
        for score in SCORES
    ]
    return search, pd.DataFrame(rows)


def plot(table, args, path):
    """Accuracy (left) and the stable ranks of data and filters (right) against the noise."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax_acc, ax_rank) = plt.subplots(1, 2, figsize=(11, 4.2))
    acc = table[table.score == "accuracy"]
    sns.lineplot(acc, x="noise_std", y="value", marker="o", errorbar=("pi", 100), ax=ax_acc)
    ax_acc.axhline(0.5, color="grey", ls=":", lw=1)
    ax_acc.set(xlabel="background noise std", ylabel="test accuracy", ylim=(0.4, 1.0),
               title=f"MNIST {args.digits[0]} vs {args.digits[1]}: accuracy")
    ranks = table[table.score != "accuracy"].replace(
        {"score": {"data_rank": "data (CNN input)", "filter_rank": "CNN filters"}}
    )
    sns.lineplot(ranks, x="noise_std", y="value", hue="score", style="score", markers=True,
                 dashes=False, errorbar=("pi", 100), ax=ax_rank)
    ax_rank.set_yscale("log")
    ax_rank.set(xlabel="background noise std", ylabel="stable rank (test folds)",
                title=f"stable rank; clean images have rank K={args.n_components}")
    ax_rank.legend(title=None)
    fig.text(0.5, -0.02,
             f"{args.n_samples} images, {args.cv}-fold CV (band: min-max over folds; the data "
             f"rank of a test fold is at most its {args.n_samples // args.cv} rows); 2x2 noise "
             f"padding; {args.n_filters} filters per class, {args.max_epochs} GD steps, "
             f"lr={args.lr}, init_std={args.init_std}",
             ha="center", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1 if args.n_jobs not in (None, 1) else torch.get_num_threads())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    search, table = run_search(args)
    summary = table.pivot_table(index="noise_std", columns="score", values="value",
                                aggfunc="mean")[list(SCORES)]
    summary.to_csv(out / "mnist_gridsearch.csv")
    plot(table, args, out / "mnist_gridsearch.png")
    print(summary.round(3).to_string())
    print(f"best noise_std by accuracy: {search.best_params_['noise__noise_std']}; "
          f"{time.perf_counter() - start:.0f} s; wrote {out / 'mnist_gridsearch.png'}")


if __name__ == "__main__":
    main()
