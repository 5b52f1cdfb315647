"""Tests of the ``sklrank`` command line (tiny sweeps through ``sklrank._cli.main``).

Bad and hostile input to ``sklrank sweep``, and the answer (one line on stderr, exit status
2 unless said otherwise; every check runs before the first fit):

==========================================  ================================================
input                                       answer
==========================================  ================================================
--dataset imagenet, --seeds 0, --n-jobs 0   argparse: invalid choice / must be ...
--noise -0.5, --noise nan, --q nan, --q 0.5 argparse: must be a finite number >= 0 / >= 1
--canvas 2by2, --signal-position middle     argparse: expected ROWSxCOLS / 'random' or ...
--canvas 3                                  3x3, as BackgroundNoise's grid=3 and
                                            noise_sweep's canvas=3 (was refused)
--noise 0 0 (repeated level)                "--noise holds [0.0] more than once"
--seeds 100000000000, --seeds 2000000000    argparse: "must be at most 100000 (every fit
                                            of every seed is listed ...)" (the list of
                                            fits filled the memory: an empty "error: "
                                            line, or the process was killed)
--max-epochs 1000000000                     argparse: "must be at most 1000000 (a thousand
                                            times the longest default; ... 1.4 to 14 hours
                                            a fit)" (it ran for months)
--threads-per-point 2 --n-jobs 2 on two     not an error: a warning line, "4 threads on the
cores (no --scheduler)                      2 cores of this machine ...; pass --n-jobs 1 or
                                            fewer" (taken without a word)
--classes 3 --dataset mnist                 "keeps one class only"
--canvas 1x1 --dataset mnist                "leaves no tile for the noise"
--signal-position 9 (synthetic, 8 patches)  "--signal-position 9 is not a patch index for
                                            --n-patches 8; pass an int in 0..7 or 'random'"
                                            (it said signal_position=9, n_patches=8: a
                                            library message names the command's options)
--rank 40 (synthetic, 64 features)          "... do not fit in --n-features 64; lower --rank
                                            or raise --n-features"
--noise 1e-45, --noise 1e40                 "--noise holds [1e-45]: ... underflows" /
                                            "--noise holds [1e+40]: ... overflows"
--n-samples 100000 --classes 0 1 (mnist)    "--n-samples 100000 exceeds the 12665 training
                                            images ...; pass --n-samples <= 12665"
--data-home naming a file                   "--data-home FILE is a file; ... e.g.
                                            --data-home FOLDER"
--n-patches 1                               "leaves no patch for the noise" (every noise
                                            level trained on the same data)
--classes with --dataset synthetic          "--classes do(es) not apply"
--canvas / --signal-position with           "do(es) not apply to --noise-mode additive"
--noise-mode additive                       (both were ignored, recorded in the JSON)
--device cuda without a GPU                 "--device cuda but torch finds no CUDA device
                                            here ...; use --device cpu ..."
--device gpu / --device mps                 "not a torch device" / "runs on 'cpu' or 'cuda'"
--device cuda --n-jobs 2 --no-batch         "the points on one GPU run one after another"
missing MNIST files with --no-download      "MNIST files not found: put ... in DIR"
a 300-character --name                      "too long for this file system"
--name a/b, --name .., --name ""            "--name must be a plain file name" ("" took the
                                            default name)
--name holding a newline or another         "--name must be printable text" (it wrote a
control character                           file name that broke the listing)
--out is a file / under a file              "is a file" / "cannot create the output folder"
--out "" (an unset variable: --out "$DIR")  argparse: "is empty; name the output folder"
                                            (the results went into the current folder)
a file at NAME.points.jsonl that is not a   "is not a sweep checkpoint", also with --resume
checkpoint                                  or --overwrite (--overwrite deleted it)
--out not writable                          "cannot write in the output folder"
NAME.csv is a folder                        "is a folder, where a result file is to be written"
results exist already                       refused: "pass --overwrite ... or another --name"
an unfinished run exists                    refused: "pass --resume ... or --overwrite"
--resume after a finished run               "nothing to resume ... pass --overwrite"
--resume with other options                 "holds the fits of a run with other options
                                            (--max-epochs: 20 there, 21 here)"; file kept
                                            (it named noise_sweep's checkpoint= and
                                            classifier_params.max_epochs)
--resume and --overwrite together           argparse: not allowed with
another sweep running into the same files   "another sweep is running into ..."
Ctrl-C during the fits                      exit 130: "N finished fit(s) are kept in ..."
a fit that fails                            one line + "N finished fit(s) are kept in ..."
                                            ("--lr 1e+30 is too large ...: lower --lr")
out of memory (a MemoryError)               "out of memory (MemoryError): use smaller sizes"
                                            (the line ended after "error: ")
                                            (a failed training: with --overwrite for changed
                                            options, which --resume refuses)
Ctrl-C while the results are written        exit 130: the previous files unchanged
==========================================  ================================================
"""

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT

from sklrank._cli import build_parser, main
from sklrank.experiments import _sweep

# A sweep of 4 fits that takes about a second.
TINY = [
    "--noise", "0", "0.5",
    "--seeds", "2",
    "--n-samples", "40",
    "--n-test", "40",
    "--n-features", "16",
    "--n-patches", "4",
    "--n-filters", "3",
    "--max-epochs", "20",
    "--quiet",
]
PREPARE = _sweep._prepare
# One fit at a time, in this process (where the tests replace the point preparation).
ONE_BY_ONE = ["--no-batch", "--n-jobs", "1"]


