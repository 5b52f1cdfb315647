"""``sklrank sweep``: the noise sweep of the paper in one command (CSV, PNG and JSON out)."""

import argparse
import json
import math
import platform
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

from sklrank._cli import CLIError

_EPILOG = """\
outputs (in --out, named after --name):
  NAME.csv   one row per (noise level, seed): noise_std, seed, data_stable_rank,
             patch_stable_rank, filter_stable_rank, clean_rank, clean_stable_rank,
             train_accuracy, test_accuracy, fit_time, ...
  NAME.png   stable ranks and accuracy against the noise level (mean +/- sd over seeds)
  NAME.json  the full configuration, the command line, the package versions and the runtime

examples:
  sklrank sweep --out results
  sklrank sweep --dataset mnist --classes 0 1 --rank 5 --n-samples 1000 --out results
  sklrank sweep --dataset cifar10 --data-home ~/data --noise 0 0.1 0.3 --out results
"""


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_float(text):
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0, got 0")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive integer or -1 (all cores), got 0")
    return value


def _canvas(text):
    parts = text.lower().replace("*", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 2x2, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"rows and columns must be >= 1, got {text!r}")
    return rows, cols


def _signal_position(text):
    if text == "random":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'random' or a patch index, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a patch index is >= 0, got {text}")
    return value


