"""``sklrank sweep``: the noise sweep of the paper in one command (CSV, PNG and JSON out)."""

import argparse
import hashlib
import io
import json
import math
import platform
import sys
import textwrap
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from sklrank._cli import (
    INTERRUPTED,
    MAX_LR,
    CLIError,
    as_options,
    at_most,
    command_line,
    epoch_count_option,
    int_option,
    n_jobs_option,
    one_line,
    output_folder,
    seed_count_option,
    thread_count_option,
)

_EPILOG = """\
outputs (in --out, named after --name):
  NAME.csv           one row per fit: noise_std, seed, data_stable_rank, patch_stable_rank,
                     filter_stable_rank, clean_rank, clean_stable_rank, train_accuracy,
                     test_accuracy, fit_time, n_train, ..., training_warning (the
                     ConvergenceWarning of a fit whose loss never moved or rose, else empty) and
                     n_batched (the fits trained together with this one, itself included)
                     (pandas reads an empty training_warning as NaN: pass
                     dtype={"training_warning": str} to read_csv, then
                     .fillna({"training_warning": ""}))
  NAME.png           stable ranks and accuracy against the noise level (mean +/- sd over
                     seeds); with several --n-samples, the filter stable rank against n and
                     its growth from the smallest to the largest noise level. A fit that did
                     not train (training_warning set) is crossed out in red, and left out of
                     the means of the filter rank and the accuracies, as in the printed table
  NAME.json          the configuration, the command line, the package versions, the runtime
                     and the SHA-256 of the CSV and PNG
  NAME.points.jsonl  while it runs: every finished fit, saved as it finishes (removed once
                     the three files above are written)

never losing work:
  Every option is checked, and the output folder tried for writing, before the first fit.
  The CSV, PNG and JSON are written to temporary files and renamed into place together, so
  an interrupt or a full disk leaves the previous set whole. An interrupted or failed run
  keeps its finished fits in NAME.points.jsonl (the fits of a batch when the batch
  finishes): run the same command with --resume to train only the missing ones (the final
  numbers are those of an uninterrupted run; other settings are refused). After a failed
  training (a diverged or dead network), change the option at fault (e.g. --lr) and run
  with --overwrite. Without --resume or --overwrite, a run into existing results (or beside
  an unfinished one) is refused; --overwrite starts over and replaces the old files once
  the new ones are complete.

examples:
  sklrank sweep --out results
  sklrank sweep --out results --resume
  sklrank sweep --dataset mnist --classes 0 1 --rank 5 --n-samples 1000 --out results
  sklrank sweep --dataset cifar10 --data-home ~/data --noise 0 0.1 0.3 --out results
  sklrank sweep --dataset mnist --n-samples 1000 4000 16000 60000 --noise 0 0.3 1 \\
      --device cuda --out results          # the sample-size study
"""


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _training_size(text):
    """--n-samples: an integer; noise_sweep says why fewer than 2 do not do (0 got argparse's
    ">= 1", 1 the sweep's "at least 2 ... one of each of two classes")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    return at_most(value, text)


def _positive_float(text):
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0, got 0")
    return value


def _learning_rate(text):
    return at_most(_positive_float(text), text, MAX_LR, "3.4e38 (the networks train in float32)")


def _q(text):
    value = _non_negative_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (1 is the plain ReLU), got {text}")
    return value


def _canvas(text):
    """ROWSxCOLS, or N for NxN (as BackgroundNoise's grid and noise_sweep's canvas)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        rows, cols = (int(p) for p in (parts * 2 if len(parts) == 1 else parts))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ROWSxCOLS such as 2x2, or N for NxN, got {text!r}") from None
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
        SAMPLE_SIZE_DEFAULTS,
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
        "--seeds", type=seed_count_option, default=3, metavar="N",
        help="number of seeds 0..N-1 per noise level (default: 3)",
    )
    data.add_argument(
        "--n-samples", type=_training_size, nargs="+", metavar="N",
        help=f"training samples per fit (default: synthetic {syn['n_samples']}; images "
        f"{img['n_samples']}, drawn per seed from the training set). Several values run the "
        "sample-size study: the sweep at each n, and a figure of the filter stable rank "
        f"against n (default name DATASET_sample_size; e.g. "
        f"{' '.join(str(v) for v in SAMPLE_SIZE_DEFAULTS['n_samples'])} with --noise "
        f"{' '.join(f'{v:g}' for v in SAMPLE_SIZE_DEFAULTS['noise_levels'])} on mnist)",
    )
    data.add_argument(
        "--n-test", type=int_option(), metavar="N",
        help=f"test samples per fit (default: {syn['n_test']})",
    )
    data.add_argument(
        "--rank", type=int_option(), metavar="K",
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
        help=f"images, --noise-mode pad only: canvas of image tiles for noise padding, RxC or "
        f"N for NxN (default: {img['canvas'][0]}x{img['canvas'][1]})",
    )
    data.add_argument(
        "--noise-mode", choices=["pad", "additive"],
        help="images only: 'pad' puts noise in the other canvas tiles, 'additive' adds it to "
        f"the image itself (default: {img['noise_mode']})",
    )
    data.add_argument(
        "--n-features", type=int_option(), metavar="D",
        help=f"synthetic only: dimension of a patch (default: {syn['n_features']})",
    )
    data.add_argument(
        "--n-patches", type=int_option(), metavar="P",
        help=f"synthetic only: patches per sample, at least 2 (one holds the signal) (default: "
        f"{syn['n_patches']})",
    )
    data.add_argument(
        "--signal-norm", type=_positive_float, metavar="NORM",
        help=f"synthetic only: norm of a signal patch (default: {syn['signal_norm']:g})",
    )
    data.add_argument(
        "--signal-position", type=_signal_position, metavar="POS",
        help="index of the patch holding the signal (synthetic) or of the canvas tile holding "
        "the image (images, row-major), or 'random' for a random one per sample (then the "
        "clean data has rank 2K*P, resp. up to K*tiles); not with --noise-mode additive "
        "(default: 0)",
    )

    model = parser.add_argument_group("classifier (RankCNNClassifier)")
    model.add_argument(
        "--n-filters", type=int_option(), metavar="M",
        help=f"filters per class (default: {clf['n_filters']})",
    )
    model.add_argument(
        "--max-epochs", type=epoch_count_option, metavar="T",
        help=f"full-batch gradient steps (default: synthetic {clf['max_epochs']}; images "
        f"{img_clf['max_epochs']})",
    )
    model.add_argument(
        "--lr", type=_learning_rate, metavar="ETA",
        help=f"learning rate (default: synthetic {clf['lr']:g}; images {img_clf['lr']:g})",
    )
    model.add_argument(
        "--q", type=_q, metavar="Q",
        help=f"power of the Huberized ReLU, >= 1; 1 is the plain ReLU (default: {clf['q']})",
    )

    running = parser.add_argument_group("running")
    running.add_argument(
        "--out", default="sweep-results", type=output_folder, metavar="DIR",
        help="output folder, created if needed (default: sweep-results)",
    )
    running.add_argument(
        "--name", metavar="NAME",
        help="base name of the output files, a plain file name (default: the data set's name; "
        "DATASET_sample_size with several --n-samples)",
    )
    again = running.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted or failed run from its finished fits (NAME.points.jsonl) "
        "with the same options (after a diverged or dead fit, change the option and use "
        "--overwrite); starts from the first fit when there is nothing to resume",
    )
    again.add_argument(
        "--overwrite", action="store_true",
        help="start over even if NAME.csv/png/json or an unfinished run exist: the unfinished "
        "run's fits are discarded at once, the old files are replaced when the new ones are "
        "complete",
    )
    running.add_argument(
        "--device", default="cpu", metavar="DEVICE",
        help="where the networks train: cpu (default), cuda or cuda:N; on one GPU a batch "
        "trains as one model while --n-jobs threads prepare and measure its fits (with "
        "--no-batch the fits run one after another: --n-jobs 1)",
    )
    running.add_argument(
        "--n-jobs", type=n_jobs_option, metavar="N",
        help="cores to use: the threads in which a batch's fits are prepared, trained (on the "
        "CPU) and measured, or the fits run at once (joblib) with --no-batch; -1 uses every "
        "core, -2 all but one (default: every core, the cores // T with --threads-per-point "
        "T; 1 with --no-batch on a GPU; as many as the Dask cluster runs with --scheduler); "
        "the numbers do not depend on it",
    )
    running.add_argument(
        "--no-batch", action="store_true",
        help="train one fit at a time (default: the fits of one training-set size train as "
        "one batched model, as many at once as a memory budget allows; the same numbers)",
    )
    running.add_argument(
        "--threads-per-point", type=thread_count_option, default=1, metavar="T",
        help="torch and BLAS threads of each fit (default: 1); the numbers do not depend on "
        "--n-jobs, but may change in the last bits with T. Without --scheduler, T x the "
        "--n-jobs workers above the machine's cores gets a warning (slower, not wrong), and "
        "the default --n-jobs is the cores // T",
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


def summary_table(df, by=("noise_std",)):
    """Mean +/- standard deviation over seeds for every group of ``by``, as strings (the
    mean alone for a group of one seed).

    The filter stable rank and the accuracies are those of the fits that trained: a fit that
    did not train (a non-empty ``training_warning``, also as read back from a CSV) keeps its
    initial filters, and its rank is no learned one. Such fits are left out of those
    columns' means (as scikit-learn's searches leave a failed fit's score out), and counted
    in a column ``untrained`` after ``seeds`` (only when some fit did not train); a group
    none of whose fits trained shows "n/a" there. The data and patch stable ranks and the
    fit time do not depend on the training: they are over every fit.
    """
    import numpy as np
    import pandas as pd

    from sklrank._base import did_not_train

    columns = {
        "data_stable_rank": "data sr",
        "patch_stable_rank": "patch sr",
        "filter_stable_rank": "filter sr",
        "train_accuracy": "train acc",
        "test_accuracy": "test acc",
        "fit_time": "fit s",
    }
    untrained = did_not_train(df)
    # the learned numbers of a fit that did not train are not results: NaN, which the mean
    # and the sd skip
    df = df.assign(**{column: df[column].mask(untrained) for column in LEARNED_COLUMNS})
    grouped = df.groupby(list(by))
    table = {}
    for column, label in columns.items():
        # one seed: the mean alone (its sd is undefined; "± 0.00" claimed no spread)
        mean, std = grouped[column].mean(), grouped[column].std(ddof=1)
        digits = 3 if "acc" in column else 2
        table[label] = ["n/a" if np.isnan(m) else
                        f"{m:.{digits}f}" + ("" if np.isnan(s) else f" ± {s:.{digits}f}")
                        for m, s in zip(mean, std)]
    out = pd.DataFrame(table, index=grouped.size().index)
    out.insert(0, "seeds", grouped.size().to_numpy())
    position = 1
    if untrained.any():
        out.insert(1, "untrained", untrained.groupby([df[k] for k in by]).sum().to_numpy())
        position = 2
    # a rank is a count: 4, not 4.0 (a median over an even number of seeds may end in .5)
    out.insert(position, "clean rank", [f"{r:g}" for r in grouped["clean_rank"].median()])
    return out


# the columns of a sweep's row that the training sets (the others are the data's)
LEARNED_COLUMNS = ("filter_stable_rank", "train_accuracy", "test_accuracy")


def describe(config):
    """A one-line description of a sweep's data, for the figure title."""
    data = config["data"]
    sizes = data["n_samples"]
    if isinstance(sizes, list):
        sizes = "n = " + ", ".join(str(v) for v in sizes)
    if config["dataset"] == "synthetic":
        position = data["signal_position"]
        where = "a random patch" if position == "random" else f"patch {position}"
        return (
            f"synthetic: {sizes} samples, {data['n_patches']} patches of "
            f"{data['n_features']}, K = {data['rank']} per class, signal in {where}"
        )
    classes = "all classes" if data["classes"] is None else (
        "classes " + ", ".join(str(c) for c in data["classes"])
    )
    if data["noise_mode"] == "additive":  # (which records no canvas and no tile)
        noise = "additive noise"
    else:
        rows, cols = data["canvas"]
        noise = f"{rows}x{cols} noise padding"
    if data["noise_mode"] == "pad" and rows * cols > 1:
        # where the image sits, as the synthetic title says where the signal sits (a random
        # tile, whose clean data have up to K * tiles directions, was not said at all)
        position = data.get("position", 0)
        noise += (", image in a random tile" if position == "random"
                  else f", image in tile {position}")
    return (
        f"{config['dataset']}: {classes}, PCA rank K = {data['rank']}, {sizes} training "
        f"images, {noise}"
    )


def _kept(checkpoint, args):
    """What an interrupted run keeps, and the command that continues it."""
    from sklrank.experiments._checkpoint import count_points

    kept = count_points(checkpoint)
    if not kept:
        return "no fit had finished."
    again = ("the same command with --resume instead of --overwrite" if args.overwrite
             else "the same command with --resume")
    return f"{kept} finished fit(s) are kept in {checkpoint}: run {again} to continue."


def _checkpoint_message(exc, checkpoint, synthetic):
    """The CheckpointError of a sweep, in the command's terms (its options, not the sweep
    function's parameters)."""
    if exc.reason == "other_configuration":
        options = {**_options(synthetic), "seeds": "--seeds", "batched": "--no-batch"}
        changes = []
        for key, there, here in exc.differences:
            name = key.rsplit(".", 1)[-1]
            if name == "seeds" and isinstance(there, list) and isinstance(here, list):
                there, here = len(there), len(here)  # --seeds N: the seeds 0..N-1
            flag = options.get(name, key)
            if name == "batched":
                # --no-batch is batched=False, its absence batched="auto" (the message said
                # "--no-batch: False there, 'auto' here" of a run made with --no-batch)
                there, here = _no_batch(there), _no_batch(here)
                changes.append(f"--no-batch {there} there, {here} here")
                continue
            changes.append(f"{flag[0] if isinstance(flag, tuple) else flag}: {there!r} "
                           f"there, {here!r} here")
        return (f"{checkpoint} holds the fits of a run with other options "
                f"({'; '.join(changes)}); --resume continues it with the same options only: "
                "run its command with --resume, or pass --overwrite to start over (its fits "
                "are discarded).")
    if exc.reason == "in_use":
        return (f"another sweep is running into {checkpoint} right now; wait for it to "
                "finish, or pass another --name or --out.")
    fix = " (--overwrite deletes it and starts over)" if exc.reason == "damaged" else ""
    return f"{one_line(exc)}{fix}"


def _no_batch(batched):
    """--no-batch as a checkpoint's ``batched`` records it: "given" (False), "not given"
    ("auto"), or the value a Python caller passed."""
    if batched is False:
        return "given"
    if batched == "auto":
        return "not given"
    return f"not given (batched={batched!r}, from Python)"


def _prepare_outputs(outputs, checkpoint, *, overwrite, resume):
    """Check the output files before any fit, and apply --overwrite / --resume."""
    from sklrank.experiments._checkpoint import (
        count_points,
        discard_if_empty,
        in_use,
        looks_like_checkpoint,
        remove_checkpoint,
    )
    from sklrank.experiments._outputs import check_output_files

    try:
        check_output_files([*outputs.values(), checkpoint])
    except ValueError as exc:
        raise CLIError(one_line(exc)) from exc
    existing = [str(p) for p in outputs.values() if p.exists()]
    unfinished = checkpoint.exists()
    if unfinished and not looks_like_checkpoint(checkpoint):
        raise CLIError(
            f"{checkpoint} is not a sweep checkpoint (sklrank sweep keeps its unfinished runs "
            "under that name): move the file, or pass another --name or --out."
        )
    if in_use(checkpoint):
        raise CLIError(
            f"another sweep is running into {checkpoint} right now; wait for it to finish, or "
            "pass another --name or --out."
        )
    if unfinished and discard_if_empty(checkpoint):
        # a run that stopped before its first fit finished (e.g. a bad setting found while
        # preparing the first point) left nothing to keep: it neither blocks a new run nor
        # needs --resume or --overwrite
        unfinished = False
    if overwrite:
        if unfinished:
            remove_checkpoint(checkpoint)  # start over: its fits are not reused
    elif resume:
        if not unfinished and existing:
            raise CLIError(
                f"nothing to resume: {existing[0]} holds the results of a finished run and "
                f"there is no {checkpoint}; pass --overwrite to run it again."
            )
    elif unfinished:
        raise CLIError(
            f"{checkpoint} holds {count_points(checkpoint)} finished fit(s) of an unfinished "
            "run; pass --resume to continue it (same options), or --overwrite to start over."
        )
    elif existing:
        raise CLIError(
            f"{', '.join(existing)} already exist(s); pass --overwrite to replace them (once the "
            "new results are complete), or another --name or --out."
        )
    return existing


def _options(synthetic):
    """``{library parameter: option}``: the options that a library message names by their
    Python parameters (``signal_position=9``) are named as the command takes them."""
    common = {
        "noise_levels": "--noise", "noise_std": "--noise", "n_samples": "--n-samples",
        "n_test": "--n-test", "rank": "--rank", "n_seeds": "--seeds", "dataset": "--dataset",
        "data_home": "--data-home", "n_filters": "--n-filters", "max_epochs": "--max-epochs",
        "lr": "--lr", "q": "--q", "device": "--device", "n_jobs": "--n-jobs",
        "threads_per_point": "--threads-per-point", "dask_client": "--scheduler",
    }
    if synthetic:
        return {**common, "n_features": "--n-features", "n_patches": "--n-patches",
                "signal_norm": "--signal-norm", "signal_position": "--signal-position"}
    canvas = ("--canvas", lambda v: "x".join(str(n) for n in v))
    # (the transformer's names for the canvas and the tile, where its message is passed on)
    return {**common, "classes": "--classes", "canvas": canvas, "grid": canvas,
            "noise_mode": "--noise-mode", "position": "--signal-position"}


def _advice(synthetic):
    """The library's advice that only a Python caller can follow, as the command's user can
    (see :func:`sklrank._cli.as_options`): the inputs' scale is that of the noise (and of the
    signal, for synthetic data; the loaders scale the pixels), the seeds are 0..N-1."""
    scale = "noise_std or signal_norm" if synthetic else "noise_std"
    return [
        # RankCNNClassifier's failures and its ConvergenceWarning
        ("scale X to unit scale (e.g. pixels / 255, or StandardScaler)", f"lower {scale}"),
        ("scale X (e.g. pixels / 255, or StandardScaler), or lower lr",
         f"lower {scale}, or lower lr"),
        ("Scale X up to unit scale, raise init_std or lr, or lower kappa",
         "Raise signal_norm or lr" if synthetic else "Raise lr"),
        ("check activation, q and kappa", "check q"),
        # make_low_rank_patches and BackgroundNoise
        (" Generate at a smaller scale and rescale X in float64 if you need it.",
         " Use smaller values."),
        (" and rescale X in float64 if you need it", ""),
        ("Lower noise_std (or rescale X), or pass float64 X.", "Lower noise_std."),
        (", a (row, column) pair, or 'random'", " or 'random'"),  # --signal-position
        # a seed whose draw holds one class: --seeds N takes the seeds 0..N-1
        (" or pass other seeds", ""), (" or other seeds", ""),
    ]


def _kwargs(args, synthetic):
    """noise_sweep's / sample_size_study's keyword arguments from the command line."""
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
    return {
        "noise_levels": args.noise,
        "n_seeds": args.seeds,
        "n_test": args.n_test,
        "rank": args.rank,
        "classes": args.classes,
        "data_home": args.data_home,
        "download_if_missing": not args.no_download,
        "data_params": data_params or None,
        "classifier_params": classifier_params or None,
        "device": args.device,
        "n_jobs": _default_n_jobs(args),
        "dask_client": args.scheduler,
        "threads_per_point": args.threads_per_point,
        "batched": not args.no_batch and "auto",
        "verbose": 0 if args.quiet else 1,
    }


def _default_n_jobs(args):
    """--n-jobs, by default every core (the numbers do not depend on it): as many workers as
    --threads-per-point threads each fit in the cores; one at a time for fits trained alone
    on a GPU, and the cluster's own default with --scheduler."""
    if args.n_jobs is not None or args.scheduler is not None:
        return args.n_jobs
    if args.no_batch and str(args.device).startswith("cuda"):
        return None
    if args.threads_per_point > 1:
        # (-1 ran a worker a core, each on --threads-per-point threads: oversubscribed)
        return max(1, _cores() // args.threads_per_point)
    return -1


def _cores():
    """The cores this process may use (joblib's count: CPU affinity and cgroup quotas)."""
    from joblib import cpu_count

    return cpu_count()


def _warn_oversubscription(args, n_jobs):
    """A warning line when a local run asks for more threads than the machine has cores
    (--threads-per-point x the --n-jobs workers): not an error (the numbers do not depend on
    --n-jobs, and keeping T reproduces a run made with T threads), but the threads wait for
    each other. Not with --scheduler: the cluster's workers have cores of their own."""
    if args.scheduler is not None:
        return
    from joblib import effective_n_jobs

    cores, threads = _cores(), args.threads_per_point
    workers = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    if threads * workers <= cores:
        return
    if threads > cores:
        fix = (f"pass --threads-per-point {cores} or fewer (the numbers may change in the "
               "last bits with it)" + (" and --n-jobs 1" if workers > 1 else ""))
    else:
        fix = f"pass --n-jobs {cores // threads} or fewer"
    jobs = f" x {workers} workers (--n-jobs {n_jobs})" if workers > 1 else ""
    print(f"sklrank sweep: warning: --threads-per-point {threads}{jobs} = {threads * workers} "
          f"threads on the {cores} cores of this machine: they wait for each other (slower, "
          f"the same numbers); {fix}.", file=sys.stderr)


def _figure(df, study):
    import matplotlib.pyplot as plt
    import numpy as np

    from sklrank.experiments import plot_noise_sweep, plot_sample_size_study

    title = describe(df.attrs["config"])
    if study and df["noise_std"].nunique() == 1:
        # no growth from one noise level: the ranks against n only (the left panel)
        fig, ax = plt.subplots(figsize=(8.5, 4.5), layout="constrained")
        plot_sample_size_study(df, ax=ax)
        fig.suptitle(title, wrap=True)
    else:
        plot = plot_sample_size_study if study else plot_noise_sweep
        fig = np.ravel(plot(df, title=title))[0].figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def run(args):
    """Run ``sklrank sweep`` (see ``sklrank sweep --help``); return the exit status."""
    import matplotlib

    matplotlib.use("Agg")

    from sklearn.exceptions import ConvergenceWarning

    from sklrank._device import check_device
    from sklrank.datasets import DataFileError
    from sklrank.exceptions import TrainingFailedError
    from sklrank.experiments import noise_sweep, sample_size_study
    from sklrank.experiments._checkpoint import CheckpointError, count_points, remove_checkpoint
    from sklrank.experiments._outputs import InterruptedAfterWriting, write_file_set

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
    if args.noise_mode == "additive":
        # the noise lands on the image itself: no canvas, no tile to choose (both were
        # silently ignored, and the JSON recorded them as if used)
        given = [flag for flag, value in {
            "--canvas": args.canvas, "--signal-position": args.signal_position,
        }.items() if value is not None]
        if given:
            raise CLIError(f"{', '.join(given)} do(es) not apply to --noise-mode additive (the "
                           "noise is added to the image itself); drop it, or use --noise-mode "
                           "pad.")
    if synthetic and args.n_patches == 1:
        # the signal takes the only patch: the noise has nowhere to go, and every noise level
        # trained on the same data (as --canvas 1x1 would for images)
        raise CLIError("--n-patches 1 leaves no patch for the noise (the signal takes it); "
                       "use --n-patches 2 or more.")
    study = args.n_samples is not None and len(args.n_samples) > 1
    name = args.name
    if name is None:
        name = f"{args.dataset}_sample_size" if study else args.dataset
    if any(sep in name for sep in ("/", "\\", "\0")) or name in ("", ".", ".."):
        raise CLIError(f"--name must be a plain file name, got {name!r}.")
    if not name.isprintable():  # a newline or other control character: a broken listing
        raise CLIError(f"--name must be printable text, without control characters such as a "
                       f"newline, got {name!r}.")
    try:  # before anything is written; on a Dask cluster the workers' devices count
        check_device(args.device, types=("cpu", "cuda"), parameter="--device",
                     on_this_machine=args.scheduler is None)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = Path(args.out)
    outputs = {ext: out / f"{name}.{ext}" for ext in ("csv", "png", "json")}
    checkpoint = out / f"{name}.points.jsonl"
    replaced = _prepare_outputs(
        outputs, checkpoint, overwrite=args.overwrite, resume=args.resume
    )
    resumed = count_points(checkpoint)

    start = time.perf_counter()
    kwargs = _kwargs(args, synthetic)
    _warn_oversubscription(args, kwargs["n_jobs"])
    try:
        with warnings.catch_warnings():
            # the sweep's warning about fits that did not train: counted in the summary
            warnings.simplefilter("ignore", ConvergenceWarning)
            if study:
                df = sample_size_study(
                    args.dataset, n_samples=args.n_samples, checkpoint=checkpoint, **kwargs
                )
            else:
                n_samples = None if args.n_samples is None else args.n_samples[0]
                df = noise_sweep(args.dataset, n_samples=n_samples, checkpoint=checkpoint,
                                 **kwargs)
    except KeyboardInterrupt:
        print(f"sklrank sweep: interrupted; {_kept(checkpoint, args)}", file=sys.stderr)
        return INTERRUPTED
    except CheckpointError as exc:
        raise CLIError(_checkpoint_message(exc, checkpoint, synthetic)) from exc
    except (FileNotFoundError, DataFileError, ValueError, RuntimeError, MemoryError,
            OSError) as exc:
        # One line: the loaders' and the sweep's messages already say what to do.
        kept = count_points(checkpoint)
        if not kept:
            hint = ""
        elif isinstance(exc, TrainingFailedError):
            # the cause is a setting: --resume refuses changed options
            hint = (f"; {kept} finished fit(s) are kept in {checkpoint}, which --resume "
                    "continues with the same options only: run with changed options (e.g. a "
                    "lower --lr) with --overwrite")
        else:
            hint = (f"; {kept} finished fit(s) are kept in {checkpoint}: fix the cause and run "
                    "the same command with --resume to continue")
        raise CLIError(f"{one_line(exc, _options(synthetic), advice=_advice(synthetic))}"
                       f"{hint}") from exc
    runtime = time.perf_counter() - start

    try:
        csv_bytes = df.to_csv(index=False).encode("utf-8")
        png_bytes = _figure(df, study)  # about a second after the last fit
    except KeyboardInterrupt:
        print(f"sklrank sweep: interrupted before the results were written; "
              f"{_kept(checkpoint, args)}", file=sys.stderr)
        return INTERRUPTED
    record = {
        # the command line when run as `sklrank ...` / `python -m sklrank ...`
        "command": command_line(),
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "experiment": "sample_size_study" if study else "noise_sweep",
        "config": df.attrs["config"],
        "versions": _versions(),
        "runtime_s": round(runtime, 2),
        "resumed_fits": resumed,
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "outputs": {
            ext: {"file": outputs[ext].name, "sha256": hashlib.sha256(content).hexdigest()}
            for ext, content in (("csv", csv_bytes), ("png", png_bytes))
        },
    }
    json_bytes = (json.dumps(record, indent=2, default=str) + "\n").encode("utf-8")
    try:
        write_file_set({
            outputs["csv"]: lambda path: path.write_bytes(csv_bytes),
            outputs["png"]: lambda path: path.write_bytes(png_bytes),
            outputs["json"]: lambda path: path.write_bytes(json_bytes),
        })
    except InterruptedAfterWriting:
        remove_checkpoint(checkpoint)
        print(
            f"sklrank sweep: interrupted; the results were written first: "
            f"{', '.join(str(p) for p in outputs.values())}.",
            file=sys.stderr,
        )
        return INTERRUPTED
    except KeyboardInterrupt:
        print(
            f"sklrank sweep: interrupted while writing; the previous files (if any) are "
            f"unchanged and every fit is kept in {checkpoint}: run the same command with "
            "--resume to write the results.",
            file=sys.stderr,
        )
        return INTERRUPTED
    except OSError as exc:
        raise CLIError(
            f"writing the results failed ({one_line(exc)}); every fit is kept in {checkpoint}: "
            "free space or fix the folder, then run the same command with --resume."
        ) from exc
    remove_checkpoint(checkpoint)

    experiment = "sample-size study" if study else "noise sweep"
    fits = f"{len(df)} fit{'s' if len(df) != 1 else ''}"
    print(f"{experiment} on {df['dataset'].iloc[0]}: {fits} in {runtime:.1f} s"
          + (f" ({resumed} resumed)" if resumed else "")
          + (" (mean ± sd over seeds)" if df["seed"].nunique() > 1 else " (one seed)"))
    print(summary_table(df, ("n_train", "noise_std") if study else ("noise_std",)).to_string())
    untrained = df[df["training_warning"] != ""]
    if len(untrained):
        first = untrained.iloc[0]
        warning = first["training_warning"]
        print(f"{len(untrained)} of the {len(df)} fits did not train (their loss never moved or "
              f"rose; column training_warning of {outputs['csv'].name}; left out of the means "
              "of filter sr, train acc and test acc, counted in the column untrained), e.g. "
              # (the study's line did not say at which sample size)
              + (f"n_train={first['n_train']}, " if study else "")
              + f"noise_std={first['noise_std']:g}, seed={first['seed']}: "
              f"{as_options(warning, _options(synthetic), ' ', _advice(synthetic))}")
    print(f"wrote {outputs['csv']}, {outputs['png']}, {outputs['json']}"
          + (" (replacing the previous ones)" if replaced else ""))
    return 0