def _sweep_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["sweep"]


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def no_fit(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a fit ran although the command is invalid")

    monkeypatch.setattr(_sweep, "_prepare", fail)


def _stop_after(monkeypatch, k, exception=KeyboardInterrupt):
    """Raise ``exception`` when the data of fit k + 1 are being prepared (in a batch, the
    batch then stops before it trains)."""
    calls = []

    def prepare(*args, **kwargs):
        if len(calls) == k:
            raise exception("stopped")
        calls.append(1)
        return PREPARE(*args, **kwargs)

    monkeypatch.setattr(_sweep, "_prepare", prepare)
    return calls


def test_help_documents_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "sklrank", "sweep", "--help"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    options = [
        option
        for action in _sweep_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    assert len(options) >= 25
    for option in options:
        assert option in text, option
    for action in _sweep_parser()._actions:
        assert action.help, f"{action.option_strings} has no help text"
    for flag in ("--dataset", "--noise", "--seeds", "--out", "--n-jobs", "--data-home",
                 "--classes", "--rank", "--n-samples", "--max-epochs", "--scheduler",
                 "--resume", "--overwrite", "--device", "--threads-per-point", "--no-batch"):
        assert flag in options
    assert "NAME.points.jsonl" in text and "sample-size study" in text


def test_sweep_writes_csv_png_json(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["sweep", "--out", str(out), "--name", "tiny", *TINY]) == 0
    assert _files(out) == ["tiny.csv", "tiny.json", "tiny.png"]  # no checkpoint, no temp
    df = pd.read_csv(out / "tiny.csv")
    assert len(df) == 4
    assert sorted(df["noise_std"].unique()) == [0.0, 0.5]
    assert (df["clean_rank"] == 4).all()
    assert (out / "tiny.png").stat().st_size > 10_000
    record = json.loads((out / "tiny.json").read_text())
    assert record["config"]["noise_levels"] == [0.0, 0.5]
    assert record["config"]["data"]["n_patches"] == 4
    assert record["config"]["classifier_params"]["max_epochs"] == 20
    assert record["config"]["device"] == "cpu"
    assert record["arguments"]["seeds"] == 2
    for package in ("sklrank", "torch", "scikit-learn", "skorch", "numpy", "python"):
        assert record["versions"][package]
    assert record["runtime_s"] > 0 and record["resumed_fits"] == 0
    for ext in ("csv", "png"):  # the JSON identifies the set it belongs to
        digest = hashlib.sha256((out / f"tiny.{ext}").read_bytes()).hexdigest()
        assert record["outputs"][ext] == {"file": f"tiny.{ext}", "sha256": digest}
    printed = capsys.readouterr().out
    assert "filter sr" in printed and "data sr" in printed and "±" in printed
    assert str(out / "tiny.csv") in printed
    # read back as the documentation says: the empty warnings of the fits that trained are
    # "", as in noise_sweep's DataFrame (pandas' default reads them as NaN)
    page = (REPO_ROOT / "docs" / "user_guide" / "noise_sweep.rst").read_text()
    assert ('df = pd.read_csv("results/synthetic.csv", dtype={"training_warning": str}).fillna('
            '\n       {"training_warning": ""})') in page
    back = pd.read_csv(out / "tiny.csv", dtype={"training_warning": str}).fillna(
        {"training_warning": ""})
    assert back["training_warning"].tolist() == [""] * 4
    assert df["training_warning"].isna().all()  # (why the documentation says so)
    mode = (out / "tiny.csv").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as open() makes files, not mkstemp's private 0o600


def _fails(argv, capsys, status=2):
    """Run the CLI, expect ``status``; return stderr's last line (one line only for ours)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == status
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def _one_line(argv, capsys, status=2):
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - not expected here
        code = exc.code
    assert code == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_json_command_runs_again_as_recorded(tmp_path, monkeypatch):
    # an argument with a space was recorded as two (--out my results): not the command run
    import shlex

    out = tmp_path / "my results"
    argv = ["sweep", "--out", str(out), "--name", "é tiny", *TINY]
    monkeypatch.setattr(sys, "argv", ["sklrank", *argv])
    assert main(argv) == 0
    record = json.loads((out / "é tiny.json").read_text(encoding="utf-8"))
    assert shlex.split(record["command"]) == ["sklrank", *argv]


def test_unknown_dataset(capsys):
    line = _fails(["sweep", "--dataset", "imagenet"], capsys)
    assert "invalid choice: 'imagenet'" in line


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--seeds", "0"], "--seeds"),
        (["--n-jobs", "0"], "--n-jobs"),
        (["--noise", "0", "-0.5"], ">= 0"),
        (["--noise", "nan"], "finite number"),
        (["--q", "nan"], "--q"),
        (["--q", "0.5"], ">= 1"),
        (["--canvas", "2by2", "--dataset", "mnist"], "--canvas"),
        (["--signal-position", "middle"], "--signal-position"),
        (["--resume", "--overwrite"], "not allowed with"),
        # (an unset variable, --out "$DIR": the results went into the current folder)
        (["--out", ""], "argument --out: is empty; name the output folder (--out . for the "
         "current folder)"),
    ],
)
def test_bad_values(argv, match, capsys):
    assert match in _fails(["sweep", *argv], capsys)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--noise", "0", "0"], "--noise holds [0.0] more than once"),
        (["--dataset", "mnist", "--classes", "3"], "--classes 3 keeps one class only"),
        (["--dataset", "mnist", "--classes", "3", "3"], "--classes holds a label more than once"),
        (["--dataset", "mnist", "--canvas", "1x1"], "--canvas 1x1 leaves no tile for the noise in "
         "--noise-mode pad; use at least two tiles, e.g. --canvas 2x2, or --noise-mode additive"),
        (["--signal-position", "9"],
         "--signal-position 9 is not a patch index for --n-patches 8; pass an int in 0..7"),
        (["--n-patches", "1"], "--n-patches 1 leaves no patch for the noise"),
        (["--classes", "0", "1"], "--classes do(es) not apply to --dataset synthetic"),
        (["--dataset", "mnist", "--n-patches", "3"], "--n-patches"),
        (["--dataset", "mnist", "--no-download", "--noise-mode", "additive", "--canvas", "3x3"],
         "--canvas do(es) not apply to --noise-mode additive"),
        (["--dataset", "mnist", "--no-download", "--noise-mode", "additive",
          "--signal-position", "2"], "--signal-position do(es) not apply to --noise-mode"),
        (["--device", "gpu"], "--device gpu is not a torch device"),
        (["--device", "mps"], "--device mps: this runs on 'cpu' or 'cuda' devices only"),
        (["--name", "a/b"], "--name must be a plain file name"),
        (["--name", ".."], "--name must be a plain file name"),
        (["--name", ""], "--name must be a plain file name"),
        (["--name", "a\nb"], "--name must be printable text"),
        (["--name", "x" * 300], "too long for this file system"),
    ],
)
def test_bad_options_one_line_before_any_fit(argv, match, tmp_path, capsys, no_fit):
    line = _one_line(["sweep", "--out", str(tmp_path / "out"), *TINY[-1:], *argv], capsys)
    assert line.startswith("sklrank sweep: error: ") and match in line


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # the library's messages named the Python parameters (signal_position=9, "lower
        # rank or raise n_features"), which the command line does not take
        (["--rank", "40"], "n_classes * rank = 2 * 40 = 80 orthonormal signal directions do "
         "not fit in --n-features 64; lower --rank or raise --n-features."),
        (["--signal-norm", "1e40", "--noise", "1"],
         "--signal-norm 1e+40 or --noise 1.0 overflows float32"),
        (["--noise", "1e-45"], "--noise holds [1e-45]: noise that small underflows the "
         "float32 data"),
        (["--noise", "1e40"], "--noise holds [1e+40]: noise that large overflows"),
        (["--n-samples", "1"], "--n-samples 1 is too few: a training set needs at least 2 "
         "samples (one of each of two classes); pass --n-samples >= 2."),
        (["--n-samples", "20", "20"], "--n-samples holds a value more than once"),
        (["--lr", "1e30", "--noise", "1"], "--lr 1e+30 is too large for inputs of this scale"),
    ],
)
def test_library_messages_name_the_options(argv, line, tmp_path, capsys):
    argv = ["sweep", "--out", str(tmp_path / "out"), "--seeds", "1", "--n-samples", "20",
            "--n-test", "10", "--max-epochs", "2", "--quiet", *ONE_BY_ONE, *argv]
    got = _one_line(argv, capsys)
    assert got.startswith("sklrank sweep: error: ") and line in got, got
    assert "_" not in got.split(" (in the sweep point")[0].replace("n_classes", ""), got


# Advice that only a Python caller can follow, in a message the command line printed.
PYTHON_ONLY = ("scale X", "rescale X", "StandardScaler", "pixels / 255", "float64",
               "(row, column)", "other seeds", "init_std", "kappa")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--noise", "1e20"], "the defaults expect inputs of unit scale, e.g. pixels in [0, 1], "
         "patch norms of order 1 to 10): lower --noise or --signal-norm, or lower --lr (now 1) "
         "by the square of the scale."),
        (["--signal-norm", "1e308"], "--signal-norm 1e+308 or --noise 0.5 overflows float32 "
         "(largest value 3.4e+38): X would hold inf. Use smaller values."),
        (["--signal-norm", "1e-300"], "X would not hold these patches. Pass a larger "
         "--signal-norm."),
        # --seeds 3 runs the seeds 0, 1, 2: no other seeds to pass
        (["--n-samples", "3", "--seeds", "3"], "--n-samples 3 is too few for seed 1: the 3 "
         "training samples drawn for it hold one class only; pass --n-samples >= 5 (the fewest "
         "that hold two classes for this seed)."),
    ],
)
def test_messages_advise_what_the_command_takes(argv, line, tmp_path, capsys):
    argv = ["sweep", "--out", str(tmp_path / "out"), "--seeds", "1", "--n-samples", "20",
            "--n-test", "10", "--max-epochs", "2", "--quiet", "--noise", "0.5", *ONE_BY_ONE,
            *argv]
    got = _one_line(argv, capsys)
    assert line in got, got
    assert not [words for words in PYTHON_ONLY if words in got], got


def test_one_fit_is_said_in_the_singular(tmp_path, capsys):
    # "noise sweep on synthetic: 1 fits in 0.3 s"
    argv = ["sweep", "--out", str(tmp_path / "out"), "--seeds", "1", "--n-samples", "20",
            "--n-test", "10", "--max-epochs", "2", "--quiet", "--noise", "0.5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (2 epochs: the fit learns nothing, as intended)
        assert main(argv) == 0
    assert re.search(r": 1 fit in [\d.]+ s \(one seed\)", capsys.readouterr().out)


def test_unreachable_scheduler_names_the_option(tmp_path, capsys):
    # dask's "Timed out trying to connect to tcp://..." did not name --scheduler
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        line = _one_line(["sweep", "--out", str(tmp_path / "out"), *TINY,
                          "--scheduler", "tcp://127.0.0.1:9"], capsys)
    assert line.startswith("sklrank sweep: error: cannot reach the Dask scheduler of "
                           "--scheduler tcp://127.0.0.1:9: "), line
    assert line.endswith("; check the address, and that the scheduler runs."), line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--threads-per-point", "2", "--n-jobs", "2"],
         "sklrank sweep: warning: --threads-per-point 2 x 2 workers (--n-jobs 2) = 4 threads "
         "on the 2 cores of this machine: they wait for each other (slower, the same numbers); "
         "pass --n-jobs 1 or fewer."),
        (["--threads-per-point", "4", "--n-jobs", "1"],
         "sklrank sweep: warning: --threads-per-point 4 = 4 threads on the 2 cores of this "
         "machine: they wait for each other (slower, the same numbers); pass "
         "--threads-per-point 2 or fewer (the numbers may change in the last bits with it)."),
        (["--threads-per-point", "1", "--n-jobs", "-1"], None),
        (["--threads-per-point", "2", "--n-jobs", "1"], None),
        # the default --n-jobs: the workers that fit in the cores (-1 ran one a core)
        (["--threads-per-point", "2"], None),
    ],
)
def test_threads_beyond_the_cores_get_a_warning(argv, expected, tmp_path, capsys, monkeypatch):
    # --threads-per-point x --n-jobs above the cores was taken without a word (the threads
    # wait for each other); a warning, not an error: the numbers may change with T
    from sklrank._cli import sweep

    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    _stop_after(monkeypatch, 0)  # (no fit: the warning comes before the first)
    assert main(["sweep", "--out", str(tmp_path / "out"), *TINY, *argv]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    warnings = [line for line in err if "warning" in line]
    assert warnings == ([] if expected is None else [expected]), err


def test_the_default_n_jobs_fits_the_threads_in_the_cores(monkeypatch):
    from sklrank._cli import sweep

    monkeypatch.setattr(sweep, "_cores", lambda: 8)
    for threads, n_jobs in (("1", -1), ("2", 4), ("3", 2), ("8", 1), ("16", 1)):
        args = build_parser().parse_args(["sweep", "--threads-per-point", threads])
        assert sweep._kwargs(args, True)["n_jobs"] == n_jobs
    # given, or left to a Dask cluster: as it is
    args = build_parser().parse_args(["sweep", "--threads-per-point", "4", "--n-jobs", "8"])
    assert sweep._kwargs(args, True)["n_jobs"] == 8
    args = build_parser().parse_args(["sweep", "--threads-per-point", "4", "--scheduler", "x"])
    assert sweep._kwargs(args, True)["n_jobs"] is None


def test_a_cluster_s_threads_get_no_warning(tmp_path, capsys, monkeypatch):
    # its workers have cores of their own
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    from sklrank._cli import sweep

    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        line = _one_line(["sweep", "--out", str(tmp_path / "out"), *TINY, "--threads-per-point",
                          "4", "--n-jobs", "8", "--scheduler", "tcp://127.0.0.1:9"], capsys)
    assert "cannot reach the Dask scheduler" in line


def test_as_options_rewrites_parameters_only():
    from sklrank._cli import as_options

    options = {"rank": "--rank", "n_features": "--n-features", "lr": "--lr",
               "data_home": "--data-home", "nus": "--nu",
               "canvas": ("--canvas", lambda v: "x".join(map(str, v)))}
    # a formula, an English word and a quoted name are left as they are
    assert as_options("the stable rank of min(n_samples, n_features)=3 and 'rank'", options) \
        == "the stable rank of min(n_samples, n_features)=3 and 'rank'"
    assert as_options("rank=5 exceeds 3; lower rank or raise n_features.", options) \
        == "--rank 5 exceeds 3; lower --rank or raise --n-features."
    assert as_options("lr=0.5 is too large: lower lr (now 0.5).", options) \
        == "--lr 0.5 is too large: lower --lr (now 0.5)."
    assert as_options("data_home='/a b/c' is a file, e.g. data_home='/a b'.", options) \
        == "--data-home '/a b/c' is a file, e.g. --data-home '/a b'."
    assert as_options("canvas=(1, 1) leaves no tile; e.g. canvas=(2, 3).", options) \
        == "--canvas 1x1 leaves no tile; e.g. --canvas 2x3."
    assert as_options("nus=[0.1, 0.2] given", options, ",") == "--nu 0.1,0.2 given"
    # a remark after a name: "or max_epochs" stayed a Python name
    assert as_options("raise lr (about 3.2 is stable) or max_epochs.",
                      {**options, "max_epochs": "--epochs"}) \
        == "raise --lr (about 3.2 is stable) or --epochs."
    assert as_options("use a smaller nus (the regimes are nus < 1/2).", options) \
        == "use a smaller --nu (the regimes are nus < 1/2)."
    # the command's version of Python-only advice, before the names are turned into options
    assert as_options("x; scale X, or lower lr.", options, advice=[("scale X", "lower rank")]) \
        == "x; lower --rank, or lower --lr."


@pytest.mark.parametrize(("text", "canvas"), [("3", (3, 3)), ("2x3", (2, 3)), ("1*2", (1, 2))])
def test_canvas_n_is_n_by_n(text, canvas):
    # (BackgroundNoise's grid=3 and noise_sweep's canvas=3 are (3, 3); --canvas 3 was refused:
    # "expected ROWSxCOLS")
    assert _sweep_parser().parse_args(["--canvas", text]).canvas == canvas


def test_image_messages_name_the_options(tmp_path, capsys, shared_data_dir):
    common = ["sweep", "--dataset", "mnist", "--data-home", str(shared_data_dir),
              "--no-download", "--out", str(tmp_path / "out"), "--seeds", "1", "--n-test",
              "10", "--max-epochs", "2", "--quiet", *ONE_BY_ONE]
    line = _one_line([*common, "--n-samples", "20", "--canvas", "1x2", "--signal-position",
                      "2"], capsys)
    # (it offered "a (row, column) pair", which --signal-position does not take)
    assert line.endswith("--signal-position 2 is not a tile of the 1 x 2 grid; pass a tile "
                         "index in 0..1 or 'random'."), line
    line = _one_line([*common, "--classes", "0", "1", "--n-samples", "100000"], capsys)
    assert ("--n-samples 100000 exceeds the 12665 training images of classes [0, 1] of "
            "--dataset mnist; pass --n-samples <= 12665.") in line, line
    line = _one_line([*common, "--classes", "0", "11"], capsys)
    assert "--classes holds [11], which are not labels" in line, line
    line = _one_line([*common, "--n-samples", "20", "--rank", "25"], capsys)
    assert "--rank 25 exceeds" in line and line.endswith("lower --rank or use more samples.")
    a_file = tmp_path / "a file"
    a_file.write_text("")
    line = _one_line([*common, "--data-home", str(a_file)], capsys)
    assert (f"--data-home '{a_file}' is a file; pass the folder that holds mnist/ or the four "
            f"MNIST files, e.g. --data-home {tmp_path}.") in line, line


def test_missing_data_names_data_home(tmp_path, capsys):
    line = _one_line(["sweep", "--dataset", "cifar10", "--data-home", str(tmp_path),
                      "--no-download", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert "(or pass --data-home ..., or set the environment variable SKLRANK_DATA" in line


def test_seeds_beyond_the_random_states_are_refused(capsys):
    # 10**11 seeds: the list of fits filled the memory (an empty "error: " line, or killed)
    line = _fails(["sweep", "--seeds", str(10**11)], capsys)
    assert "argument --seeds: must be at most 100000 (every fit of every seed is listed" in line
    # 2000000000 seeds (below 2**32): the process was killed
    line = _fails(["sweep", "--seeds", "2000000000"], capsys)
    assert "argument --seeds: must be at most 100000 (every fit of every seed is listed" in line


@pytest.mark.parametrize("n", ["0", "-3", "1"])
def test_too_few_samples_say_why(n, tmp_path, capsys, no_fit):
    # --n-samples 0 got argparse's "must be an integer >= 1", 1 the sweep's "at least 2"
    for sizes in ([n], [n, "20"]):
        line = _one_line(["sweep", "--out", str(tmp_path / "out"), "--quiet", "--n-samples",
                          *sizes], capsys)
        assert line == (f"sklrank sweep: error: --n-samples {n} is too few: a training set "
                        "needs at least 2 samples (one of each of two classes); pass "
                        "--n-samples >= 2."), line


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        # numpy's "Maximum allowed dimension exceeded", a C overflow or a traceback
        (["--n-samples", str(10**20)], "argument --n-samples: must be at most 2**31 - 1"),
        (["--max-epochs", str(10**20)], "argument --max-epochs: must be at most 1000000"),
        # (10**9 epochs was taken: months a fit)
        (["--max-epochs", str(10**9)], "argument --max-epochs: must be at most 1000000 (a "
         "thousand times the longest default; at the 5 to 50 ms an epoch measured for the "
         "default sizes on one thread, that is 1.4 to 14 hours a fit), got 1000000000"),
        (["--n-patches", str(10**20)], "argument --n-patches: must be at most 2**31 - 1"),
        (["--n-filters", str(10**20)], "argument --n-filters: must be at most 2**31 - 1"),
        (["--n-jobs", str(10**20)], "argument --n-jobs: must be between -1024 and 1024"),
        (["--threads-per-point", str(10**20)], "argument --threads-per-point: must be at most"),
        # (2000000000: libgomp aborted the process, loky's C overflow was a traceback)
        (["--threads-per-point", "2000000000"], "argument --threads-per-point: must be at most "
         "1024 (more threads than cores only slow the work down)"),
        (["--n-jobs", "2000000000"], "argument --n-jobs: must be between -1024 and 1024"),
        # torch's "value cannot be converted to type float without overflow"
        (["--lr", "1e308"], "argument --lr: must be at most 3.4e38"),
    ],
)
def test_huge_values_name_the_option(argv, match, tmp_path, capsys, no_fit):
    line = _fails(["sweep", "--out", str(tmp_path / "out"), "--quiet", *argv], capsys)
    assert match in line, line


@pytest.mark.parametrize(
    ("argv", "sizes"),
    [
        (["--n-samples", "2000000000"], "--n-samples 2000000000 training and --n-test 1000 "
         "test samples of --n-patches 8 patches of --n-features 64 values, --n-filters 10"),
        (["--n-test", "2000000000"], "--n-test 2000000000 test samples"),
        (["--n-features", "2000000000"], "--n-features 2000000000 values"),
        (["--n-patches", "2000000000"], "--n-patches 2000000000 patches"),
        (["--n-filters", "2000000000"], "--n-filters 2000000000 filters a class"),
    ],
)
def test_sizes_beyond_the_memory_name_the_options(argv, sizes, tmp_path, capsys, no_fit):
    # numpy's "Maximum allowed dimension exceeded" / "Unable to allocate 8 TiB", torch's
    # "can't allocate memory": none named the option
    line = _one_line(["sweep", "--out", str(tmp_path / "out"), "--quiet", "--seeds", "1",
                      *argv], capsys)
    assert line.startswith("sklrank sweep: error: one fit needs about "), line
    assert sizes in line and line.endswith(
        "GiB of this machine; lower --n-samples, --n-test, --n-patches, --n-features or "
        "--n-filters."), line


def test_out_of_memory_is_named(tmp_path, capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError  # no message: the line said "sklrank sweep: error: " and no more

    monkeypatch.setattr(_sweep, "_prepare", no_memory)
    line = _one_line(["sweep", "--out", str(tmp_path / "out"), *TINY, *ONE_BY_ONE], capsys)
    assert line.startswith("sklrank sweep: error: out of memory (MemoryError): use smaller sizes")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_reader_of_stdout_gone_is_no_traceback(tmp_path):
    # `sklrank sweep | head -1`: the pipe is closed when the table is printed
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "sklrank", "sweep", "--out", str(out), *TINY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader leaves before the command prints anything
    stderr = process.communicate(timeout=300)[1].decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.returncode == 1
    assert _files(out) == ["synthetic.csv", "synthetic.json", "synthetic.png"]


def test_cuda_without_a_gpu(tmp_path, capsys, no_fit):
    line = _one_line(["sweep", "--device", "cuda", "--out", str(tmp_path / "out"), "--quiet"],
                     capsys)
    assert "--device cuda but torch finds no CUDA device here" in line
    assert line.endswith("use --device cpu, or install a CUDA build of torch on a machine with "
                         "a GPU.")
    assert not (tmp_path / "out").exists()  # nothing written


def test_points_on_one_gpu_run_one_after_another(tmp_path, capsys, no_fit, monkeypatch):
    # a machine with one GPU, as torch reports it: the option is refused before any fit
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    line = _one_line(["sweep", "--out", str(tmp_path / "out"), *TINY[-1:], "--device", "cuda",
                      "--n-jobs", "2", "--no-batch"], capsys)
    assert line.startswith("sklrank sweep: error: ") and "one after another" in line


def test_missing_data_one_line(tmp_path, capsys):
    line = _one_line(["sweep", "--dataset", "mnist", "--data-home", str(tmp_path),
                      "--no-download", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert line.startswith("sklrank sweep: error: MNIST files not found")
    assert str(tmp_path / "mnist") in line


def test_outputs_checked_before_any_fit(tmp_path, capsys, no_fit):
    a_file = tmp_path / "file"
    a_file.write_text("")
    line = _one_line(["sweep", "--out", str(a_file), "--quiet"], capsys)
    assert "is a file" in line
    line = _one_line(["sweep", "--out", str(a_file / "sub"), "--quiet"], capsys)
    assert "cannot create the output folder" in line
    (tmp_path / "out" / "synthetic.csv").mkdir(parents=True)
    line = _one_line(["sweep", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert "synthetic.csv" in line and "is a folder" in line


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX permissions")
def test_unwritable_folder(tmp_path, capsys, no_fit):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
    elif os.path.isdir("/sys/kernel"):  # root writes anywhere, except where the kernel says no
        locked = "/sys/kernel"
    else:  # pragma: no cover
        pytest.skip("running as root, and no sysfs to stand for an unwritable folder")
    try:
        line = _one_line(["sweep", "--out", str(locked), "--quiet"], capsys)
    finally:
        if os.geteuid() != 0:
            locked.chmod(0o700)
    assert "cannot write in the output folder" in line and str(locked) in line


def test_existing_results_are_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--name", "tiny", *TINY]
    assert main(argv) == 0
    before = {name: (out / name).read_bytes() for name in _files(out)}
    capsys.readouterr()
    line = _one_line(argv, capsys)
    assert "already exist" in line and "--overwrite" in line
    assert {name: (out / name).read_bytes() for name in _files(out)} == before
    line = _one_line([*argv, "--resume"], capsys)
    assert "nothing to resume" in line and "--overwrite" in line
    assert main([*argv, "--overwrite"]) == 0
    assert "(replacing the previous ones)" in capsys.readouterr().out
    assert _files(out) == ["tiny.csv", "tiny.json", "tiny.png"]


def test_interrupted_run_resumes_to_identical_numbers(tmp_path, capsys, monkeypatch):
    # one fit at a time: every finished fit is in the file
    reference = tmp_path / "reference"
    assert main(["sweep", "--out", str(reference), "--name", "tiny", *TINY, *ONE_BY_ONE]) == 0
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--name", "tiny", *ONE_BY_ONE, *TINY]
    _stop_after(monkeypatch, 3)
    capsys.readouterr()
    line = _one_line(argv, capsys, status=130)
    checkpoint = out / "tiny.points.jsonl"
    assert f"3 finished fit(s) are kept in {checkpoint}" in line and "--resume" in line
    assert _files(out) == ["tiny.points.jsonl"]
    # without --resume a new run would throw the fits away: refused
    line = _one_line(argv, capsys)
    assert "holds 3 finished fit(s)" in line and "--resume" in line
    # another configuration cannot resume it
    line = _one_line([*argv[:-1], "--max-epochs", "21", "--quiet", "--resume"], capsys)
    # (the options, where it named the sweep function's checkpoint and classifier_params)
    assert line == (f"sklrank sweep: error: {checkpoint} holds the fits of a run with other "
                    "options (--max-epochs: 20 there, 21 here); --resume continues it with "
                    "the same options only: run its command with --resume, or pass "
                    "--overwrite to start over (its fits are discarded).")
    line = _one_line([*argv[:-1], "--seeds", "3", "--signal-position", "random", "--quiet",
                      "--resume"], capsys)
    assert "--seeds: 2 there, 3 here" in line, line
    assert "--signal-position: 0 there, 'random' here" in line, line
    assert "--overwrite" in line
    # a run made with --no-batch, resumed without it (the message said "--no-batch: False
    # there, 'auto' here": --no-batch was given there)
    line = _one_line([*(o for o in argv if o != "--no-batch"), "--resume"], capsys)
    assert "(--no-batch given there, not given here)" in line, line
    calls = _stop_after(monkeypatch, 100)
    assert main([*argv, "--resume"]) == 0
    assert len(calls) == 1  # only the missing fit
    assert _files(out) == ["tiny.csv", "tiny.json", "tiny.png"]  # the checkpoint is gone
    resumed, expected = (pd.read_csv(d / "tiny.csv") for d in (out, reference))
    pd.testing.assert_frame_equal(resumed.drop(columns="fit_time"),
                                  expected.drop(columns="fit_time"), check_exact=True)
    assert json.loads((out / "tiny.json").read_text())["resumed_fits"] == 3


def test_ctrl_c_while_the_results_are_made_is_one_line(tmp_path, capsys, monkeypatch):
    # the figure takes about a second after the last fit: a Ctrl-C there printed a traceback;
    # after an interrupted --overwrite run the hint said "the same command with --resume",
    # which argparse refuses together with --overwrite
    from sklrank._cli import sweep as sweep_cli

    def interrupted(df, study):
        raise KeyboardInterrupt

    argv = ["sweep", "--out", str(tmp_path / "out"), "--name", "tiny", *TINY]
    monkeypatch.setattr(sweep_cli, "_figure", interrupted)
    line = _one_line(argv, capsys, status=130)
    assert "interrupted before the results were written; 4 finished fit(s)" in line
    assert "the same command with --resume to continue" in line
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0  # the kept fits give the results
    monkeypatch.setattr(sweep_cli, "_figure", interrupted)
    line = _one_line([*argv, "--overwrite"], capsys, status=130)
    assert "4 finished fit(s)" in line and "--resume instead of --overwrite" in line


def test_a_run_into_a_running_sweep_is_refused(tmp_path, capsys, no_fit):
    from sklrank.experiments._checkpoint import SweepCheckpoint

    out = tmp_path / "out"
    out.mkdir()
    with SweepCheckpoint.open(out / "synthetic.points.jsonl", {}, ("seed",)):
        for flag in ("--resume", "--overwrite"):
            line = _one_line(["sweep", "--out", str(out), "--quiet", flag], capsys)
            assert "another sweep is running into" in line
    assert (out / "synthetic.points.jsonl").exists()


def test_a_run_that_failed_before_its_first_fit_does_not_block_the_next(tmp_path, capsys,
                                                                        monkeypatch):
    # its checkpoint of 0 fits asked for --resume (refused: another configuration) or
    # --overwrite
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), *TINY[:5], *TINY[7:]]  # TINY but --n-samples
    line = _one_line([*argv, "--n-samples", "1"], capsys)  # refused before the checkpoint
    assert "--n-samples 1 is too few" in line
    _stop_after(monkeypatch, 0, RuntimeError)  # fails in the first point, checkpoint open
    assert "stopped" in _one_line([*argv, "--n-samples", "30"], capsys)
    monkeypatch.setattr(_sweep, "_prepare", PREPARE)
    assert main([*argv, "--n-samples", "40"]) == 0
    assert _files(out) == ["synthetic.csv", "synthetic.json", "synthetic.png"]
    # a file there that is no checkpoint is left alone (it was deleted as "0 fits")
    other = tmp_path / "other"
    other.mkdir()
    (other / "synthetic.points.jsonl").write_text("my notes about points\n")
    argv = ["sweep", "--out", str(other), *TINY[:5], *TINY[7:], "--n-samples", "40"]
    for flags in ([], ["--resume"], ["--overwrite"]):  # --overwrite deleted it
        assert "is not a sweep checkpoint" in _one_line([*argv, *flags], capsys)
    assert (other / "synthetic.points.jsonl").read_text() == "my notes about points\n"


def test_failed_fit_keeps_the_finished_ones(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    _stop_after(monkeypatch, 2, RuntimeError)
    line = _one_line(["sweep", "--out", str(out), *ONE_BY_ONE, *TINY], capsys)
    assert "stopped" in line and "2 finished fit(s) are kept in" in line
    assert "noise_std=0.5, seed=0" in line  # the note naming the point (Python >= 3.11)
    monkeypatch.setattr(_sweep, "_prepare", PREPARE)
    assert main(["sweep", "--out", str(out), *ONE_BY_ONE, *TINY, "--resume"]) == 0


@pytest.mark.parametrize("batching", [[], ONE_BY_ONE], ids=["batched", "one-by-one"])
def test_a_diverged_fit_is_one_line_and_the_others_are_kept(batching, tmp_path, capsys):
    # noise of 1e30 makes that fit diverge; in a batch, the other fits of the batch finish
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), *TINY[:1], "0", "1e30", *TINY[3:], "--seeds", "1",
            *batching]
    line = _one_line(argv, capsys)
    assert "training diverged at epoch 2" in line
    assert "noise_std=1e+30, seed=0" in line
    assert f"1 finished fit(s) are kept in {out / 'synthetic.points.jsonl'}" in line
    # the cause is an option: --resume refuses a changed one, so the hint names --overwrite
    # (it said "fix the cause and run the same command with --resume")
    assert line.endswith("which --resume continues with the same options only: run with "
                         "changed options (e.g. a lower --lr) with --overwrite"), line


@pytest.mark.parametrize("batching", [[], ONE_BY_ONE], ids=["batched", "one-by-one"])
def test_fits_that_did_not_train_are_counted(batching, tmp_path, capsys):
    # a weak signal: at noise 0 the loss never moves
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), *TINY[:2], "1", *TINY[3:], "--signal-norm", "0.1"]
    assert main([*argv, *batching]) == 0
    captured = capsys.readouterr()
    assert "2 of the 4 fits did not train" in captured.out
    assert "noise_std=0, seed=0: RankCNNClassifier learned nothing" in captured.out
    # (it advised "Scale X up to unit scale, raise init_std or lr, or lower kappa": Python's)
    assert "the gradients vanish. Raise --signal-norm or --lr.\n" in captured.out
    assert "ConvergenceWarning" not in captured.err  # counted once, in the summary
    df = pd.read_csv(out / "synthetic.csv", keep_default_na=False)
    assert (df["training_warning"] != "").tolist() == [True, True, False, False]
    assert df["n_batched"].tolist() == [1] * 4 if batching else [4] * 4


def test_interrupted_batched_run_resumes_to_identical_numbers(tmp_path, capsys, monkeypatch):
    # batches of two fits (a small memory budget): a batch's fits are saved when it finishes
    reference = tmp_path / "reference"
    assert main(["sweep", "--out", str(reference), "--name", "tiny", *TINY]) == 0
    one_fit = _sweep._point_bytes(40, 2, (64, 4, 3), on_cpu=True)[0]
    monkeypatch.setattr(_sweep, "_CPU_BATCH_BYTES", 2 * one_fit)
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--name", "tiny", *TINY]
    _stop_after(monkeypatch, 3)
    capsys.readouterr()
    line = _one_line(argv, capsys, status=130)
    assert "2 finished fit(s) are kept" in line
    calls = _stop_after(monkeypatch, 100)
    assert main([*argv, "--resume"]) == 0
    assert len(calls) == 2
    resumed, expected = (pd.read_csv(d / "tiny.csv") for d in (out, reference))
    assert resumed["n_batched"].tolist() == [2] * 4 and expected["n_batched"].tolist() == [4] * 4
    pd.testing.assert_frame_equal(resumed.drop(columns=["fit_time", "n_batched"]),
                                  expected.drop(columns=["fit_time", "n_batched"]),
                                  check_exact=True)


def test_interrupt_while_writing_keeps_the_previous_set(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--name", "tiny", *TINY]
    assert main(argv) == 0
    before = {name: (out / name).read_bytes() for name in _files(out)}
    # Ctrl-C once the new CSV is written, while the PNG is being written
    real = type(out).write_bytes
    written = []

    def write_bytes(path, data):
        written.append(path.name)
        if len(written) == 2:
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(type(out), "write_bytes", write_bytes)
    capsys.readouterr()
    line = _one_line([*argv[:-1], "--max-epochs", "21", "--quiet", "--overwrite"], capsys,
                     status=130)
    assert "previous files (if any) are unchanged" in line
    monkeypatch.setattr(type(out), "write_bytes", real)
    assert written[0].startswith(".tiny.csv.")  # a temporary file beside the old set
    # the old CSV, PNG and JSON as they were, the new fits kept, no temporary file left
    assert _files(out) == ["tiny.csv", "tiny.json", "tiny.png", "tiny.points.jsonl"]
    assert {name: (out / name).read_bytes() for name in before} == before
    assert main([*argv[:-1], "--max-epochs", "21", "--quiet", "--resume"]) == 0
    record = json.loads((out / "tiny.json").read_text())
    assert record["resumed_fits"] == 4 and record["config"]["classifier_params"][
        "max_epochs"] == 21


def test_ctrl_c_during_the_renames_is_held_until_the_set_is_whole(tmp_path, capsys,
                                                                  monkeypatch):
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--name", "tiny", *TINY]
    assert main(argv) == 0
    replace = os.replace
    renamed = []

    def replace_then_sigint(src, dst):
        replace(src, dst)
        renamed.append(dst)
        if len(renamed) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C right after the new CSV is in place

    monkeypatch.setattr(os, "replace", replace_then_sigint)
    capsys.readouterr()
    line = _one_line([*argv[:-1], "--max-epochs", "21", "--quiet", "--overwrite"], capsys,
                     status=130)
    monkeypatch.setattr(os, "replace", replace)
    assert "the results were written first" in line
    assert len(renamed) == 3  # the PNG and the JSON went in too: one consistent new set
    record = json.loads((out / "tiny.json").read_text())
    assert record["config"]["classifier_params"]["max_epochs"] == 21
    digest = hashlib.sha256((out / "tiny.csv").read_bytes()).hexdigest()
    assert record["outputs"]["csv"]["sha256"] == digest
    assert _files(out) == ["tiny.csv", "tiny.json", "tiny.png"]


def test_sample_size_study_command(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), *TINY[:5], "--n-samples", "30", "50", *TINY[7:]]
    assert main(argv) == 0
    assert _files(out) == ["synthetic_sample_size.csv", "synthetic_sample_size.json",
                           "synthetic_sample_size.png"]
    df = pd.read_csv(out / "synthetic_sample_size.csv")
    assert sorted(df["n_train"].unique()) == [30, 50] and len(df) == 2 * 2 * 2
    record = json.loads((out / "synthetic_sample_size.json").read_text())
    assert record["experiment"] == "sample_size_study"
    assert record["config"]["data"]["n_samples"] == [30, 50]
    assert (out / "synthetic_sample_size.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "sample-size study" in printed and "n_train" in printed


def test_one_seed_study_says_where_fits_did_not_train(tmp_path, capsys):
    # a weak signal: at noise 0 the loss never moves. The line did not say at which sample
    # size (n_train); with one seed the table printed "± 0.00" (a sd over one seed)
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--noise", "0", "1", "--seeds", "1", "--n-samples",
            "30", "50", *TINY[7:], "--signal-norm", "0.1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "did not train" in printed
    assert "training_warning of synthetic_sample_size.csv; left out of the means of filter " \
        "sr, train acc and test acc, counted in the column untrained), e.g. n_train=30, " \
        "noise_std=0, seed=0: RankCNNClassifier learned nothing" in printed, printed
    assert "±" not in printed and "(one seed)" in printed, printed
    table = printed.splitlines()[1:4]
    assert "test acc" in table[0] and table[2].split()[:3] == ["30", "0.0", "1"], table


def test_one_seed_figure_titles_claim_no_sd(tmp_path):
    from sklrank.experiments import plot_noise_sweep, plot_sample_size_study

    out = tmp_path / "out"
    assert main(["sweep", "--out", str(out), *TINY[:3], "--seeds", "1", *TINY[5:]]) == 0
    df = pd.read_csv(out / "synthetic.csv", keep_default_na=False)
    titles = [ax.get_title() for ax in np.ravel(plot_noise_sweep(df))]
    assert titles == ["synthetic: stable rank (one seed)", "synthetic: accuracy (one seed)"]
    study = pd.concat([df, df.assign(n_train=2 * df["n_train"])])
    assert np.ravel(plot_sample_size_study(study))[0].get_title() \
        == "filter stable rank against n (one seed)"
    two = pd.concat([df, df.assign(seed=1)])
    assert np.ravel(plot_noise_sweep(two))[0].get_title() \
        == "synthetic: stable rank (mean ± sd over seeds)"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_sample_size_study_at_one_noise_level(tmp_path):
    # ran every fit, then failed drawing the growth panel: nothing written, and --resume
    # failed the same way; now the figure is the ranks against n alone
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--noise", "0.5", *TINY[3:5], "--n-samples", "30",
            "50", *TINY[7:]]
    assert main(argv) == 0
    assert _files(out) == ["synthetic_sample_size.csv", "synthetic_sample_size.json",
                           "synthetic_sample_size.png"]
    df = pd.read_csv(out / "synthetic_sample_size.csv")
    assert sorted(df["n_train"].unique()) == [30, 50] and set(df["noise_std"]) == {0.5}
    assert (out / "synthetic_sample_size.png").stat().st_size > 10_000


def test_an_error_found_after_the_output_checks_leaves_no_new_folder(tmp_path, capsys):
    # --out is created early, to check that it can be written; an error found later (here
    # by the data generator) left it behind, empty; a folder that was there stays
    out = tmp_path / "new"
    line = _one_line(["sweep", "--out", str(out), "--rank", "40", "--n-features", "16"], capsys)
    assert "do not fit in --n-features 16" in line and not out.exists()
    out.mkdir()
    _one_line(["sweep", "--out", str(out), "--rank", "40", "--n-features", "16"], capsys)
    assert out.is_dir()
    line = _one_line(["gradients", "--figure", "training", "--quick", "--activations", "tanh",
                      "--lr", "1e6", "--out", str(tmp_path / "g"), "--no-progress"], capsys)
    assert "network died" in line and not (tmp_path / "g").exists()


def test_flags_of_the_other_kind_of_data(capsys):
    line = _fails(["sweep", "--classes", "0", "1"], capsys)
    assert "--classes" in line and "synthetic" in line
    line = _fails(["sweep", "--dataset", "mnist", "--n-patches", "3"], capsys)
    assert "--n-patches" in line


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sweep_on_cuda_writes_the_files_of_a_cpu_run(tmp_path):
    assert main(["sweep", "--out", str(tmp_path / "cpu"), "--name", "tiny", *TINY]) == 0
    assert main(["sweep", "--out", str(tmp_path / "gpu"), "--name", "tiny", *TINY,
                 "--device", "cuda"]) == 0
    assert _files(tmp_path / "gpu") == _files(tmp_path / "cpu")
    cpu, gpu = (pd.read_csv(tmp_path / d / "tiny.csv") for d in ("cpu", "gpu"))
    assert list(gpu.columns) == list(cpu.columns)
    pd.testing.assert_series_equal(gpu["data_stable_rank"], cpu["data_stable_rank"])
    pd.testing.assert_series_equal(gpu["filter_stable_rank"], cpu["filter_stable_rank"],
                                   rtol=1e-3)
    record = json.loads((tmp_path / "gpu" / "tiny.json").read_text())
    assert record["config"]["device"] == "cuda"


def test_summary_prints_the_clean_rank_as_a_count():
    # the median of the seeds' integer ranks printed "4.0"; an even number of seeds that
    # disagree may give a half
    from sklrank._cli.sweep import summary_table

    df = pd.DataFrame({"noise_std": [0.0, 0.0, 1.0, 1.0], "clean_rank": [4, 4, 4, 5],
                       **{c: [0.5] * 4 for c in ("data_stable_rank", "patch_stable_rank",
                                                  "filter_stable_rank", "train_accuracy",
                                                  "test_accuracy", "fit_time")}})
    assert summary_table(df)["clean rank"].tolist() == ["4", "4.5"]


def test_the_title_fits_the_figure(tmp_path, suptitles_as_drawn):
    # a sample-size study at one noise level is one panel, 8.5 inches wide: a title naming
    # eight sizes was cut off at both sides
    seen = suptitles_as_drawn
    sizes = [str(n) for n in range(40, 200, 20)]
    assert main(["sweep", "--out", str(tmp_path), "--noise", "0.5", "--seeds", "1",
                 "--n-samples", *sizes, "--n-test", "40", "--n-features", "16",
                 "--n-patches", "4", "--n-filters", "3", "--max-epochs", "5", "--quiet"]) == 0
    assert seen and all(fits for fits, _ in seen), seen


@pytest.mark.parametrize("position, said", [(0, "image in tile 0"), (3, "image in tile 3"),
                                            ("random", "image in a random tile")])
def test_image_title_says_where_the_image_sits(position, said):
    # the synthetic title says "signal in patch 0"; the images' said nothing of the tile,
    # also of a random one, whose clean data have up to K * tiles directions
    from sklrank._cli.sweep import describe

    data = {"n_samples": 100, "rank": 4, "classes": [0, 1], "canvas": [2, 2],
            "noise_mode": "pad", "position": position}
    title = describe({"dataset": "mnist", "data": data})
    assert title.endswith(f"2x2 noise padding, {said}"), title
    # (an additive run records no canvas and no tile)
    additive = {k: v for k, v in data.items() if k not in ("canvas", "position")}
    additive = describe({"dataset": "mnist", "data": {**additive, "noise_mode": "additive"}})
    assert additive.endswith("training images, additive noise"), additive


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_one_unknown_class_is_named_as_unknown(dataset, tmp_path, capsys, no_fit):
    # "--classes 11" said "keeps one class only": adding a second label then met "11 is not
    # a label"; the labels 0..9 are known before the files are read (none is here)
    line = _one_line(["sweep", "--dataset", dataset, "--data-home", str(tmp_path / "none"),
                      "--no-download", "--classes", "11", "--out", str(tmp_path / "out")],
                     capsys)
    assert line == ("sklrank sweep: error: --classes holds [11], which are not labels of "
                    "this data set; choose among [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]."), line


def _sweep_rows(warnings_by_row):
    """A sweep's rows at noise 0 and 1, one seed a row: the filter rank 4 of a fit that
    trained, 40 (its initial filters') of one that did not, with its message."""
    n = len(warnings_by_row)
    untrained = [bool(w) for w in warnings_by_row]
    return pd.DataFrame({
        "noise_std": [0.0] * (n // 2) + [1.0] * (n - n // 2), "seed": list(range(n)),
        "clean_rank": [4] * n, "data_stable_rank": [10.0] * n, "patch_stable_rank": [5.0] * n,
        "filter_stable_rank": [40.0 if u else 4.0 for u in untrained],
        "train_accuracy": [0.5 if u else 1.0 for u in untrained],
        "test_accuracy": [0.5 if u else 0.9 for u in untrained],
        "fit_time": [1.0] * n, "training_warning": warnings_by_row,
    })


def test_summary_leaves_the_fits_that_did_not_train_out_of_the_learned_means(tmp_path):
    # an untrained fit's filter rank (its initial filters', 40) went into the mean with the
    # learned ones (4): "filter sr 22.00 ± 25.46", with one line after the table
    from sklrank._cli.sweep import summary_table

    df = _sweep_rows(["", "RankCNNClassifier learned nothing: ...", "", ""])
    path = tmp_path / "sweep.csv"
    df.to_csv(path, index=False)
    for frame in (df, pd.read_csv(path)):  # (read back, the empty messages are NaN)
        table = summary_table(frame)
        assert table.columns[:3].tolist() == ["seeds", "untrained", "clean rank"]
        assert table["seeds"].tolist() == [2, 2]
        assert table["untrained"].tolist() == [1, 0]
        # the fit that trained alone (no sd of one fit); the data's ranks over both fits
        assert table.loc[0.0, ["filter sr", "train acc", "test acc"]].tolist() == [
            "4.00", "1.000", "0.900"]
        assert table.loc[0.0, ["data sr", "patch sr"]].tolist() == ["10.00 ± 0.00",
                                                                    "5.00 ± 0.00"]
        assert table.loc[1.0, "filter sr"] == "4.00 ± 0.00"
    # a level none of whose fits trained has no learned mean
    table = summary_table(_sweep_rows(["a", "b", "", ""]))
    assert table.loc[0.0, ["filter sr", "train acc", "test acc"]].tolist() == ["n/a"] * 3
    # every fit trained: no such column, the table as before
    assert "untrained" not in summary_table(_sweep_rows([""] * 4)).columns


def test_resumed_fits_that_did_not_train_stay_out_of_the_means(tmp_path, capsys,
                                                               monkeypatch):
    # a weak signal: at noise 0 the loss never moves. Interrupted after two fits (those of
    # noise 0, read back from NAME.points.jsonl by --resume), the table leaves them out too
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), *ONE_BY_ONE, *TINY[:2], "1", *TINY[3:],
            "--signal-norm", "0.1"]
    _stop_after(monkeypatch, 2)
    assert main(argv) == 130
    monkeypatch.setattr(_sweep, "_prepare", PREPARE)
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "(2 resumed)" in printed
    header, _, at_0, at_1 = printed.splitlines()[1:5]
    assert header.split()[:4] == ["seeds", "untrained", "clean", "rank"], header
    assert at_0.split()[:4] == ["0.0", "2", "2", "4"], at_0
    assert at_0.count("n/a") == 3, at_0  # filter sr, train acc, test acc
    assert at_1.split()[:3] == ["1.0", "2", "0"], at_1
    assert "left out of the means of filter sr, train acc and test acc" in printed
    df = pd.read_csv(out / "synthetic.csv", keep_default_na=False)
    assert (df["training_warning"] != "").tolist() == [True, True, False, False]
