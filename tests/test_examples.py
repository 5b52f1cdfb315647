"""Every script in examples/ runs from the command line (small settings) and writes its output."""

import subprocess
import sys

from conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(script, *args, cwd):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_example_is_tested():
    tested = {"classifier_defaults.py", "low_rank_gradients.py", "noise_gridsearch_mnist.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_classifier_defaults(tmp_path):
    out = tmp_path / "table.csv"
    stdout = _run("classifier_defaults.py", "--seeds", "1", "--noise", "0", "1",
                  "--set", "max_epochs=100", "--out", out, cwd=tmp_path)
    assert "filter stable rank, max/min over the grid" in stdout
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table["noise_std"]) == [0.0, 1.0]
    assert (table["basis_claimed"] == 4).all()


def test_classifier_defaults_bad_override(tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "classifier_defaults.py"), "--set", "kappa"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode != 0 and "NAME=VALUE" in result.stderr


def test_low_rank_gradients(tmp_path):
    _run("low_rank_gradients.py", "--out", tmp_path / "out", cwd=tmp_path)
    assert list((tmp_path / "out").glob("*.png"))


def test_noise_gridsearch_mnist(tmp_path, mnist_dir):
    _run("noise_gridsearch_mnist.py", "--data-home", mnist_dir.parent, "--out", tmp_path,
         "--n-samples", 120, "--noise", 0, 1, "--max-epochs", 20, "--cv", 2, "--quiet",
         cwd=tmp_path)
    assert (tmp_path / "mnist_gridsearch.png").is_file()
    assert (tmp_path / "mnist_gridsearch.csv").is_file()
