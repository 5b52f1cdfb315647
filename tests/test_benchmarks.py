"""The benchmark scripts run and report sane numbers (tiny sizes; nothing here is timed)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_classifier  # noqa: E402
import bench_gradients  # noqa: E402
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


def test_gradient_benchmark_times_both_in_turn(monkeypatch):
    # timed one after the other, a change of the machine's load between the two made the
    # quick run's ratio anything (0.10x under a load of 4); they now take turns
    calls = []
    for name in ("gradient_decomposition", "autograd_gradient"):
        function = getattr(bench_gradients, name)
        monkeypatch.setattr(bench_gradients, name,
                            lambda *a, _n=name, _f=function, **k: calls.append(_n) or _f(*a, **k))
    result = bench_gradients.run(quick=True, repeats=2)
    assert calls == ["autograd_gradient", "gradient_decomposition"] + 2 * [
        "gradient_decomposition", "autograd_gradient"]
    assert result["max_rel_gradient_diff"] < 1e-12
    assert result["ratio"] == result["autograd_svd_s"] / result["decomposition_s"]
    assert result["load"] >= 0
    text = "\n".join(benchmarks_run.gradients_section(result, quick=True))
    assert "| load |" in text and "--quick" in text


def test_results_name_the_load_they_ran_under():
    # a run on busy cores is many-fold slower (torch.matmul itself): RESULTS.md says so
    lines = benchmarks_run.machine_lines(load_at_start=3.25)
    assert lines[-1].startswith("- load average (1 min): 3.2 at the start, ")
    assert not any("load average" in line for line in benchmarks_run.machine_lines())
