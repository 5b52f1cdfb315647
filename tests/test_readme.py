"""The README's Python examples run as written (so that the tour cannot drift from the API)."""

import re

import matplotlib.pyplot as plt
import pytest
from conftest import REPO_ROOT, _default_data_dir

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
# Blocks that talk to a Dask scheduler need a running cluster (tests/test_dask.py covers that).
RUNNABLE = [block for block in BLOCKS if "scheduler-host" not in block]


def test_readme_has_python_examples():
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    block = RUNNABLE[index]
    if "fetch_mnist" in block:
        data_dir = _default_data_dir()
        if not (data_dir / "mnist").is_dir():
            pytest.skip(f"README example needs MNIST: not found in {data_dir}")
        monkeypatch.setenv("SKLRANK_DATA", str(data_dir))
    monkeypatch.chdir(tmp_path)  # examples may save figures into the working directory
    namespace = {}
    exec(compile(block, f"README.md python block {index}", "exec"), namespace)
    plt.close("all")
