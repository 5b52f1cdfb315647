"""The example gallery: every script in examples/ is a well-formed sphinx-gallery example that
uses only the public API.

The docs build runs the ``plot_*.py`` examples (sphinx-gallery's ``filename_pattern`` in
docs/conf.py) and fails when one breaks; here we check what the build cannot, and run one
example as a plain script, as a user who downloads it would.
"""

import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
IDS = [path.name for path in SCRIPTS]
EXECUTED = [path for path in SCRIPTS if path.name.startswith("plot_")]
DATA_LOADERS = {"fetch_mnist", "fetch_cifar10"}


def _docstring(path):
    return ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""


def test_gallery_has_at_least_six_executed_examples():
    assert len(EXECUTED) >= 6, [path.name for path in EXECUTED]
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()


@pytest.mark.parametrize("path", SCRIPTS, ids=IDS)
def test_example_starts_with_a_title(path):
    # sphinx-gallery takes the page title from the docstring's first heading
    lines = _docstring(path).strip("\n").splitlines()
    assert len(lines) >= 4, f"{path.name}: the docstring needs a title and a paragraph"
    over, title, under = lines[:3]
    assert re.fullmatch(r"=+", over) and over == under, f"{path.name}: malformed title"
    assert len(over) >= len(title.rstrip()), f"{path.name}: title line shorter than the title"


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p not in EXECUTED],
                         ids=[p.name for p in SCRIPTS if p not in EXECUTED])
def test_example_not_run_says_so(path):
    assert "not run when the documentation is built" in " ".join(_docstring(path).split()), (
        f"{path.name} is not executed by the gallery (no plot_ prefix): its page must say so"
    )


@pytest.mark.parametrize("path", SCRIPTS, ids=IDS)
def test_example_uses_only_the_public_api(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names = []
        else:
            continue
        for module in modules:
            if module.split(".")[0] == "sklrank":
                assert not any(part.startswith("_") for part in module.split(".")), (
                    f"{path.name} imports the private module {module}"
                )
                assert not any(name.startswith("_") for name in names), (
                    f"{path.name} imports a private name from {module}"
                )


@pytest.mark.parametrize("path", SCRIPTS, ids=IDS)
def test_example_reading_data_says_where_from(path):
    source = path.read_text()
    reads_data = any(f"{name}(" in source for name in DATA_LOADERS) or re.search(
        r"noise_sweep\(\s*\"(mnist|cifar10)\"", source
    )
    if reads_data:
        assert "SKLRANK_DATA" in _docstring(path), (
            f"{path.name} reads MNIST or CIFAR-10: say in its docstring where the data come from"
        )


def test_an_example_runs_as_a_plain_script(tmp_path):
    # Downloaded from the gallery, an example is run with python: no sphinx-gallery around it.
    # one torch thread: the example's small products run no faster on more, and the suite
    # shares the cores between its workers
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO_ROOT),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "plot_low_rank_gradients.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "weight_decay=0: train loss" in result.stdout
