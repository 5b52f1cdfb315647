"""``sklrank gradients``: every figure's quick version, the files it writes, and bad options.

Bad options and the answer each gets (exit status 2; a CLI error is one line on stderr,
``sklrank gradients: error: ...``; an option argparse rejects prints the usage line and then
one error line, as ``sklrank sweep`` does):

=============================================  ===========================================
option                                         answer
=============================================  ===========================================
--out naming an existing file                  "--out ... exists and is not a folder"
                                               (today: FileExistsError traceback)
--out under a file (file/sub)                  "cannot write to the output folder ..."
--out "" (an unset variable: --out "$DIR")     argparse: "is empty; name the output
                                               folder" (the files went into the current
                                               folder)
the files of an earlier run in --out           "already exist(s); pass --overwrite ..."
                                               (they were replaced without a word)
--lr nan / --lr inf / --lr 0                   "--lr: must be finite" / "must be > 0"
                                               (today: a traceback, or NaN everywhere)
--n-samples 1                                  "--n-samples: must be an integer >= 2"
                                               (today: traceback from make_spiked)
--activations swish                            "unknown value 'swish'"
--nu -0.1 / --nu abc                           "--nu: must be >= 0" / "is not a number"
--settings 1,2                                 "expected ALPHA:NU"
--nu 0.1,1/10 / --activations relu,relu        "holds 0.1 more than once" (today: silently
                                               de-duplicated)
--lr-fraction 2                                "must be in (0, 1]"
--n-components without --features pca          "applies to --features pca only" (today:
                                               ignored, recorded in the JSON as given)
--lr with --lr-fraction                        "pass one of --lr and --lr-fraction" (today:
                                               the fraction ignored, recorded as used)
--weight-decay for --figure activations        "--weight-decay do(es) not apply to
                                               --figure activations"
--nu 0.1,0.2 for --figure activations          "--nu takes one value"
--nu with --figure all                         "do(es) not apply to --figure all"
--record-epochs beyond --epochs                "--record-epochs must be epochs between 1
                                               and --epochs 4" (the library's message named
                                               record_epochs and max_epochs=4: a library
                                               message names the command's options)
--nu 1e300                                     "--nu 1e+300 makes the spike strength ...
                                               overflow float64 in X; use a smaller --nu"
--data-home naming a file                      "--data-home FILE is a file; ... e.g.
                                               --data-home FOLDER"
--n-samples above the images of real-data      "--n-samples 100000 exceeds the 60000
                                               samples ...; lower --n-samples"
--input-noise 1e30 (every unit saturated)      "the curvature of the loss at the initial
                                               weights with --input-noise 1e+30 is 0" (a
                                               ZeroDivisionError traceback)
--seeds 100000000000                           argparse: "must be at most 100000 (every
                                               fit of every seed is listed ...)" (the list
                                               of runs filled the memory until the
                                               process was killed)
--epochs 1000000000                            argparse: "must be at most 1000000 (a
                                               thousand times the longest default ...)"
                                               (it ran for years at the paper's sizes)
too large for the memory (--n-hidden 10**9,     before any data are made: "activation_study
--n-samples 10**6)                             needs about N GiB of memory (--n-samples 60,
                                               ...), more than the M GiB of this machine;
                                               lower --n-hidden, --n-samples or
                                               --n-features" (after seconds to a minute:
                                               torch's "can't allocate memory"; a
                                               MemoryError left is still one line)
--device cuda without a GPU                    "--device cuda but torch finds no CUDA device
                                               here ...; use --device cpu ..."
--figure real-data, data files missing,        the loader's message, one line: "MNIST files
--no-download                                  not found in ..." (nothing written; for
                                               --figure all before the first figure, not
                                               after the four others)
--device tpu / --device mps                    "not a torch device" / "expected cpu or
                                               cuda"
--prefix ../x_ / --prefix x/ / a tab          "--prefix must be plain text, without a
                                               path separator or a control character"
                                               (it wrote outside --out)
--lr 1e6: the network dies in training         "training failed: the network died ...
                                               lower --lr" (a TrainingFailedError
                                               traceback; for regularisers "G is exactly
                                               zero")
--lr so large that some runs diverge (NaN,     not an error: after the table "N of the M
or a loss ending over 1000x its first)         runs diverged (column diverged ...): lower
                                               --lr"; diverged_runs in the JSON
Ctrl-C                                         exit 130: "interrupted; nothing was written"
                                               (today: a traceback, an empty --out left)
--quick with --nu / --n-features               not an error: explicit options win over
                                               --quick (today: --quick silently replaced
                                               them)
--quick --epochs 1 (below --quick's record      --quick's record epochs above --epochs are
epoch 2)                                       dropped (was refused naming --record-epochs,
                                               which the user had not given)
=============================================  ===========================================
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sklrank._cli import build_parser, main
from sklrank._threads import thread_limits


def _gradients_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["gradients"]


def _fails(argv, capsys, one_line=True):
    """Run the CLI, expect exit status 2; return the last stderr line."""
    try:
        status = main(["gradients", *argv])
    except SystemExit as exc:  # argparse errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    if one_line:
        assert len(err) == 1, err
        assert err[0].startswith("sklrank gradients: error: ")
    return err[-1]


def test_help_documents_every_option():
    result = subprocess.run([sys.executable, "-m", "sklrank", "gradients", "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for action in _gradients_parser()._actions:
        assert action.help, action.option_strings
        for option in action.option_strings:
            assert option in result.stdout, option
    for figure in ("nu-sweep", "activations", "regularisers", "training", "real-data"):
        assert figure in result.stdout


@pytest.mark.parametrize(
    ("figure", "stem", "study", "columns"),
    [
        ("nu-sweep", "nu_sweep", "spike_strength_study",
         {"nu", "activation", "sv_index", "s1_norm", "top2_share"}),
        ("activations", "activations", "activation_study",
         {"activation", "singular_value", "s1_over_s2"}),
        ("regularisers", "regularisers", "regulariser_study",
         {"regulariser", "strength", "gradient", "epoch", "scaling", "alpha", "nu", "lr",
          "diverged"}),
        ("training", "training", "training_study",
         {"nu", "regime", "epoch", "stable_rank", "spike_in_top2"}),
    ],
)
def test_quick_figure_writes_csv_png_json(tmp_path, capsys, figure, stem, study, columns):
    import sklrank.gradients as gradients

    out = tmp_path / "out"
    assert main(["gradients", "--figure", figure, "--quick", "--out", str(out),
                 "--prefix", "g_", "--no-progress"]) == 0
    df = pd.read_csv(out / f"g_{stem}.csv")
    assert columns <= set(df.columns)
    assert (out / f"g_{stem}.png").stat().st_size > 10_000
    record = json.loads((out / f"g_{stem}.json").read_text())
    assert record["figure"] == figure
    # the files' digests, as sklrank sweep records them (it recorded the names only)
    for ext in ("csv", "png"):
        digest = hashlib.sha256((out / f"g_{stem}.{ext}").read_bytes()).hexdigest()
        assert record["outputs"][ext] == {"file": f"g_{stem}.{ext}", "sha256": digest}
    assert record["runtime_s"] >= 0 and record["versions"]["torch"]
    assert record["machine"]["cpu_count"] >= 1
    assert record["parameters"]["n_samples"] == 60  # --quick's size
    # the parameters are the function's own, as it used them: it runs again from the JSON
    # and gives the CSV's numbers (they held descriptive keys it does not take: loss, ...)
    assert record["function"] == f"sklrank.gradients.{study}"
    with thread_limits(1):  # the command's one thread (--threads): bitwise the same numbers
        again = getattr(gradients, study)(**record["parameters"])
    assert again.to_csv(index=False) == (out / f"g_{stem}.csv").read_text()
    assert set(record["protocol"]) >= {"loss"}
    printed = capsys.readouterr().out
    assert f"wrote {out / f'g_{stem}.csv'}" in printed
    # a quick figure's run time is said to two digits ("(0 s)" read as nothing done)
    assert re.search(r"\((\d\.?\d*|\d+) s\)\n", printed) and " (0 s)" not in printed
    # nothing but the three files: the temporary names were renamed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"g_{stem}.{ext}" for ext in ("csv", "json", "png"))
    if figure == "regularisers":
        assert set(df.regulariser) == {"none", "weight_decay", "input_noise",
                                       "jacobian_penalty"}
        assert set(df.scaling) == {"ntk", "mean_field"}
        assert {(a, n) for a, n in zip(df.alpha, df.nu)} == {(8 / 9, 1 / 8), (0.0, 0.35)}


def test_printed_table_has_three_decimals_in_every_cell():
    # round(3).astype(str) dropped trailing zeros: "1.5 ± 0.047" next to "3.231 ± 0.31"
    from sklrank._cli.gradients import _mean_sd

    df = pd.DataFrame({"nu": [1, 1, 2, 2], "a": [1.5, 1.5, 3.2, 3.262], "b": [0.0, 0.0, 2e7, 4e7],
                       "c": [1e-5, 1e-5, np.nan, 1.0]})
    table = _mean_sd(df, ["nu"], ["a", "b", "c"])
    assert list(table.a) == ["1.500 ± 0.000", "3.231 ± 0.044"]
    assert list(table.b) == ["0.000 ± 0.000", "3e+07 ± 1.41e+07"]
    # one value (one seed): the mean alone, not "± 0.000" (a sd over one seed is undefined)
    assert list(table.c) == ["1e-05 ± 0.000", "1.000"]
    assert list(_mean_sd(df[::2], ["nu"], ["a"]).a) == ["1.500", "3.200"]


def test_one_seed_is_printed_without_a_spread(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["gradients", "--figure", "training", "--quick", "--out", str(out),
                 "--no-progress"]) == 0  # --quick: one seed
    printed = capsys.readouterr().out
    assert "±" not in printed and "2.040" in printed, printed
    # the figure's title said "1 seeds" ("1 seeds (band: min-max)" for regularisers)
    from sklrank._cli.gradients import _title

    config = json.loads((out / "training.json").read_text())["parameters"]
    assert _title("training", config).endswith(", 1 seed")
    assert _title("regularisers", config).endswith(" epochs of full-batch GD, 1 seed")
    # several seeds: every figure's band spans them, and its title says so (only the
    # regularisers' did); nu in the axis's order; the spike initialisation named
    several = {**config, "n_seeds": 3, "nus": [0.3, 0.1, 0.2], "init": "spike"}
    for figure in ("training", "nu-sweep", "regularisers"):
        assert _title(figure, several).endswith("3 seeds (band: min-max)"), figure
    assert "nu=[0.1, 0.2, 0.3], ntk, init: W correlated with q, 3 seeds" in _title(
        "training", several)
    # --nu 1/3 in three digits, as the legend says it (it read 0.3333333333333333)
    assert "nu=[0.333, 0.667], ntk" in _title("training", {**config, "nus": [2 / 3, 1 / 3]})
    one = {k: v for k, v in config.items() if k != "nus"}
    assert "nu=0.333, ntk" in _title("activations", {**one, "nu": 1 / 3})


def test_quick_real_data(tmp_path, shared_data_dir, monkeypatch):
    out = tmp_path / "out"
    # the data found through $SKLRANK_DATA, from another folder than the data's
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKLRANK_DATA", os.path.relpath(shared_data_dir, tmp_path))
    assert main(["gradients", "--figure", "real-data", "--quick", "--out", str(out),
                 "--no-progress"]) == 0
    df = pd.read_csv(out / "real_data.csv", dtype={"training_warning": str})
    assert set(df.dataset) == {"mnist", "cifar10"}
    assert set(df.epoch) == {0, 3}
    assert df.spike_estimated.all()
    # the JSON names the folder the data came from (data_home: null), absolute, and the
    # function's own parameters (it held n_components=None, which the function refuses, and
    # descriptive keys such as spike="top principal direction ..."): the study runs again
    # from it, elsewhere and without $SKLRANK_DATA, to the same numbers
    record = json.loads((out / "real_data.json").read_text())
    parameters = record["parameters"]
    assert os.path.isabs(parameters["data_home"])
    assert os.path.realpath(parameters["data_home"]) == os.path.realpath(shared_data_dir)
    monkeypatch.delenv("SKLRANK_DATA")
    monkeypatch.chdir(out)
    import sklrank.gradients as gradients

    with thread_limits(1):  # the command's one thread (--threads): bitwise the same numbers
        again = gradients.real_data_study(**parameters)
    assert again.to_csv(index=False) == (out / "real_data.csv").read_text()
    assert record["protocol"]["spike"] == "top principal direction of the features"
    # pixels: no n_components (the study does not use it)
    assert "n_components" not in gradients.real_data_study(
        datasets=["mnist"], n_samples=20, n_hidden=4, n_seeds=1, activations=["relu"],
        max_epochs=1, n_top=2, data_home=shared_data_dir).attrs["config"]


def test_missing_data_is_one_line(tmp_path, capsys):
    line = _fails(["--figure", "real-data", "--quick", "--data-home", str(tmp_path / "none"),
                   "--no-download", "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert "MNIST files not found" in line and str(tmp_path / "none") in line
    assert not (tmp_path / "out").exists()  # nothing written, no folder left behind
    # --figure all reads the data first: real-data runs last, after hours of the others
    line = _fails(["--figure", "all", "--quick", "--data-home", str(tmp_path / "none"),
                   "--no-download", "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert "MNIST files not found" in line and not (tmp_path / "out").exists()
    line = _fails(["--figure", "training", "--no-download", "--out", str(tmp_path)], capsys)
    assert "--no-download do(es) not apply to --figure training" in line


def test_explicit_options_win_over_quick(tmp_path):
    out = tmp_path / "out"
    assert main(["gradients", "--figure", "nu-sweep", "--quick", "--nu", "0.2",
                 "--n-features", "30", "--activations", "tanh", "--out", str(out),
                 "--no-progress"]) == 0
    df = pd.read_csv(out / "nu_sweep.csv")
    assert set(df.nu) == {0.2} and set(df.n_features) == {30}
    assert set(df.n_samples) == {60}  # the rest is still --quick's
    record = json.loads((out / "nu_sweep.json").read_text())
    assert record["parameters"]["nus"] == [0.2]


def test_quick_record_epochs_follow_an_explicit_epochs(tmp_path, capsys):
    # "--quick --epochs 1" was refused: "--record-epochs must be epochs between 1 and
    # --epochs 1, got [2]", a --record-epochs the user had not given (--quick's)
    out = tmp_path / "out"
    assert main(["gradients", "--figure", "regularisers", "--quick", "--epochs", "1",
                 "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "regularisers.json").read_text())
    assert record["parameters"]["record_epochs"] == [1]
    assert set(pd.read_csv(out / "regularisers.csv").epoch) == {0, 1}
    # a --record-epochs given is still checked against --epochs
    line = _fails(["--figure", "regularisers", "--quick", "--epochs", "1", "--record-epochs",
                   "2", "--out", str(tmp_path / "other"), "--no-progress"], capsys)
    assert "--record-epochs" in line


def test_fractions_and_settings_are_parsed(tmp_path):
    out = tmp_path / "out"
    assert main(["gradients", "--figure", "regularisers", "--quick", "--settings", "8/9:1/8",
                 "--scaling", "ntk", "--weight-decay", "0.1", "--out", str(out),
                 "--no-progress"]) == 0
    df = pd.read_csv(out / "regularisers.csv")
    assert set(df.alpha) == {8 / 9} and set(df.nu) == {1 / 8}
    assert set(df.regulariser) == {"none", "weight_decay"}  # only the one given


def test_results_of_an_earlier_run_are_replaced_only_with_overwrite(tmp_path, capsys):
    # a repeated command replaced a figure's files (hours of work at the paper's sizes)
    out = tmp_path / "out"
    argv = ["--figure", "activations", "--quick", "--out", str(out), "--no-progress"]
    assert main(["gradients", *argv]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    line = _fails(argv, capsys)
    assert "activations.csv" in line and line.endswith(
        "already exist(s); pass --overwrite to replace them (once the new set is written), or "
        "another --prefix or --out.")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # --figure all: one existing figure is enough to refuse, before any work
    assert _fails(["--figure", "all", "--quick", "--out", str(out), "--no-progress"],
                  capsys).endswith("or another --prefix or --out.")
    assert main(["gradients", *argv, "--overwrite"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert json.loads((out / "activations.json").read_text())["arguments"]["overwrite"] is True
    assert sorted(p.name for p in out.iterdir()) == sorted(before)


def test_json_command_runs_again_as_recorded(tmp_path, monkeypatch):
    # an argument with a space was recorded as two (--out my results): not the command run
    import shlex

    out = tmp_path / "my results"
    argv = ["gradients", "--figure", "activations", "--quick", "--out", str(out),
            "--prefix", "a b ", "--no-progress"]
    monkeypatch.setattr(sys, "argv", ["sklrank", *argv])
    assert main(argv) == 0
    record = json.loads((out / "a b activations.json").read_text())
    assert shlex.split(record["command"]) == ["sklrank", *argv]


def test_existing_file_as_out(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    line = _fails(["--out", str(target), "--quick"], capsys)
    assert "exists and is not a folder" in line
    assert target.read_text() == "keep me"
    line = _fails(["--out", str(target / "sub"), "--quick"], capsys)
    assert "cannot write to the output folder" in line


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    # an unset variable (--out "$DIR"): the files went into the current folder
    monkeypatch.chdir(tmp_path)
    line = _fails(["--out", "", "--quick", "--figure", "activations"], capsys, one_line=False)
    assert "argument --out: is empty; name the output folder (--out . for the current " \
        "folder)" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--lr", "nan"], "--lr: must be finite"),
        (["--lr", "inf"], "--lr: must be finite"),
        (["--lr", "0"], "--lr: must be > 0"),
        (["--n-samples", "1"], "--n-samples: must be an integer >= 2"),
        (["--activations", "relu,swish"], "unknown value 'swish'"),
        (["--nu", "-0.1"], "--nu: must be >= 0"),
        (["--nu", "abc"], "is not a number"),
        (["--settings", "1,2"], "expected ALPHA:NU"),
        # (a repeated value was dropped without a word)
        (["--nu", "0.1,1/10"], "--nu: holds 0.1 more than once"),
        (["--activations", "relu,tanh,relu"], "--activations: holds relu more than once"),
        (["--lr-fraction", "2"], "must be in (0, 1]"),
        (["--device", "tpu"], "is not a torch device (cpu, cuda)"),
        (["--device", "mps"], "expected cpu or cuda"),
        (["--figure", "nope"], "invalid choice"),
    ],
)
def test_bad_values_rejected_by_argparse(tmp_path, capsys, argv, match):
    line = _fails(["--out", str(tmp_path), *argv], capsys, one_line=False)
    assert match in line


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--figure", "activations", "--weight-decay", "0.1"],
         "--weight-decay do(es) not apply to --figure activations"),
        (["--figure", "activations", "--nu", "0.1,0.2"], "--nu takes one value"),
        (["--figure", "nu-sweep", "--epochs", "3"], "--epochs do(es) not apply"),
        (["--figure", "all", "--nu", "0.1"], "do(es) not apply to --figure all"),
        (["--figure", "training", "--quick", "--record-epochs", "50"],
         "--record-epochs must be epochs between 1 and --epochs 8"),
        (["--figure", "activations", "--quick", "--prefix", "../x_"],
         "--prefix must be plain text, without a path separator"),
        (["--figure", "activations", "--quick", "--prefix", "x/"], "without a path separator"),
        (["--figure", "activations", "--quick", "--prefix", "a\tb_"], "or a control character"),
        (["--figure", "real-data", "--n-components", "20", "--no-download"],
         "--n-components applies to --features pca only"),
        (["--figure", "real-data", "--quick", "--features", "pixels", "--n-components", "20",
          "--no-download"], "--n-components applies to --features pca only"),
        (["--figure", "training", "--quick", "--lr", "0.01", "--lr-fraction", "0.5"],
         "pass one of --lr and --lr-fraction"),
        (["--figure", "training", "--quick", "--activations", "tanh", "--lr", "1e6"],
         "training failed: the network died"),
        (["--figure", "regularisers", "--quick", "--epochs", "5", "--lr", "1e6"],
         "the network died (every unit is inactive or saturated"),
    ],
)
def test_options_that_do_not_fit_the_figure(tmp_path, capsys, argv, match):
    line = _fails(["--out", str(tmp_path / "o"), "--no-progress", *argv], capsys)
    assert match in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    line = _fails(["--figure", "activations", "--quick", "--device", "cuda",
                   "--out", str(tmp_path)], capsys)
    assert "--device cuda but torch finds no CUDA device here" in line
    assert "use --device cpu" in line
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("figure", ["activations", "training", "regularisers"])
def test_cuda_writes_the_same_files(tmp_path, figure):
    outputs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        assert main(["gradients", "--figure", figure, "--quick", "--device", device,
                     "--out", str(out), "--no-progress"]) == 0
        outputs[device] = sorted(p.name for p in out.iterdir())
        stem = outputs[device][0].rsplit(".", 1)[0]
        assert json.loads((out / f"{stem}.json").read_text())["parameters"]["device"] \
            .startswith(device)
    assert outputs["cpu"] == outputs["cuda"]


def test_diverged_runs_are_reported(tmp_path, capsys):
    # lr 100 is thousands of times the stable step: relu's loss overflows, tanh's stays finite
    out = tmp_path / "out"
    assert main(["gradients", "--figure", "training", "--quick", "--activations", "relu,tanh",
                 "--nu", "0.375", "--lr", "100", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert ("1 of the 2 runs diverged (column diverged of training.csv" in printed
            and "e.g. activation=relu, seed=0: lower --lr (now 100)" in printed), printed
    df = pd.read_csv(out / "training.csv")
    assert set(df[df.diverged].activation) == {"relu"}
    assert json.loads((out / "training.json").read_text())["diverged_runs"] == 1


def test_ctrl_c_is_one_line_and_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    import sklrank.gradients as gradients

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradients, "activation_study", interrupted)
    out = tmp_path / "out"
    try:
        status = main(["gradients", "--figure", "activations", "--quick", "--out", str(out),
                       "--no-progress"])
    except KeyboardInterrupt:  # a traceback, before
        status = "KeyboardInterrupt"
    assert status == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sklrank gradients: interrupted; nothing was written."]
    assert not out.exists()  # the folder made for the run is removed, as on an error


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # the library's messages named the Python parameters (nu=1e+300, max_epochs=4,
        # data_home='...'), which the command line does not take
        (["--figure", "nu-sweep", "--nu", "1e300"], "--nu 1e+300 makes the spike strength "
         "n_samples**nu = inf overflow float64 in X; use a smaller --nu (the paper's regimes "
         "are nu < 1/2)."),
        (["--figure", "regularisers", "--epochs", "4", "--record-epochs", "10"],
         "--record-epochs must be epochs between 1 and --epochs 4, got [10]; pass "
         "--record-epochs of epochs between 1 and --epochs 4."),
        (["--figure", "real-data", "--data-home", "/etc/passwd", "--no-download"],
         "--data-home /etc/passwd is a file; pass the folder that holds mnist/ or the four "
         "MNIST files, e.g. --data-home /etc."),
        (["--figure", "real-data", "--data-home", "/nonexistent", "--no-download"],
         "(or pass --data-home ..., or set the environment variable SKLRANK_DATA"),
        # the step size of a saturated network was a ZeroDivisionError traceback
        (["--figure", "regularisers", "--input-noise", "1e30"], "the curvature of the loss at "
         "the initial weights with --input-noise 1e+30 is 0"),
        # Python-only advice: "or scale X down", make_spiked's nu (the NU of --settings)
        (["--figure", "training", "--activations", "tanh", "--lr", "1e20"], "so the gradient "
         "is exactly zero and there is nothing to decompose); lower --lr (now 1e+20)."),
        (["--figure", "regularisers", "--settings", "0:1e20"], "--settings ALPHA:1e+20 makes "
         "the spike strength n_samples**nu = inf overflow float64 in X; use a smaller NU in "
         "--settings"),
    ],
)
def test_library_messages_name_the_options(argv, line, tmp_path, capsys):
    got = _fails([*argv, "--quick", "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert line in got, got
    assert not [w for w in ("scale X", "rescale", "StandardScaler", "nu=") if w in got], got


@pytest.mark.parametrize(
    ("figure", "message", "line"),
    [
        ("training", "the network output overflows float64 on X (max |X| = 1e+300): rescale X, "
         "e.g. with sklearn.preprocessing.StandardScaler.", "(max |X| = 1e+300): lower --nu."),
        ("regularisers", "the gradient overflows float64 at this scale of X; rescale them, e.g. "
         "with sklearn.preprocessing.StandardScaler.",
         "at this scale of X; lower --settings or --input-noise."),
        ("real-data", "the network output overflows float64 on X (max |X| = 1e+300): rescale X, "
         "e.g. with sklearn.preprocessing.StandardScaler.", "(max |X| = 1e+300)."),
        ("training", "the inputs overflow the forward pass in float32: scale X, or check the "
         "activation.", "in float32: check --activations."),
        ("training", "the curvature is 0; lower the input scale, or pass lr.",
         "the curvature is 0; lower --nu, or pass --lr."),
    ],
)
def test_python_advice_is_the_commands(figure, message, line):
    # (the library's messages reach the command's user through one_line)
    from sklrank._cli import one_line
    from sklrank._cli.gradients import _advice, _options

    assert one_line(ValueError(message), _options(figure), ",", _advice(figure)).endswith(line)


def test_real_data_sizes_name_the_options(tmp_path, capsys, shared_data_dir):
    line = _fails(["--figure", "real-data", "--quick", "--n-samples", "100000", "--data-home",
                   str(shared_data_dir), "--out", str(tmp_path / "out"), "--no-progress"],
                  capsys)
    assert line.endswith("--n-samples 100000 exceeds the 60000 samples available for this "
                         "subset and class selection; lower --n-samples."), line


def test_sizes_beyond_the_memory_are_refused_before_any_data(tmp_path, capsys):
    # torch's "can't allocate memory: you tried to allocate 800000000000 bytes", once the
    # data were made; the command added the sizes to lower, in no particular order
    line = _fails(["--figure", "activations", "--quick", "--n-hidden", "2000000000", "--out",
                   str(tmp_path / "out"), "--no-progress"], capsys)
    assert line.startswith("sklrank gradients: error: activation_study needs about "), line
    assert "(--n-samples 60, --n-features 50 and --n-hidden 2000000000, mostly " in line
    assert line.endswith("lower --n-hidden, --n-samples or --n-features."), line
    # the n x n curvature, which a given --lr does not compute
    line = _fails(["--figure", "training", "--quick", "--n-samples", "1000000", "--n-jobs",
                   "2", "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert "(--n-jobs 2 runs 2 at once, each with --n-samples 1000000" in line, line
    assert line.endswith("lower --n-jobs, --n-samples, --n-hidden or --n-features, or pass "
                         "--lr (no curvature is computed then)."), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("error", [
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                 "allocate memory: you tried to allocate 400000000000 bytes."),
])
def test_out_of_memory_is_one_line(error, tmp_path, capsys, monkeypatch):
    # --n-hidden 1000000000: torch's allocation error was a traceback
    import sklrank.gradients as gradients

    def no_memory(**kwargs):
        raise error

    monkeypatch.setattr(gradients, "activation_study", no_memory)
    line = _fails(["--figure", "activations", "--quick", "--out", str(tmp_path / "out"),
                   "--no-progress"], capsys)
    expected = str(error) or "out of memory (MemoryError): use smaller sizes"
    # (numpy's and torch's messages name an array's shape or bytes, not the option to lower)
    assert line == (f"sklrank gradients: error: {expected}; lower --n-samples, --n-features "
                    "or --n-hidden")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        # a C overflow, numpy's "loop of ufunc does not support argument 0" or a traceback
        (["--epochs", str(10**20)], "argument --epochs: must be at most 1000000"),
        # (10**9 epochs was taken: years a figure at the paper's sizes)
        (["--epochs", str(10**9)], "argument --epochs: must be at most 1000000 (a thousand "
         "times the longest default"),
        (["--n-hidden", str(10**20)], "argument --n-hidden: must be at most 2**31 - 1"),
        (["--threads", str(10**20)], "argument --threads: must be at most 1024"),
        # (2000000000: libgomp aborted the process, "Out of memory allocating ...")
        (["--threads", "2000000000"], "argument --threads: must be at most 1024"),
        (["--n-jobs", "2000000000"], "argument --n-jobs: must be between -1024 and 1024"),
        (["--n-jobs", str(10**20)], "argument --n-jobs: must be between -1024 and 1024"),
        (["--n-jobs", str(-10**20)], "argument --n-jobs: must be between -1024 and 1024"),
        # torch's "value cannot be converted to type float without overflow"
        (["--lr", "1e308"], "argument --lr: must be at most 3.4e38 (the networks train in "
         "float32)"),
        # infinite numbers, then a traceback from the figure's axes ("arange: cannot compute
        # length")
        (["--weight-decay", "1e308"], "argument --weight-decay: must be at most 3.4e38"),
    ],
)
def test_huge_values_name_the_option(tmp_path, capsys, argv, match):
    line = _fails(["--figure", "training", "--quick", "--out", str(tmp_path / "out"),
                   "--no-progress", *argv], capsys, one_line=False)
    assert match in line, line


def test_seeds_beyond_the_random_states_are_refused(tmp_path, capsys):
    # 10**11 seeds: the list of runs filled the memory until the process was killed
    line = _fails(["--seeds", str(10**11), "--out", str(tmp_path)], capsys, one_line=False)
    assert "argument --seeds: must be at most 100000 (every fit of every seed is listed" in line
    # 2000000000 seeds (below 2**32): the process was killed
    line = _fails(["--seeds", "2000000000", "--out", str(tmp_path)], capsys, one_line=False)
    assert "argument --seeds: must be at most 100000 (every fit of every seed is listed" in line


@pytest.mark.parametrize("command", ["sweep", "gradients"])
def test_both_commands_read_n_jobs_as_joblib_does(command, capsys):
    # gradients refused -2 (all cores but one), which sweep took
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    assert parser.parse_args(["--n-jobs", "-2", "--out", "x"]).n_jobs == -2
    with pytest.raises(SystemExit):
        parser.parse_args(["--n-jobs", "0", "--out", "x"])
    assert "must be a non-zero integer" in capsys.readouterr().err


def test_runs_that_did_not_train_are_one_line_after_the_table(tmp_path, capsys):
    # each run's ConvergenceWarning was printed as a Python warning with its source line
    import warnings

    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["gradients", "--figure", "training", "--quick", "--lr", "1e-9",
                     "--out", str(out), "--no-progress"]) == 0
    assert not [w for w in caught if "did not train" in str(w.message)
                or "learned nothing" in str(w.message)]
    printed = capsys.readouterr().out
    assert ("4 of the 4 runs did not train (their loss never moved or rose; column "
            "training_warning") in printed
    assert "raise --lr" in printed
    # "raise --lr (about 0.75 is stable) or max_epochs": the option is --epochs
    assert "is stable) or --epochs." in printed and "max_epochs" not in printed, printed
    assert json.loads((out / "training.json").read_text())["untrained_runs"] == 4
    assert pd.read_csv(out / "training.csv").training_warning.notna().all()


def test_diverged_runs_are_said_once_without_a_python_warning(tmp_path, capfd):
    # with --n-jobs 1 (the default) every diverged run also printed the study's Python
    # RuntimeWarning on stderr: two lines a run, in the library's terms ("lower lr ... or
    # scale X down") and with a line of its source; with --n-jobs 2 none (joblib's workers)
    for n_jobs in ("1", "2"):
        out = tmp_path / n_jobs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["gradients", "--figure", "training", "--quick", "--activations",
                         "relu", "--nu", "0.375", "--lr", "100", "--epochs", "3",
                         "--n-jobs", n_jobs, "--out", str(out), "--no-progress"]) == 0
        printed = capfd.readouterr()
        assert "1 of the 1 runs diverged" in printed.out and "lower --lr" in printed.out
        assert not [w for w in caught if "diverged" in str(w.message)], n_jobs
        assert printed.err == "", (n_jobs, printed.err)


def test_the_title_fits_a_figure_of_one_panel(tmp_path, suptitles_as_drawn):
    # one regulariser at one setting and one scaling: one panel, narrower than the title,
    # which was cut off at both sides ("=50, m=60, 4 epochs of full-batch GD, 1 seed")
    seen = suptitles_as_drawn
    assert main(["gradients", "--figure", "regularisers", "--quick", "--settings", "0:0.35",
                 "--scaling", "ntk", "--weight-decay", "0.2", "--seeds", "2",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    assert seen and all(fits for fits, _ in seen), seen


def test_tables_leave_the_runs_that_did_not_train_out_of_the_means_after_training():
    # docs/figures/gradients_regularisers.csv holds one such run (alpha 0, mean field, relu,
    # input noise 10, seed 1: its loss rose): its ratio after training (1.41) went into the
    # mean with the other seed's (7.78), "4.593 (1.408-7.778)", with a line after the table
    from conftest import REPO_ROOT

    from sklrank._cli.gradients import _SUMMARIES

    df = pd.read_csv(REPO_ROOT / "docs" / "figures" / "gradients_regularisers.csv")
    table = _SUMMARIES["regularisers"](df)
    row = table.loc[(0.0, 0.35, "mean_field", "relu", "input_noise", 10.0)]
    assert row[("mean", "trained")] == row[("min", "trained")] == row[("max", "trained")] \
        == 7.778
    assert row[("mean", "init")] == 0.841  # at initialisation both seeds: nothing trained
    assert row[("untrained", "trained")] == 1 and row[("untrained", "init")] == 0
    assert table[("untrained", "trained")].sum() == 1

    # the tables of the studies along training: the run's rows after training are left out
    # of the means (its epoch 0, the initial weights, is a result), and counted
    training = pd.read_csv(REPO_ROOT / "docs" / "figures" / "gradients_training.csv")
    training["training_warning"] = ""
    run = (training.nu == 0.125) & (training.activation == "relu") & (training.seed == 0)
    training.loc[run, "training_warning"] = "TwoLayerNetRegressor learned nothing: ..."
    table = _SUMMARIES["training"](training)
    last = training.epoch.max()
    assert table.loc[(0.125, "relu", last), "untrained"] == 1
    assert table.loc[(0.125, "relu", 0), "untrained"] == 0
    others = training[(training.nu == 0.125) & (training.activation == "relu") & ~run
                      & (training.epoch == last)]
    mean, sd = others.loss.mean(), others.loss.std()
    assert table.loc[(0.125, "relu", last), "loss"] == f"{mean:.3g} ± {sd:.3g}"
    everyone = training[(training.nu == 0.125) & (training.activation == "relu")
                        & (training.epoch == 0)]
    assert table.loc[(0.125, "relu", 0), "loss"].startswith(f"{everyone.loss.mean():.3f}")
    # none trained: no mean
    training.loc[training.activation == "relu", "training_warning"] = "learned nothing"
    assert (_SUMMARIES["training"](training).xs("relu", level="activation")
            .xs(last, level="epoch")["loss"] == "n/a").all()
