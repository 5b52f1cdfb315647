"""The benchmark scripts run and report sane numbers (tiny sizes; nothing here is timed)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_classifier  # noqa: E402
import bench_stable_rank  # noqa: E402
import run as benchmarks_run  # noqa: E402


def test_stable_rank_benchmark_rows_and_missing_mnist_note(tmp_path):
    rows, notes = bench_stable_rank.run(shapes=[(400, 60)], repeats=1, data_home=tmp_path)
    assert [r["matrix"] for r in rows] == ["Gaussian noise 400 x 60"]
    assert rows[0]["rel_error"] < 1e-10
    assert all(rows[0][k] > 0 for k in ("stable_rank_s", "gram_s", "svd_values_s",
                                        "svd_values_float64_s"))
    assert rows[0]["rank_over_gram"] == rows[0]["stable_rank_s"] / rows[0]["gram_s"]
    assert rows[0]["ratio_vs_values"] == rows[0]["svd_values_s"] / rows[0]["stable_rank_s"]
    assert len(notes) == 1 and notes[0].startswith("MNIST rows left out: MNIST files not found")
    text = "\n".join(benchmarks_run.stable_rank_section(rows, notes))
    assert "Gaussian noise 400 x 60" in text and "MNIST rows left out" in text
    assert "float32 A.T @ A" in text and "/ Gram" in text


def test_stable_rank_benchmark_device_rows():
    # the rows of a CUDA run, here on CPU tensors through the same function
    rows, _ = bench_stable_rank.run(shapes=[(300, 40)], repeats=1, data_home="/nonexistent",
                                    device="cpu")
    assert [r["matrix"] for r in rows] == ["Gaussian noise 300 x 40",
                                           "Gaussian noise 300 x 40 (cpu)"]
    device_row = rows[1]
    assert device_row["rel_error"] < 1e-10
    assert device_row["rank_over_gram"] == device_row["stable_rank_s"] / device_row["gram_s"]
    assert device_row["ratio_vs_values"] == device_row["svd_values_s"] / device_row["stable_rank_s"]
    text = "\n".join(benchmarks_run.stable_rank_section(rows, []))
    assert "Gaussian noise 300 x 40 (cpu)" in text and "| - |" in text


def test_stable_rank_benchmark_reads_mnist(mnist_dir):
    cases = bench_stable_rank.mnist_cases(mnist_dir.parent, n_samples=300)
    names = [name for name, _ in cases]
    assert names == ["MNIST images 300 x 784", "MNIST images, centred, 300 x 784"]
    X, centred = cases[0][1], cases[1][1]
    assert X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-5)


@pytest.mark.parametrize("case", ["synthetic", "mnist-sized"])
def test_forward_backward_against_matmul(case):
    build = bench_classifier.CASES[case][0]
    X, y, input_shape, kernel_size = build(200)
    model, matmul, ratio = bench_classifier.forward_backward_against_matmul(
        X, y, input_shape, kernel_size, repeats=2)
    assert model > 0 and matmul > 0 and ratio > 0


def test_paper_scale_runs_in_a_fresh_process():
    # tiny sizes, untimed: the worker runs and reports what RESULTS.md needs
    result = bench_classifier.paper_scale(n_samples=300, epochs=2)
    assert result["peak_rss_mib"] > result["data_mib"] > 0
    assert result["classifier_s_per_epoch"] > 0 and result["loop_s_per_epoch"] > 0
    assert result["ratio"] > 0
