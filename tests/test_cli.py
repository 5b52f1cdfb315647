"""Tests of the ``sklrank`` command line (tiny sweeps through ``sklrank._cli.main``)."""

import argparse
import json
import subprocess
import sys

import pandas as pd
import pytest

from sklrank._cli import build_parser, main

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


def _sweep_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["sweep"]


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
    assert len(options) >= 20
    for option in options:
        assert option in text, option
    for action in _sweep_parser()._actions:
        assert action.help, f"{action.option_strings} has no help text"
    for flag in ("--dataset", "--noise", "--seeds", "--out", "--n-jobs", "--data-home",
                 "--classes", "--rank", "--n-samples", "--max-epochs", "--scheduler"):
        assert flag in options


def test_sweep_writes_csv_png_json(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["sweep", "--out", str(out), "--name", "tiny", *TINY]) == 0
    df = pd.read_csv(out / "tiny.csv")
    assert len(df) == 4
    assert sorted(df["noise_std"].unique()) == [0.0, 0.5]
    assert (df["clean_rank"] == 4).all()
    assert (out / "tiny.png").stat().st_size > 10_000
    record = json.loads((out / "tiny.json").read_text())
    assert record["config"]["noise_levels"] == [0.0, 0.5]
    assert record["config"]["data"]["n_patches"] == 4
    assert record["config"]["classifier_params"]["max_epochs"] == 20
    assert record["arguments"]["seeds"] == 2
    for package in ("sklrank", "torch", "scikit-learn", "skorch", "numpy", "python"):
        assert record["versions"][package]
    assert record["runtime_s"] > 0
    printed = capsys.readouterr().out
    assert "filter sr" in printed and "data sr" in printed and "±" in printed
    assert str(out / "tiny.csv") in printed


def _fails(argv, capsys):
    """Run the CLI, expect exit status 2; return the last stderr line."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_unknown_dataset(capsys):
    line = _fails(["sweep", "--dataset", "imagenet"], capsys)
    assert "invalid choice: 'imagenet'" in line


def test_negative_noise(capsys):
    line = _fails(["sweep", "--noise", "0", "-0.5"], capsys)
    assert "--noise" in line and ">= 0" in line


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--seeds", "0"], "--seeds"),
        (["--n-jobs", "0"], "--n-jobs"),
        (["--canvas", "2by2", "--dataset", "mnist"], "--canvas"),
        (["--signal-position", "middle"], "--signal-position"),
    ],
)
def test_bad_values(argv, match, capsys):
    assert match in _fails(["sweep", *argv], capsys)


def test_missing_data_one_line(tmp_path, capsys):
    status = main(["sweep", "--dataset", "mnist", "--data-home", str(tmp_path),
                   "--no-download", "--out", str(tmp_path / "out"), "--quiet"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("sklrank sweep: error: MNIST files not found")
    assert str(tmp_path / "mnist") in err[0]


def test_flags_of_the_other_kind_of_data(capsys):
    line = _fails(["sweep", "--classes", "0", "1"], capsys)
    assert "--classes" in line and "synthetic" in line
    line = _fails(["sweep", "--dataset", "mnist", "--n-patches", "3"], capsys)
    assert "--n-patches" in line
