"""``sklrank gradients``: the low-rank gradient experiments of section B, one figure at a time.

Each ``--figure`` calls one function of :mod:`sklrank.gradients` at the paper's settings
(n = 750, d = 1000, m = 1250) unless options say otherwise, and writes three files to
``--out``: NAME.csv (the study's tidy DataFrame), NAME.png (its figure) and NAME.json (the
function's parameters as it used them, from which it runs again, the command line, the
package versions, the machine and the run time).
"""

import argparse
import hashlib
import io
import json
import math
import os
import platform
import sys
import textwrap
import time
import warnings
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

from . import (
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

_FIGURES = {
    # --figure: (file name, library function, plot function, what it shows)
    "nu-sweep": ("nu_sweep", "spike_strength_study", "plot_spike_strength_study",
                 "the gradient at init against the spike exponent nu (isotropic bulk)"),
    "activations": ("activations", "activation_study", "plot_activation_study",
                    "the paper's Fig. 2: the spectrum at init per activation"),
    "regularisers": ("regularisers", "regulariser_study", "plot_regulariser_study",
                     "the paper's Fig. 7: weight decay, input noise, Jacobian penalty"),
    "training": ("training", "training_study", "plot_training_study",
                 "the paper's Fig. 6: the decomposition along training"),
    "real-data": ("real_data", "real_data_study", "plot_real_data_study",
                  "the paper's Fig. 8: MNIST and CIFAR-10 inputs"),
}

# option dest -> library parameter, per figure (an option a figure does not take is an error)
_COMMON = {"n_samples": "n_samples", "n_hidden": "n_hidden", "seeds": "n_seeds",
           "activations": "activations", "device": "device"}
_SPIKED = {**_COMMON, "n_features": "n_features"}
_TRAINING = {"epochs": "max_epochs", "lr": "lr", "lr_fraction": "lr_fraction",
             "n_jobs": "n_jobs"}
_PARAMETERS = {
    "nu-sweep": {**_SPIKED, "alpha": "alpha", "nu": "nus", "scaling": "scaling",
                 "init": "init", "target": "target", "n_top": "n_top"},
    "activations": {**_SPIKED, "alpha": "alpha", "nu": "nu", "scaling": "scaling",
                    "init": "init", "target": "target", "n_top": "n_top"},
    "regularisers": {**_SPIKED, **_TRAINING, "settings": "settings", "scaling": "scalings",
                     "weight_decay": "strengths", "input_noise": "strengths",
                     "jacobian_penalty": "strengths", "record_epochs": "record_epochs"},
    "training": {**_SPIKED, **_TRAINING, "alpha": "alpha", "nu": "nus", "scaling": "scaling",
                 "record_epochs": "record_epochs"},
    "real-data": {**_COMMON, **_TRAINING, "datasets": "datasets", "features": "features",
                  "n_components": "n_components", "scaling": "scaling", "n_top": "n_top",
                  "data_home": "data_home", "download_if_missing": "download_if_missing"},
}
# --quick: small sizes, seconds a figure; an option given explicitly always wins
_QUICK = {
    "nu-sweep": {"n_samples": 60, "n_features": 50, "n_hidden": 60, "nu": [0.1, 0.45],
                 "seeds": 2, "n_top": 10},
    "activations": {"n_samples": 60, "n_features": 50, "n_hidden": 60, "seeds": 2,
                    "n_top": 10},
    "regularisers": {"n_samples": 60, "n_features": 50, "n_hidden": 60, "seeds": 1,
                     "epochs": 4, "record_epochs": [2], "activations": ["tanh"],
                     "weight_decay": [0.2], "input_noise": [1.0], "jacobian_penalty": [1.0]},
    "training": {"n_samples": 60, "n_features": 50, "n_hidden": 60, "seeds": 1, "epochs": 8},
    "real-data": {"n_samples": 60, "n_hidden": 40, "seeds": 1, "epochs": 3, "n_top": 10,
                  "features": "pca", "n_components": 20},
}
_STRENGTHS = ("weight_decay", "input_noise", "jacobian_penalty")
# options that make sense for --figure all (every figure at its own defaults)
_ALL_OPTIONS = {"device", "n_jobs", "data_home", "download_if_missing"}
_SINGLE = {"activations": {"nu", "scaling"}, "nu-sweep": {"scaling"},
           "training": {"scaling"}, "real-data": {"scaling"}}

_EPILOG = """\
figures (--figure):
  nu-sweep      the gradient at init against nu, alpha = 0 (the earlier study; default)
  activations   Fig. 2: spectrum at init per activation, nu = 1/8, alpha = 5/9
  regularisers  Fig. 7: weight decay / input noise / Jacobian penalty over strengths, at
                init and after training, NTK and mean field, relu and tanh, at
                (alpha, nu) = (8/9, 1/8) and (0, 0.35)
  training      Fig. 6: GradientSpectrum along training, nu = 1/8 and 3/8
  real-data     Fig. 8: MNIST and the CIFAR-10 subset, standardised pixels, spike = top PC
  all           all five, each at its defaults

outputs (in --out): PREFIX + NAME.csv, .png, .json, NAME = nu_sweep, activations,
regularisers, training or real_data. Lists are comma-separated; numbers may be fractions
(--nu 1/8). Explicit options always win over --quick.

examples:
  sklrank gradients --figure activations --out results/gradients
  sklrank gradients --figure regularisers --quick --out /tmp/g
  sklrank gradients --figure training --nu 0.1,0.4 --activations relu --out results/g
  sklrank gradients --figure all --out docs/figures --prefix gradients_
"""


# ------------------------------------------------------------------- argument types


def _number(text):
    """A finite number; fractions such as 1/8 are welcome."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        try:
            value = float(text)  # nan and inf are floats but not fractions
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _non_negative(text):
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text):
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _learning_rate(text):
    """--lr, and the strengths of the regularisers: at most float32's largest value (a weight
    decay of 1e308 gave infinite numbers, and then a traceback from the figure's axes)."""
    return at_most(_positive(text), text, MAX_LR, "3.4e38 (the networks train in float32)")


def _fraction(text):
    value = _positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _list_of(parse):
    def parse_list(text):
        items = [item for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("needs at least one value")
        values = [parse(item) for item in items]
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:  # (as sklrank sweep refuses a repeated noise level: likely a typo)
            raise argparse.ArgumentTypeError(
                f"holds {', '.join(map(str, dict.fromkeys(repeated)))} more than once")
        return values

    return parse_list


def _names(allowed):
    def parse(text):
        text = text.strip()
        if text not in allowed:
            raise argparse.ArgumentTypeError(
                f"unknown value {text!r}; choose among {','.join(allowed)}"
            )
        return text

    return _list_of(parse)


def _setting(text):
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected ALPHA:NU such as 8/9:1/8, got {text!r}")
    return tuple(_non_negative(p) for p in parts)


def _device(text):
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda)") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu or cuda, got {text!r}")
    return str(device)