def add_parser(subparsers):
    """Register ``sweep`` on the ``sklrank`` command line."""
    from sklrank.experiments import (
        CLASSIFIER_DEFAULTS,
        IMAGE_CLASSIFIER_DEFAULTS,
        IMAGE_DEFAULTS,
        SYNTHETIC_DEFAULTS,
    )

    syn, img = SYNTHETIC_DEFAULTS, IMAGE_DEFAULTS
    clf, img_clf = CLASSIFIER_DEFAULTS, IMAGE_CLASSIFIER_DEFAULTS
    parser = subparsers.add_parser(
        "sweep",
        help="train the rank CNN across noise levels and seeds; write CSV, PNG and JSON",
        description=textwrap.fill(
            "Reproduce the noise sweep of Zhang, Gao, Zou and Cao (2025): for every noise level "
            "and seed, train the two-layer CNN and record the stable rank of the data, of the "
            "patches and of the learned filters, the clean data's rank and the accuracy. "
            "Synthetic data: the signal sits in patch --signal-position of --n-patches patches "
            "of --n-features values, so the clean data matrix has rank 2K. Images: PCA to rank "
            "K, then each image is placed in a --canvas of image-sized tiles whose other tiles "
            "are Gaussian noise, and the CNN's kernel is one tile.",
            width=88,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=["synthetic", "mnist", "cifar10"], default="synthetic",
        help="the data set (default: synthetic)",
    )
    data.add_argument(
        "--noise", type=_non_negative_float, nargs="+", metavar="STD",
        help="noise standard deviations, each >= 0 (default: synthetic "
        f"{' '.join(f'{v:g}' for v in syn['noise_levels'])}; images "
        f"{' '.join(f'{v:g}' for v in img['noise_levels'])})",
    )
    data.add_argument(
        "--seeds", type=_positive_int, default=3, metavar="N",
        help="number of seeds 0..N-1 per noise level (default: 3)",
    )
    data.add_argument(
        "--n-samples", type=_positive_int, metavar="N",
        help=f"training samples per fit (default: synthetic {syn['n_samples']}; images "
        f"{img['n_samples']}, drawn per seed from the training set)",
    )
    data.add_argument(
        "--n-test", type=_positive_int, metavar="N",
        help=f"test samples per fit (default: {syn['n_test']})",
    )
    data.add_argument(
        "--rank", type=_positive_int, metavar="K",
        help=f"K: signal directions per class (synthetic, default {syn['rank']}) or PCA rank "
        f"of the clean images (default {img['rank']})",
    )
    data.add_argument(
        "--data-home", metavar="DIR",
        help="folder holding mnist/ and cifar10/ (default: $SKLRANK_DATA, then "
        "~/scikit_learn_data/sklrank)",
    )
    data.add_argument(
        "--no-download", action="store_true",
        help="fail at once if MNIST / CIFAR-10 files are missing instead of downloading them",
    )
    data.add_argument(
        "--classes", type=int, nargs="+", metavar="C",
        help="images only: keep these class labels, e.g. --classes 0 1 (default: all ten)",
    )
    data.add_argument(
        "--canvas", type=_canvas, metavar="RxC",
        help=f"images only: canvas of image tiles for noise padding (default: "
        f"{img['canvas'][0]}x{img['canvas'][1]})",
    )
    data.add_argument(
        "--noise-mode", choices=["pad", "additive"],
        help="images only: 'pad' puts noise in the other canvas tiles, 'additive' adds it to "
        f"the image itself (default: {img['noise_mode']})",
    )
    data.add_argument(
        "--n-features", type=_positive_int, metavar="D",
        help=f"synthetic only: dimension of a patch (default: {syn['n_features']})",
    )
    data.add_argument(
        "--n-patches", type=_positive_int, metavar="P",
        help=f"synthetic only: patches per sample (default: {syn['n_patches']})",
    )
    data.add_argument(
        "--signal-norm", type=_positive_float, metavar="NORM",
        help=f"synthetic only: norm of a signal patch (default: {syn['signal_norm']:g})",
    )
    data.add_argument(
        "--signal-position", type=_signal_position, metavar="POS",
        help="index of the patch holding the signal (synthetic) or of the canvas tile holding "
        "the image (images, row-major), or 'random' for a random one per sample (then the "
        "clean data has rank 2K*P, resp. up to K*tiles) (default: 0)",
    )

    model = parser.add_argument_group("classifier (RankCNNClassifier)")
    model.add_argument(
        "--n-filters", type=_positive_int, metavar="M",
        help=f"filters per class (default: {clf['n_filters']})",
    )
    model.add_argument(
        "--max-epochs", type=_positive_int, metavar="T",
        help=f"full-batch gradient steps (default: synthetic {clf['max_epochs']}; images "
        f"{img_clf['max_epochs']})",
    )
    model.add_argument(
        "--lr", type=_positive_float, metavar="ETA",
        help=f"learning rate (default: synthetic {clf['lr']:g}; images {img_clf['lr']:g})",
    )
    model.add_argument(
        "--q", type=float, metavar="Q",
        help=f"power of the Huberized ReLU, >= 1; 1 is the plain ReLU (default: {clf['q']})",
    )

    running = parser.add_argument_group("running")
    running.add_argument(
        "--out", default="sweep-results", metavar="DIR",
        help="output folder, created if needed (default: sweep-results)",
    )
    running.add_argument(
        "--name", metavar="NAME",
        help="base name of the output files (default: the data set's name)",
    )
    running.add_argument(
        "--n-jobs", type=_n_jobs, metavar="N",
        help="fits run at once with joblib; -1 uses every core (default: 1, or as many as "
        "the Dask cluster runs with --scheduler)",
    )
    running.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run the fits on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs "
        "dask[distributed])",
    )
    running.add_argument(
        "--quiet", action="store_true", help="no progress bar (the table is still printed)",
    )
    parser.set_defaults(run=run)
    return parser


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("sklrank", "numpy", "scipy", "scikit-learn", "torch", "skorch", "pandas",
                    "matplotlib", "seaborn", "joblib"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = None
    return out


def summary_table(df):
    """Mean +/- standard deviation over seeds at every noise level, as strings."""
    columns = {
        "data_stable_rank": "data sr",
        "patch_stable_rank": "patch sr",
        "filter_stable_rank": "filter sr",
        "train_accuracy": "train acc",
        "test_accuracy": "test acc",
        "fit_time": "fit s",
    }
    grouped = df.groupby("noise_std")
    table = {}
    for column, label in columns.items():
        mean, std = grouped[column].mean(), grouped[column].std(ddof=1).fillna(0.0)
        digits = 3 if "acc" in column else 2
        table[label] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(mean, std)]
    import pandas as pd

    out = pd.DataFrame(table, index=grouped.size().index)
    out.insert(0, "seeds", grouped.size().to_numpy())
    out.insert(1, "clean rank", grouped["clean_rank"].median().to_numpy())
    return out


