"""Stable rank and effective rank against dense SVDs."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sklrank._rank as rank_module
from sklrank import effective_rank, squared_singular_values, stable_rank


def dense_stable_rank(A):
    s = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
    return float((s**2).sum() / s[0] ** 2)


def dense_effective_rank(A):
    s = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
    p = s[s > 0] / s.sum()
    return math.exp(-(p * np.log(p)).sum())


@pytest.mark.parametrize("method", ["auto", "gram", "svd", "lanczos"])
@pytest.mark.parametrize("n", [1, 3, 17])
def test_identity_has_stable_rank_n(n, method):
    assert stable_rank(np.eye(n), method=method) == pytest.approx(n, rel=1e-12)


@pytest.mark.parametrize("method", ["auto", "gram", "svd", "lanczos"])
def test_rank_one_matrix_has_stable_rank_one(method):
    A = np.outer(np.arange(1.0, 8.0), np.linspace(-1, 2, 5))
    assert stable_rank(A, method=method) == pytest.approx(1.0, rel=1e-12)


def test_effective_rank_of_identity_and_rank_one():
    assert effective_rank(np.eye(6)) == pytest.approx(6.0, rel=1e-12)
    assert effective_rank(np.outer([1.0, 2.0, 3.0], [1.0, -1.0])) == pytest.approx(1.0)


def test_effective_rank_uses_singular_values_not_their_squares():
    # singular values (2, 1): p = (2/3, 1/3); with squares p would be (4/5, 1/5).
    A = np.diag([2.0, 1.0])
    expected = math.exp(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert effective_rank(A) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scale", [1e-6, 3.0, 1e6])
def test_scale_invariance(scale):
    A = np.random.default_rng(0).standard_normal((40, 12))
    assert stable_rank(scale * A) == pytest.approx(stable_rank(A), rel=1e-10)
    assert effective_rank(scale * A) == pytest.approx(effective_rank(A), rel=1e-10)


def _matrix(kind, m, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.standard_normal((m, n))
    if kind == "low_rank_plus_noise":
        k = max(1, min(m, n) // 4)
        low_rank = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
        return low_rank + 0.1 * rng.standard_normal((m, n))
    # ill-conditioned: singular values spread over ten orders of magnitude
    u, _ = np.linalg.qr(rng.standard_normal((m, min(m, n))))
    v, _ = np.linalg.qr(rng.standard_normal((n, min(m, n))))
    return (u * np.logspace(0, -10, min(m, n))) @ v.T


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["gaussian", "low_rank_plus_noise", "ill_conditioned"]),
    m=st.integers(1, 120),
    n=st.integers(1, 120),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(["auto", "gram", "lanczos"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_stable_rank_agrees_with_dense_svd(kind, m, n, seed, method, dtype):
    A = _matrix(kind, m, n, seed).astype(dtype)
    assert stable_rank(A, method=method) == pytest.approx(dense_stable_rank(A), rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(["gaussian", "low_rank_plus_noise", "ill_conditioned"]),
    m=st.integers(1, 80),
    n=st.integers(1, 80),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(["svd", "gram"]),
)
def test_effective_rank_agrees_with_dense_svd(kind, m, n, seed, method):
    A = _matrix(kind, m, n, seed)
    assert effective_rank(A, method=method) == pytest.approx(dense_effective_rank(A), rel=1e-6)


def test_large_noise_like_matrix_to_1e6_relative():
    # The case where randomized SVD underestimates the top singular value by several percent.
    A = np.random.default_rng(1).standard_normal((20000, 300)).astype(np.float32)
    expected = dense_stable_rank(A)
    for method in ("gram", "lanczos"):
        assert stable_rank(A, method=method) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("layout", ["tall", "wide", "tall_fortran", "wide_fortran"])
@pytest.mark.parametrize("kind", ["gaussian", "low_rank_plus_noise", "exact_low_rank"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_matrices_float32_gram_refined_to_float64(layout, kind, dtype):
    # Large enough for the float32 Gram + float64 Rayleigh quotient path (>= 1e8 multiply-adds)
    rng = np.random.default_rng(3)
    if kind == "exact_low_rank":
        A = rng.standard_normal((3000, 3)) @ rng.standard_normal((3, 320))
    else:
        A = _matrix(kind, 3000, 320, 3)
    A = A.astype(dtype)
    if layout.startswith("wide"):
        A = A.T
    if layout.endswith("fortran"):
        A = np.asfortranarray(A)
    assert rank_module._uses_float32_gram(A)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert stable_rank(torch.from_numpy(np.ascontiguousarray(A))) == pytest.approx(
        dense_stable_rank(A), rel=1e-10)


def _image_like(m, n, seed, dtype=np.float32):
    # Non-negative "images" with a mean: the top singular value stands out, as on MNIST.
    rng = np.random.default_rng(seed)
    basis = rng.uniform(0.0, 1.0, (5, n))
    return (rng.uniform(0.0, 1.0, (m, 5)) @ basis + 0.3 * rng.standard_normal((m, n))).astype(
        dtype
    )


def _count_passes(monkeypatch):
    calls = []
    original = rank_module._RowPassGram.__call__

    def counting(self, v):
        calls.append(len(v))
        return original(self, v)

    monkeypatch.setattr(rank_module._RowPassGram, "__call__", counting)
    return calls


@pytest.mark.parametrize("layout", ["c", "fortran_wide", "float64", "int"])
def test_matrix_free_path_on_image_like_data_is_exact(layout, monkeypatch):
    A = _image_like(3000, 320, 0)
    if layout == "fortran_wide":
        A = np.asfortranarray(A.T)
    elif layout == "float64":
        A = A.astype(np.float64)
    elif layout == "int":
        A = np.round(100 * A).astype(np.int32)
    passes = _count_passes(monkeypatch)
    value = stable_rank(A)
    # The matrix-free path converged (no Gram matrix): a few passes over A, not the budget.
    assert 0 < len(passes) <= 10
    assert value == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert stable_rank(A, method="lanczos") == pytest.approx(dense_stable_rank(A), rel=1e-10)


def test_matrix_free_path_gives_up_on_noise_and_falls_back(monkeypatch):
    A = np.random.default_rng(2).standard_normal((4000, 400)).astype(np.float32)
    top, fro_sq = rank_module._top_eigenvalue_matrix_free(A, 1e-7, budget=25)
    assert top is None  # predicted to need more passes than the budget
    assert fro_sq == pytest.approx(float(np.sum(A.astype(np.float64) ** 2)), rel=1e-12)
    passes = _count_passes(monkeypatch)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    # a few probing passes, then the Gram path and its one refining pass
    assert 4 <= len(passes) <= 8


def test_matrix_free_pass_does_not_depend_on_thread_count():
    from threadpoolctl import threadpool_limits

    A = _image_like(3000, 320, 1)
    v = np.random.default_rng(0).standard_normal(320)
    blas_threads = rank_module._blas_threads()
    with rank_module._RowPassGram(A) as gram:
        assert gram.n_threads == min(8, blas_threads)
        threaded = gram(v)
    with threadpool_limits(limits=1, user_api="blas"):  # e.g. inside a joblib worker
        with rank_module._RowPassGram(A) as gram:
            assert gram.n_threads == 1
            serial = gram(v)
        serial_value = stable_rank(A)
    np.testing.assert_array_equal(threaded, serial)
    assert stable_rank(A) == serial_value
    A64 = A.astype(np.float64)
    np.testing.assert_allclose(threaded, A64.T @ (A64 @ v), rtol=1e-12)


def test_concurrent_calls_restore_blas_threads():
    from concurrent.futures import ThreadPoolExecutor

    A = _image_like(3000, 320, 2)
    before = rank_module._blas_threads()
    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: stable_rank(A), range(8)))
    assert len(set(values)) == 1
    assert rank_module._blas_threads() == before


def test_matrix_free_zero_matrix_raises():
    with pytest.raises(ValueError, match="zero matrix"):
        stable_rank(np.zeros((3000, 320), dtype=np.float32))


def test_budget_prediction():
    # Residuals falling 10x per iteration reach 1e-7 in a few iterations: within budget.
    assert not rank_module._exceeds_budget([1e-1, 1e-2, 1e-3], 1e-7, budget=10)
    # Falling 1.25x per iteration would take ~70 iterations: over a budget of 30.
    assert rank_module._exceeds_budget([0.1, 0.08, 0.064], 1e-7, budget=30)
    assert rank_module._exceeds_budget([0.1, 0.1, 0.1], 1e-7, budget=30)  # stalled
    assert not rank_module._exceeds_budget([0.1, 0.1], 1e-7, budget=30)  # too early to tell
    assert rank_module._exceeds_budget([0.1] * 5, 1e-7, budget=5)  # budget spent


def test_large_gram_side_uses_reproducible_lanczos():
    # Gram side above 1024: the top eigenvalue comes from the hand-written Lanczos, which must
    # be exact and give the same bits on every call, also for an exactly low-rank matrix (where
    # ARPACK would restart from its own random state).
    rng = np.random.default_rng(0)
    for A in (rng.standard_normal((1500, 1100)),
              rng.standard_normal((1500, 4)) @ rng.standard_normal((4, 1100))):
        values = {stable_rank(A) for _ in range(3)} | {stable_rank(A, method="gram")}
        assert len(values) == 1
        assert values.pop() == pytest.approx(dense_stable_rank(A), rel=1e-10)
        assert stable_rank(A, method="lanczos") == pytest.approx(dense_stable_rank(A), rel=1e-10)


def test_lanczos_reports_non_convergence():
    spread = np.diag(np.linspace(0.0, 1.0, 500))  # evenly spread: slow convergence
    with pytest.raises(RuntimeError, match="did not converge"):
        rank_module._lanczos_top(lambda v: spread @ v, 500, 1e-12, max_iter=5)
    G = np.diag(np.linspace(1.0, 1.0 + 1e-9, 500))
    G[0, 0] = 2.0
    value, vector = rank_module._lanczos_top(lambda v: G @ v, 500, 1e-12)
    assert value == pytest.approx(2.0, rel=1e-12)
    assert abs(vector[0]) == pytest.approx(1.0, rel=1e-9)


def test_stable_rank_bounds_and_rank():
    A = _matrix("low_rank_plus_noise", 50, 30, 3)
    sr = stable_rank(A)
    assert 1.0 <= sr <= np.linalg.matrix_rank(A)


def test_squared_singular_values_sorted_and_exact():
    A = _matrix("gaussian", 30, 10, 0)
    s = np.linalg.svd(A, compute_uv=False)
    for method in ("svd", "gram"):
        np.testing.assert_allclose(squared_singular_values(A, method=method), s**2, rtol=1e-9)


@pytest.mark.parametrize("func", [stable_rank, effective_rank])
def test_torch_tensor_matches_numpy(func):
    A = _matrix("gaussian", 64, 20, 0).astype(np.float32)
    assert func(torch.from_numpy(A)) == pytest.approx(func(A), rel=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.cuda
@pytest.mark.parametrize("func", [stable_rank, effective_rank])
def test_cuda_tensor_matches_numpy(func):
    A = _matrix("gaussian", 500, 64, 0).astype(np.float32)
    assert func(torch.from_numpy(A).cuda()) == pytest.approx(func(A), rel=1e-6)


@pytest.mark.parametrize("func", [stable_rank, effective_rank])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_nan_input_raises(func, as_tensor):
    A = np.ones((3, 3))
    A[1, 2] = np.nan
    A = torch.from_numpy(A) if as_tensor else A
    with pytest.raises(ValueError, match="NaN"):
        func(A)


@pytest.mark.parametrize("func", [stable_rank, effective_rank])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_one_dimensional_input_raises(func, as_tensor):
    a = np.ones(5)
    a = torch.from_numpy(a) if as_tensor else a
    with pytest.raises(ValueError, match="2-D"):
        func(a)


@pytest.mark.parametrize("func", [stable_rank, effective_rank])
def test_zero_matrix_raises(func):
    with pytest.raises(ValueError, match="zero matrix"):
        func(np.zeros((4, 3)))


@pytest.mark.parametrize("bad", [np.empty((0, 3)), np.array([["a", "b"]]), np.ones((2, 2, 2))])
def test_malformed_input_raises(bad):
    with pytest.raises(ValueError):
        stable_rank(bad)


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="method"):
        stable_rank(np.eye(3), method="randomized")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entry_is_reported_also_when_the_sum_overflows(bad):
    A = np.full((50, 4), 3e38, dtype=np.float32)  # finite entries whose float32 sum overflows
    assert stable_rank(A) == pytest.approx(1.0)
    A[7, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        stable_rank(A)