def add_parser(subparsers):
    """Register ``gradients`` on the ``sklrank`` command line."""
    from sklrank.gradients._names import ACTIVATIONS

    parser = subparsers.add_parser(
        "gradients",
        help="low-rank gradients of two-layer nets: the gradient paper's figures (CSV, PNG, "
        "JSON)",
        description=textwrap.fill(
            "Reproduce the figures of Sonthalia, Murray and Montufar (2025) on the first-layer "
            "gradient of a two-layer network: its split into the residue term S1, the spike "
            "term S2 and the rest, on spiked data and on MNIST / CIFAR-10. Each figure runs at "
            "the paper's settings (n=750, d=1000, m=1250) by default; every option left out "
            "takes that figure's default (see the Python functions in sklrank.gradients).",
            width=88,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--figure", choices=[*_FIGURES, "all"], default="nu-sweep",
                        help="which figure to reproduce (default: nu-sweep)")
    parser.add_argument("--out", required=True, type=output_folder, metavar="DIR",
                        help="output folder, created if needed")
    parser.add_argument("--prefix", default="", metavar="TEXT",
                        help="prepended to the output file names; plain text, without a path "
                        "separator or a control character (e.g. gradients_)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the CSV, PNG and JSON of an earlier run with the same "
                        "--out and --prefix (refused without it); the old files are replaced "
                        "once the new set is written")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (seconds a figure): a smoke test; options given "
                        "explicitly still win")

    size = parser.add_argument_group("sizes and seeds")
    size.add_argument("--n-samples", type=int_option(2), metavar="N",
                      help="samples n (default 750)")
    size.add_argument("--n-features", type=int_option(3), metavar="D",
                      help="dimension d of the spiked data (default 1000)")
    size.add_argument("--n-hidden", type=int_option(1), metavar="M",
                      help="width m (default 1250)")
    size.add_argument("--seeds", type=seed_count_option, metavar="K",
                      help="seeds 0..K-1 per setting (default per figure: 3, 5 for "
                      "activations, 2 for regularisers)")
    size.add_argument("--activations", type=_names(ACTIVATIONS), metavar="LIST",
                      help=f"among {','.join(ACTIVATIONS)} (default: all four for nu-sweep "
                      "and activations, relu,tanh otherwise)")
    size.add_argument("--scaling", type=_names(("ntk", "mean_field")), metavar="LIST",
                      help="ntk (gamma=1/sqrt(m)) or mean_field (1/m); a list for "
                      "regularisers (default: ntk; regularisers: ntk,mean_field)")
    size.add_argument("--n-top", type=int_option(1), metavar="K",
                      help="singular values kept per decomposition (default 30, nu-sweep 20)")

    spiked = parser.add_argument_group("spiked data")
    spiked.add_argument("--alpha", type=_non_negative, metavar="A",
                        help="bulk eigenvalue decay k^-alpha (default: 5/9 for activations, 0 "
                        "for nu-sweep and training)")
    spiked.add_argument("--nu", type=_list_of(_non_negative), metavar="LIST",
                        help="spike exponents, zeta = n^nu (nu-sweep default "
                        "0,0.1,0.2,0.25,0.3,0.35,0.4,0.45; training 1/8,3/8; activations one "
                        "value, default 1/8)")
    spiked.add_argument("--settings", type=_list_of(_setting), metavar="LIST",
                        help="regularisers: ALPHA:NU pairs (default 8/9:1/8,0:0.35)")
    spiked.add_argument("--init", choices=["sphere", "spike"],
                        help="rows of W uniform on the sphere (default) or correlated with q")
    spiked.add_argument("--target", choices=["triple_index", "spike"],
                        help="target of make_spiked (default triple_index)")

    regs = parser.add_argument_group(
        "regularisers", textwrap.fill(
            "strengths, by default a decade either side of the earlier study's 0.2, 1, 1; "
            "giving any of these options runs only the regularisers given", width=78))
    regs.add_argument("--weight-decay", type=_list_of(_learning_rate), metavar="LIST",
                      help="lambda of (lambda/2)||W||_F^2 (default 0.02,0.2,2)")
    regs.add_argument("--input-noise", type=_list_of(_learning_rate), metavar="LIST",
                      help="std tau of the input noise (default 0.1,1,10)")
    regs.add_argument("--jacobian-penalty", type=_list_of(_learning_rate), metavar="LIST",
                      help="lambda_J of the Jacobian penalty (default 0.1,1,10)")

    train = parser.add_argument_group("training (full-batch gradient descent, MSE)")
    train.add_argument("--epochs", type=epoch_count_option, metavar="T",
                       help="gradient steps (default: regularisers 50, training 150, real-data "
                       "100)")
    train.add_argument("--record-epochs", type=_list_of(int_option(1)), metavar="LIST",
                       help="epochs at which the decomposition is recorded besides 0 and the "
                       "last (default: regularisers 10; training about ten on a log scale)")
    train.add_argument("--lr", type=_learning_rate, metavar="ETA",
                       help="learning rate of every run (default: lr-fraction / L, L the "
                       "curvature of the loss at the initial weights)")
    train.add_argument("--lr-fraction", type=_fraction, metavar="F",
                       help="the fraction of 1/L used when --lr is not given (default 1; not "
                       "with --lr)")

    real = parser.add_argument_group("real data")
    real.add_argument("--datasets", type=_names(("mnist", "cifar10")), metavar="LIST",
                      help="among mnist,cifar10 (default both)")
    real.add_argument("--features", choices=["pixels", "pca"],
                      help="standardised pixels (default) or PCA scores")
    real.add_argument("--n-components", type=int_option(1), metavar="K",
                      help="PCA components for --features pca (default 100)")
    real.add_argument("--data-home", metavar="DIR",
                      help="folder holding mnist/ and cifar10/ (default $SKLRANK_DATA, then "
                      "~/scikit_learn_data/sklrank)")
    real.add_argument("--no-download", dest="download_if_missing", action="store_const",
                      const=False, help="fail at once if MNIST / CIFAR-10 files are missing "
                      "instead of downloading them")

    running = parser.add_argument_group("running")
    running.add_argument("--device", type=_device, default="cpu",
                         help="where the networks live and train: cpu (default) or cuda; the "
                         "decomposition itself runs in float64 on the CPU")
    running.add_argument("--n-jobs", type=n_jobs_option, metavar="N",
                         help="runs in parallel (joblib, one torch thread each); -1 uses every "
                         "core, -2 all but one (default: one after another)")
    running.add_argument("--threads", type=thread_count_option, default=1, metavar="N",
                         help="torch and BLAS threads (default 1); the --n-jobs workers run "
                         "one each, so with N > 1 their numbers may differ from a run without "
                         "--n-jobs in the last bits")
    running.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)
    return parser