def describe(config):
    """A one-line description of a sweep's data, for the figure title."""
    data = config["data"]
    if config["dataset"] == "synthetic":
        position = data["signal_position"]
        where = "a random patch" if position == "random" else f"patch {position}"
        return (
            f"synthetic: {data['n_samples']} samples, {data['n_patches']} patches of "
            f"{data['n_features']}, K = {data['rank']} per class, signal in {where}"
        )
    classes = "all classes" if data["classes"] is None else (
        "classes " + ", ".join(str(c) for c in data["classes"])
    )
    rows, cols = data["canvas"]
    noise = f"{rows}x{cols} noise padding" if data["noise_mode"] == "pad" else "additive noise"
    return (
        f"{config['dataset']}: {classes}, PCA rank K = {data['rank']}, up to "
        f"{data['n_samples']} training images, {noise}"
    )


def run(args):
    """Run ``sklrank sweep`` (see ``sklrank sweep --help``); return the exit status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklrank.datasets import DataFileError
    from sklrank.experiments import noise_sweep, plot_noise_sweep

    synthetic = args.dataset == "synthetic"
    image_only = {
        "--classes": args.classes, "--canvas": args.canvas, "--noise-mode": args.noise_mode,
    }
    synthetic_only = {
        "--n-features": args.n_features, "--n-patches": args.n_patches,
        "--signal-norm": args.signal_norm,
    }
    wrong = image_only if synthetic else synthetic_only
    given = [flag for flag, value in wrong.items() if value is not None]
    if given:
        raise CLIError(f"{', '.join(given)} do(es) not apply to --dataset {args.dataset}.")
    if args.q is not None and args.q < 1:
        raise CLIError(f"--q must be >= 1, got {args.q:g}.")
    data_params = {
        key: value
        for key, value in {
            "canvas": args.canvas, "noise_mode": args.noise_mode,
            "n_features": args.n_features, "n_patches": args.n_patches,
            "signal_norm": args.signal_norm,
            ("signal_position" if synthetic else "position"): args.signal_position,
        }.items()
        if value is not None
    }
    classifier_params = {
        key: value
        for key, value in {
            "n_filters": args.n_filters, "max_epochs": args.max_epochs, "lr": args.lr,
            "q": args.q,
        }.items()
        if value is not None
    }
    name = args.name or args.dataset
    if any(sep in name for sep in ("/", "\\")) or name in ("", ".", ".."):
        raise CLIError(f"--name must be a plain file name, got {name!r}.")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the output folder {out}: {exc}") from exc

    start = time.perf_counter()
    try:
        df = noise_sweep(
            args.dataset,
            noise_levels=args.noise,
            n_seeds=args.seeds,
            n_samples=args.n_samples,
            n_test=args.n_test,
            rank=args.rank,
            classes=args.classes,
            data_home=args.data_home,
            download_if_missing=not args.no_download,
            data_params=data_params or None,
            classifier_params=classifier_params or None,
            n_jobs=args.n_jobs,
            dask_client=args.scheduler,
            verbose=0 if args.quiet else 1,
        )
    except (FileNotFoundError, DataFileError, ValueError, OSError) as exc:
        # one line: the loaders' and the sweep's messages already say what to do
        raise CLIError(" ".join(str(exc).split())) from exc
    runtime = time.perf_counter() - start

    csv_path, png_path, json_path = (out / f"{name}.{ext}" for ext in ("csv", "png", "json"))
    df.to_csv(csv_path, index=False)
    fig = plot_noise_sweep(df, title=describe(df.attrs["config"]))
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    record = {
        # the command line when run as `sklrank ...` / `python -m sklrank ...`
        "command": (
            "sklrank " + " ".join(sys.argv[1:])
            if sys.argv and Path(sys.argv[0]).name in ("sklrank", "__main__.py")
            else None
        ),
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "config": df.attrs["config"],
        "versions": _versions(),
        "runtime_s": round(runtime, 2),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "outputs": {"csv": csv_path.name, "png": png_path.name},
    }
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n")

    print(f"noise sweep on {df['dataset'].iloc[0]}: {len(df)} fits in {runtime:.1f} s "
          "(mean ± sd over seeds)")
    print(summary_table(df).to_string())
    print(f"wrote {csv_path}, {png_path}, {json_path}")
    return 0