# ------------------------------------------------------------------------ the runs


def _parameters(args, figure, strict=True):
    """The library keyword arguments from the options given (and --quick's).

    ``strict``: an option the figure does not take is an error (else it is left out, as for
    ``--figure all``).
    """
    allowed = _PARAMETERS[figure]
    given = {dest for dest in _option_dests() if getattr(args, dest) is not None}
    given |= {"device"} if args.device != "cpu" else set()
    wrong = sorted(given - set(allowed))
    given -= set(wrong)
    if wrong and strict:
        raise CLIError(
            f"{', '.join(_flag(d) for d in wrong)} do(es) not apply to --figure {figure}."
        )
    values = {dest: getattr(args, dest) for dest in allowed if dest in given}
    if args.quick:
        quick = dict(_QUICK[figure])
        if given & set(_STRENGTHS):  # the strengths given replace all of --quick's
            quick = {k: v for k, v in quick.items() if k not in _STRENGTHS}
        if "epochs" in given and "record_epochs" in quick:
            # --quick's record epochs that --epochs leaves out are dropped (the last epoch
            # is always recorded): "--quick --epochs 1" was refused for a --record-epochs 2
            # the user had not given
            kept = [e for e in quick["record_epochs"] if e <= values["epochs"]]
            quick["record_epochs"] = kept or [values["epochs"]]
        values = {**quick, **values}
    # options the library would ignore, while the JSON recorded them as if used
    if "n_components" in given and values.get("features", "pixels") != "pca":
        raise CLIError("--n-components applies to --features pca only (pixels are used as "
                       "they are); add --features pca, or drop --n-components.")
    if {"lr", "lr_fraction"} <= given:
        raise CLIError("--lr-fraction sets the learning rate only when --lr is not given; "
                       "pass one of --lr and --lr-fraction.")
    for dest in _SINGLE.get(figure, ()):
        if dest in values and isinstance(values[dest], list):
            if len(values[dest]) != 1:
                raise CLIError(f"{_flag(dest)} takes one value for --figure {figure}.")
            values[dest] = values[dest][0]
    params, strengths = {}, {}
    for dest, value in values.items():
        name = allowed.get(dest, dest)
        if name == "strengths":
            strengths[dest] = value
        else:
            params[name] = value
    if strengths:
        params["strengths"] = strengths
    if "settings" in params:
        params["settings"] = [list(s) for s in params["settings"]]
    params["verbose"] = 0 if args.no_progress else 1
    return params


def _option_dests():
    return ["n_samples", "n_features", "n_hidden", "seeds", "activations", "scaling", "n_top",
            "alpha", "nu", "settings", "init", "target", "weight_decay", "input_noise",
            "jacobian_penalty", "epochs", "record_epochs", "lr", "lr_fraction", "datasets",
            "features", "n_components", "data_home", "download_if_missing", "n_jobs"]


def _flag(dest):
    return {"download_if_missing": "--no-download"}.get(dest, "--" + dest.replace("_", "-"))


def _options(figure):
    """``{library parameter: option}`` of a figure: the options that a library message names
    by their Python parameters (``nu=0.7``, "lower n_samples") are named as the command takes
    them."""
    options = {}
    for dest, name in _PARAMETERS[figure].items():
        if name == "strengths":
            options[dest] = _flag(dest)  # "input_noise=1e+30" names one of the three
        elif name != "download_if_missing":
            options[name] = options[dest] = _flag(dest)
    if "nus" in options:
        options["nu"] = "--nu"  # make_spiked's name for each value of --nu
    if "settings" in options:  # (regularisers: make_spiked's nu is one of --settings ALPHA:NU)
        options["nu"] = ("--settings", lambda v: f"ALPHA:{v:g}")
    return options


def _advice(figure):
    """The library's advice that only a Python caller can follow ("scale X down", "rescale X,
    e.g. with sklearn.preprocessing.StandardScaler"), as the command's user can: the scale of
    the data is that of the spike (--nu, --settings) and of the input noise, where the figure
    takes them (real-data standardises its pixels); see :func:`sklrank._cli.as_options`."""
    knobs = " or ".join(_flag(d) for d in ("nu", "settings", "input_noise")
                        if d in _PARAMETERS[figure])
    scale = f"lower {knobs}" if knobs else ""
    return [
        # regularisers: make_spiked's "use a smaller nu" (the NU of --settings ALPHA:NU)
        *([("use a smaller nu", "use a smaller NU in --settings")]
          if "settings" in _PARAMETERS[figure] else []),
        (" or scale X down", ""),
        ("scale X, or check the activation", "check --activations"),
        ("lower the input scale, or pass lr", f"{scale}, or pass lr" if knobs else "pass lr"),
        (": rescale X, e.g. with sklearn.preprocessing.StandardScaler.",
         f": {scale}." if knobs else "."),
        ("; rescale them, e.g. with sklearn.preprocessing.StandardScaler.",
         f"; {scale}." if knobs else "."),
    ]


def _check_output(out, names, overwrite=False):
    """Create --out and check that the files can be written, before any computation; the files
    of an earlier run are replaced only with ``overwrite``."""
    from sklrank.experiments._outputs import check_output_files

    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a folder; pass a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot write to the output folder {out}: {exc.strerror or exc}") from None
    paths = [out / f"{name}.{ext}" for name in names for ext in ("csv", "png", "json")]
    try:  # writable, names short enough with their temporary names, no folder in the way
        check_output_files(paths)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    existing = [str(path) for path in paths if path.exists()]
    if existing and not overwrite:
        # a figure can take hours: its results are not replaced by a repeated command
        raise CLIError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace "
                       "them (once the new set is written), or another --prefix or --out.")


def _check_data(args):
    """Read a few images of each real data set, as real-data will (one line if one fails)."""
    from sklrank.datasets import DataFileError, fetch_cifar10, fetch_mnist

    for fetch in (fetch_mnist, fetch_cifar10):
        try:
            fetch(args.data_home, subset="train", n_samples=2, random_state=0,
                  return_X_y=True, download_if_missing=args.download_if_missing is not False)
        except (ValueError, FileNotFoundError, DataFileError, OSError) as exc:
            raise CLIError(one_line(exc, _options("real-data"), ",")) from exc


def _machine(load_at_start, device):
    import torch

    on_cuda = torch.device(device).type == "cuda"

    return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            # the GPU the run used (--device), not the machine's first one
            "cuda_device": torch.cuda.get_device_name(torch.device(device)) if on_cuda else None,
            # the machine may be shared: its load says how comparable the run time is
            "load_average_start": load_at_start, "load_average_end": _load()}


def _load():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return None


def _run_figure(args, figure, out):
    import matplotlib.pyplot as plt
    from sklearn.exceptions import ConvergenceWarning

    import sklrank.gradients as gradients
    from sklrank._cli.sweep import _versions
    from sklrank.datasets import DataFileError
    from sklrank.exceptions import TrainingFailedError
    from sklrank.experiments._outputs import write_file_set

    name, study_name, plot_name, _ = _FIGURES[figure]
    params = _parameters(args, figure, strict=args.figure != "all")
    load_at_start = _load()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # the study's warning about runs that did not train: said after the table
            warnings.simplefilter("ignore", ConvergenceWarning)
            # and its warning of each diverged run, also said after the table (it came out
            # on stderr with --n-jobs 1 only, a Python warning per run naming the library's
            # parameters, "lower lr ... or scale X down", and its source line)
            warnings.filterwarnings("ignore", message="training diverged",
                                    category=RuntimeWarning)
            df = getattr(gradients, study_name)(**params)
    except (ValueError, TypeError, FileNotFoundError, DataFileError, OSError, MemoryError,
            RuntimeError, TrainingFailedError) as exc:
        # (MemoryError and torch's RuntimeError of an allocation too large for the machine
        # were a traceback; sklrank sweep says them in one line too)
        line = one_line(exc, _options(figure), ",", _advice(figure))
        if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
            # numpy's and torch's messages name an array's shape, not the option to lower
            sizes = [_flag(d) for d in ("n_samples", "n_features", "n_hidden")
                     if d in _PARAMETERS[figure]]
            line += f"; lower {', '.join(sizes[:-1])} or {sizes[-1]}"
        raise CLIError(line) from exc
    runtime = time.perf_counter() - start
    diverged, n_runs = _flagged_runs(df, "diverged")
    untrained, _ = _flagged_runs(df, "training_warning")
    axes = getattr(gradients, plot_name)(df)
    fig = axes.flat[0].figure
    # wrapped to the figure's width: one panel (a regulariser at one setting and scaling) is
    # narrower than the title, which was cut off at both sides
    fig.suptitle(_title(figure, df.attrs["config"]), fontsize=9, wrap=True)
    stem = f"{args.prefix}{name}"
    # the files' bytes first: the record holds their digests, as sklrank sweep's does
    csv_bytes = df.to_csv(index=False).encode("utf-8")
    png = io.BytesIO()
    fig.savefig(png, dpi=110, format="png")
    png_bytes = png.getvalue()
    record = {
        "figure": figure,
        "command": command_line(),
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "function": f"sklrank.gradients.{study_name}",
        # the function's own parameters as it used them (data_home resolved):
        # study(**parameters) runs it again; "protocol" is what no parameter says
        "parameters": df.attrs["config"],
        "protocol": df.attrs["protocol"],
        "versions": _versions(),
        "machine": _machine(load_at_start, args.device),
        "runtime_s": round(runtime, 1),
        "diverged_runs": len(diverged),
        "untrained_runs": len(untrained),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "outputs": {
            ext: {"file": f"{stem}.{ext}", "sha256": hashlib.sha256(content).hexdigest()}
            for ext, content in (("csv", csv_bytes), ("png", png_bytes))
        },
    }
    paths = {ext: out / f"{stem}.{ext}" for ext in ("csv", "png", "json")}
    try:
        write_file_set({
            paths["csv"]: lambda p: p.write_bytes(csv_bytes),
            paths["png"]: lambda p: p.write_bytes(png_bytes),
            paths["json"]: lambda p: p.write_text(json.dumps(record, indent=2, default=str)
                                                  + "\n"),
        })
    except OSError as exc:
        raise CLIError(f"writing the results to {out} failed (nothing was written): "
                       f"{exc.strerror or exc}") from exc
    plt.close(fig)
    # (a quick figure takes under a second: "(0 s)" read as nothing done)
    print(f"{figure}: {_FIGURES[figure][3]} ({runtime:.2g} s)" if runtime < 10 else
          f"{figure}: {_FIGURES[figure][3]} ({runtime:.0f} s)")
    import pandas as pd

    with pd.option_context("display.width", 160, "display.precision", 3,
                           "display.max_rows", 200):
        print(_SUMMARIES[figure](df).to_string())
    if len(diverged):
        # the study keeps a diverged run's rows (up to its last finite epoch): say so, as the
        # table and the figure show them as results (only a Python warning on stderr did)
        where = _where(df, diverged.iloc[0])
        fix = (f"lower --lr (now {args.lr:g})" if args.lr is not None
               else f"lower --lr-fraction (now {args.lr_fraction or 1:g})")
        print(f"{len(diverged)} of the {n_runs} runs diverged (column diverged of "
              f"{paths['csv'].name}; their rows are not results), e.g. {where}: "
              f"{fix}.")
    if len(untrained):
        first = untrained.iloc[0]
        print(f"{len(untrained)} of the {n_runs} runs did not train (their loss never moved or "
              f"rose; column training_warning of {paths['csv'].name}; left out of the means "
              "after training, counted in the column untrained), e.g. "
              f"{_where(df, first)}: "
              f"{as_options(first['training_warning'], _options(figure), ',', _advice(figure))}")
    print(f"wrote {paths['csv']}, {paths['png']}, {paths['json']}")


# the columns that tell one training run of a study from another
_RUN_COLUMNS = ("dataset", "alpha", "nu", "scaling", "activation", "regulariser", "strength",
                "seed")


def _run_keys(df):
    return [k for k in _RUN_COLUMNS if k in df]


def _where(df, row):
    """The run of ``row``, by the run columns that vary (and its seed)."""
    return ", ".join(f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                     for k in _run_keys(df) if k == "seed" or df[k].nunique(dropna=False) > 1)


def _flagged_runs(df, column):
    """The first row of every run whose ``column`` is set (``diverged``, or a non-empty
    ``training_warning``: a loss that never moved or rose), and the number of runs."""
    if column not in df:  # the studies at initialisation train nothing
        return df.iloc[:0], 0
    runs = df.drop_duplicates(_run_keys(df))
    return runs[runs[column].fillna(False).astype(bool)], len(runs)


def _title(figure, config):
    # every figure's band spans the seeds (min to max): said with several (only the
    # regularisers' title said it)
    band = " (band: min-max)" if config.get("n_seeds", 1) > 1 else ""
    if figure == "real-data":
        return (f"{', '.join(config['datasets'])}: n={config['n_samples']}, "
                f"m={config['n_hidden']}, {config['features']}, {config['scaling']}, "
                f"{config['max_epochs']} epochs, {_seeds(config)}{band}")
    size = f"n={config['n_samples']}, d={config['n_features']}, m={config['n_hidden']}"
    if figure == "regularisers":
        return (f"{size}, {config['max_epochs']} epochs of full-batch GD, "
                f"{_seeds(config)}{band}")
    nu = config.get("nu", config.get("nus"))
    # three digits, as the legends say them (--nu 1/3 read nu=[0.3333333333333333])
    if isinstance(nu, (list, tuple)):  # (in the order the figure's axis shows them)
        nu = [float(f"{v:.3g}") for v in sorted(nu)]
    else:
        nu = float(f"{nu:.3g}")
    init = ", init: W correlated with q" if config.get("init") == "spike" else ""
    return (f"{size}, alpha={config['alpha']:.3g}, nu={nu}, {config['scaling']}{init}, "
            f"{_seeds(config)}{band}")


def _seeds(config):
    """"3 seeds", "1 seed" (the title said "1 seeds (band: min-max)", a band of one run)."""
    return f"{config['n_seeds']} seed{'s' if config['n_seeds'] > 1 else ''}"


def _runs(df):
    return df[df.sv_index == 1] if "sv_index" in df else df


def _mean_sd(df, keys, columns):
    """Mean ± sd over seeds of ``columns`` for every group of ``keys``, as strings.

    The rows after training (epoch > 0) of a run that did not train (a non-empty
    ``training_warning``) are left out of the means (their network is no trained one); a
    first column ``untrained`` counts them, where there are any, and a group with no run
    that trained shows "n/a". Its rows at epoch 0 (the initial weights) are results.
    """
    from sklrank._base import did_not_train

    untrained = did_not_train(df)
    if "epoch" in df:
        untrained &= df["epoch"] > 0
    grouped = df.assign(**{c: df[c].mask(untrained) for c in columns}).groupby(keys)[columns]
    # one seed: the mean alone (its sd is undefined; "± 0.000" claimed no spread)
    mean, sd = grouped.mean(), grouped.std(ddof=1)
    table = mean.map(_cell) + sd.map(lambda v: "" if math.isnan(v) else f" ± {_cell(v)}")
    table = table.where(mean.notna(), "n/a")
    if untrained.any():
        table.insert(0, "untrained", untrained.groupby([df[k] for k in keys]).sum())
    return table


def _cell(value):
    """Three decimals, so that a column's numbers line up (``round(3)`` dropped trailing
    zeros: 1.5 next to 3.231); a very large or small value in ``g`` format."""
    return f"{value:.3f}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.3g}"


_SUMMARIES = {
    "nu-sweep": lambda df: _mean_sd(_runs(df), ["nu", "activation"], [
        "cos_residue_1", "spike_in_top2", "top2_share", "s1_over_s2"]),
    "activations": lambda df: _mean_sd(
        _runs(df).assign(s1_over_e=lambda d: d.s1_norm / d.e_norm,
                         s2_over_e=lambda d: d.s2_norm / d.e_norm), ["activation"],
        ["s1_norm", "s2_norm", "s1_over_e", "s2_over_e", "s1_over_s2", "sv1_over_sv2",
         "top2_share"]),
    "training": lambda df: _mean_sd(df[(df.epoch == 0) | (df.epoch == df.epoch.max())],
                                    ["nu", "activation", "epoch"],
                                    ["loss", "top2_share", "stable_rank", "s1_over_s2",
                                     "cos_residue_1", "cos_spike_1", "spike_in_top2"]),
    "real-data": lambda df: _mean_sd(_runs(df), ["dataset", "activation", "epoch"], [
        "loss", "top2_share", "sv1_over_sv2", "max_cos_residue", "max_cos_spike",
        "s1_over_s2"]),
    "regularisers": lambda df: _regulariser_summary(df),
}


def _regulariser_summary(df):
    from sklrank.gradients import regulariser_effects

    effects = regulariser_effects(df)
    claimed = effects[effects.claimed != ""]
    # the ratios after training of a run that did not train (or whose unregularised
    # reference did not) compare no trained weights: left out, and counted
    ratios = claimed.ratio.mask(claimed.untrained)
    keys = [claimed[k] for k in ("alpha", "nu", "scaling", "activation", "regulariser",
                                 "strength", "when")]
    table = ratios.groupby(keys).agg(["mean", "min", "max"]).round(3)
    if claimed.untrained.any():
        table["untrained"] = claimed.untrained.groupby(keys).sum()
    return table.unstack("when")


def run(args):
    """Run ``sklrank gradients`` (see ``sklrank gradients --help``); return the exit status."""
    import matplotlib

    matplotlib.use("Agg")
    import torch
    from threadpoolctl import threadpool_limits

    from sklrank._device import check_device

    try:  # before anything is written
        check_device(args.device, types=("cpu", "cuda"), parameter="--device")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    figures = list(_FIGURES) if args.figure == "all" else [args.figure]
    if args.figure == "all":
        given = [d for d in _option_dests() if getattr(args, d) is not None
                 and d not in _ALL_OPTIONS]
        if given:
            raise CLIError(f"{', '.join(_flag(d) for d in given)} do(es) not apply to --figure "
                           "all (each figure runs at its defaults); run one figure instead.")
    else:
        _parameters(args, args.figure)  # option errors before any output is touched
    if any(sep in args.prefix for sep in ("/", "\\", "\0")) or not args.prefix.isprintable():
        # a separator would write outside --out, or into a folder of it; a control character
        # (a newline) breaks the listing of the files
        raise CLIError(f"--prefix must be plain text, without a path separator or a control "
                       f"character: got {args.prefix!r}; use --out for the folder.")
    out = Path(args.out)
    _check_output(out, [f"{args.prefix}{_FIGURES[f][0]}" for f in figures], args.overwrite)
    if args.figure == "all":
        # real-data runs last: read its data now, so that a missing file fails at once and
        # not after the other four figures (hours at the paper's sizes)
        _check_data(args)
    torch.set_num_threads(args.threads)
    from sklrank.experiments._outputs import InterruptedAfterWriting

    done = []
    with threadpool_limits(args.threads):
        for figure in figures:
            try:
                _run_figure(args, figure, out)
            except InterruptedAfterWriting:
                done.append(figure)  # the set was whole when the Ctrl-C was let through
            except KeyboardInterrupt:
                pass
            else:
                done.append(figure)
                continue
            # one line, as sklrank sweep says it (a traceback, and an empty --out, before)
            written = (f"the files of {', '.join(done)} are written, not those of {figure}"
                       if done else "nothing was written")
            print(f"sklrank gradients: interrupted; {written}.", file=sys.stderr)
            return INTERRUPTED
    return 0
