"""Stable rank and effective rank against dense SVDs, and what bad inputs get.

Bad and edge inputs of ``stable_rank``, ``effective_rank`` and ``squared_singular_values``
(each row is tested below, with numpy arrays and, where it applies, torch tensors):

=============================================================  ==================================
input                                                          answer
=============================================================  ==================================
huge scale: ``A * 1e154``, ``A * 1e200``, ``A * 1e300``;       the ranks of ``A`` (computed on
float32 ``A * 1e30`` (every method, numpy, torch, sparse)      ``A`` times a power of two, exact)
tiny scale: ``A * 1e-170``, ``A * 1e-300``, subnormal          the ranks of ``A``; only the
entries; float32 ``A * 1e-30``                                 exact zero matrix is refused
a few rows far larger than the rest (unsampled outliers)       found from the result (overflow,
                                                               or a huge ``||A||_F``), redone on
                                                               the rescaled matrix
``squared_singular_values`` whose squares leave float64's      ValueError: beyond float64's
range (``A * 1e200``, ``A * 1e-170``)                          range; scale A (the ranks do not
                                                               depend on the scale)
the zero matrix                                                ValueError: "The zero matrix has
                                                               no stable rank" (effective rank
                                                               the same); squared singular
                                                               values: zeros
NaN or +-infinity entry (numpy, torch, sparse; also where      ValueError: "A contains NaN or
the float32 sum of finite entries overflows)                   infinity; remove or impute"
torch tensor that requires grad                                detached; the same value
integer and bool arrays and tensors                            cast to float32 (bool, 8- and
                                                               16-bit integers: exact) or float64
float16 arrays, float16 and bfloat16 tensors                   cast to float32 (exact)
longdouble array beyond float64's range                        ValueError: scale it down
object array of numbers (e.g. from a pandas DataFrame)         cast to float64
object array with non-numbers; strings                         ValueError: must hold real
                                                               numbers; np.asarray(A, dtype=float)
complex array or tensor                                        ValueError naming the real matrix
                                                               [[Re, -Im], [Im, Re]] whose ranks
                                                               are twice A's
masked array with masked entries                               ValueError: fill them or drop
                                                               their rows
ragged nested lists                                            ValueError: could not be read as
                                                               a numeric matrix
None                                                           ValueError: must be a 2-D matrix
scalar, 1-D, 3-D array or tensor                               ValueError: must be a 2-D matrix;
                                                               reshape it
0 rows or 0 columns                                            ValueError: is empty
scipy.sparse matrix or array                                   computed (sparse Gram product, or
                                                               Lanczos; "svd" densifies)
sparse torch tensor                                            ValueError: pass A.to_dense()
tensor on the meta device                                      ValueError: holds no values
non-contiguous, Fortran-ordered, negative-stride arrays        computed (blocks copied where
                                                               BLAS cannot read them in place)
``method`` not in the list (a typo, None, a number)            ValueError listing the methods
``method="lanczos"`` for ``squared_singular_values`` and       ValueError: use 'svd' or 'gram'
``effective_rank``
``tol`` NaN, <= 0, below 1e-14, >= 1, a bool or a string       ValueError: tol must be a real
                                                               number in [1e-14, 1)
=============================================================  ==================================
"""

import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import sklrank._rank as rank_module
from sklrank import effective_rank, squared_singular_values, stable_rank

ALL_METHODS = ["auto", "gram", "svd", "lanczos"]
RANK_FUNCTIONS = {
    "stable_rank": stable_rank,
    "effective_rank": effective_rank,
    "squared_singular_values": squared_singular_values,
}


def dense_singular_values(A):
    return np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)


def dense_stable_rank(A):
    s = dense_singular_values(A)
    return float((s**2).sum() / s[0] ** 2)


def dense_effective_rank(A, floor=0.0):
    """From the dense SVD; singular values up to ``floor`` times the largest count as 0."""
    s = dense_singular_values(A)
    s = s[s > floor * s[0]]
    p = s / s.sum()
    return math.exp(-(p * np.log(p)).sum())


# The Gram route counts singular values below sqrt(16 eps) s_max as zero (documented).
GRAM_FLOOR = math.sqrt(rank_module._GRAM_ROUNDING)


def uses_float32_paths(A):
    """Whether stable_rank's "auto" takes the large-matrix (float32) paths on A."""
    return A.shape[0] * A.shape[1] * min(A.shape) >= rank_module._FLOAT32_GRAM_MIN_MACS


@pytest.fixture(autouse=True)
def fresh_cost_measurements():
    """Each test measures the Gram path's cost anew (they are kept per process)."""
    rank_module._MEASURED_COSTS.clear()
    yield
    rank_module._MEASURED_COSTS.clear()


# --------------------------------------------------------------------------- definitions


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("n", [1, 3, 17])
def test_identity_has_stable_rank_n(n, method):
    assert stable_rank(np.eye(n), method=method) == pytest.approx(n, rel=1e-12)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_rank_one_matrix_has_stable_rank_one(method):
    A = np.outer(np.arange(1.0, 8.0), np.linspace(-1, 2, 5))
    assert stable_rank(A, method=method) == pytest.approx(1.0, rel=1e-12)


def test_effective_rank_of_identity_and_rank_one():
    assert effective_rank(np.eye(6)) == pytest.approx(6.0, rel=1e-12)
    assert effective_rank(np.outer([1.0, 2.0, 3.0], [1.0, -1.0])) == pytest.approx(1.0)


@pytest.mark.parametrize("rank", [1, 5])
def test_effective_rank_on_the_gram_route_ignores_rounding_level_values(rank):
    # above 4e6 entries "auto" takes the Gram route, whose zero eigenvalues are rounding
    # (~1e-16 s_max^2): counted, their square roots made a rank-one matrix 1.00002
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4000, rank)) @ rng.standard_normal((rank, 1100))
    exact = effective_rank(A, method="svd")
    assert effective_rank(A) == pytest.approx(exact, rel=1e-12)
    assert effective_rank(torch.from_numpy(A), method="gram") == pytest.approx(exact, rel=1e-12)


def test_an_overflowing_fast_attempt_warns_nothing():
    # the huge row is outside the sample that picks the fast float32 path: that attempt
    # overflows and is redone on a rescaled copy; numpy's RuntimeWarning of the attempt leaked
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30000, 120)).astype(np.float32)
    A[1] = 3e37
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stable_rank(A) == pytest.approx(1.0, rel=1e-9)


def test_effective_rank_uses_singular_values_not_their_squares():
    # singular values (2, 1): p = (2/3, 1/3); with squares p would be (4/5, 1/5).
    A = np.diag([2.0, 1.0])
    expected = math.exp(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert effective_rank(A) == pytest.approx(expected, rel=1e-12)


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
    # (on the Gram route a value within rounding of the floor may fall on either side of it:
    # one value of 6e-8 s_max moves the effective rank by about 1e-6)
    expected = dense_effective_rank(A, floor=GRAM_FLOOR if method == "gram" else 0.0)
    rel = 1e-5 if method == "gram" else 1e-6
    assert effective_rank(A, method=method) == pytest.approx(expected, rel=rel)


def test_stable_rank_bounds_and_rank():
    A = _matrix("low_rank_plus_noise", 50, 30, 3)
    sr = stable_rank(A)
    assert 1.0 <= sr <= np.linalg.matrix_rank(A)


def test_squared_singular_values_sorted_and_exact():
    A = _matrix("gaussian", 30, 10, 0)
    s = np.linalg.svd(A, compute_uv=False)
    for method in ("svd", "gram"):
        np.testing.assert_allclose(squared_singular_values(A, method=method), s**2, rtol=1e-9)


# --------------------------------------------------------------------------- large matrices


def test_large_noise_like_matrix_to_1e6_relative():
    # The case where randomized SVD underestimates the top singular value by several percent.
    A = np.random.default_rng(1).standard_normal((6000, 200)).astype(np.float32)
    expected = dense_stable_rank(A)
    for method in ALL_METHODS:
        assert stable_rank(A, method=method) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("layout, kind, dtype", [
    *[(layout, "gaussian", np.float32)
      for layout in ("tall", "wide", "tall_fortran", "wide_fortran", "strided")],
    *[("tall", kind, dtype) for kind in ("low_rank_plus_noise", "exact_low_rank")
      for dtype in (np.float32, np.float64)],
    ("wide_fortran", "exact_low_rank", np.float64),
    ("strided", "low_rank_plus_noise", np.float64),
])
def test_large_matrices_every_layout_exact(layout, kind, dtype):
    # Large enough for the float32 passes / float32 Gram + float64 refinement (>= 1e8 MACs)
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
    if layout == "strided":  # neither C- nor Fortran-ordered: blocks are copied
        A = np.concatenate([A, A], axis=1)[::1, ::2]
        assert not (A.flags.c_contiguous or A.flags.f_contiguous)
    assert uses_float32_paths(A)
    expected = dense_stable_rank(A)
    # "lanczos" on noise iterates long: once per layout is enough (the passes are the same)
    methods = ("auto", "gram", "lanczos") if kind != "gaussian" or layout == "tall" else (
        "auto", "gram")
    for method in methods:
        assert stable_rank(A, method=method) == pytest.approx(expected, rel=1e-10), method
    assert stable_rank(torch.from_numpy(np.ascontiguousarray(A))) == pytest.approx(
        expected, rel=1e-10)


def _image_like(m, n, seed, dtype=np.float32):
    # Non-negative "images" with a mean: the top singular value stands out, as on MNIST.
    rng = np.random.default_rng(seed)
    basis = rng.uniform(0.0, 1.0, (5, n))
    return (rng.uniform(0.0, 1.0, (m, 5)) @ basis + 0.3 * rng.standard_normal((m, n))).astype(
        dtype
    )


def _count_passes(monkeypatch):
    """Record the dtype of every pass over A (float32 fast passes, float64 exact ones)."""
    calls = []
    original = rank_module._Passes._apply

    def counting(self, v, dtype):
        calls.append(np.dtype(dtype).name)
        return original(self, v, dtype)

    monkeypatch.setattr(rank_module._Passes, "_apply", counting)
    return calls


def _count_gram_products(monkeypatch):
    calls = []
    original = rank_module._float32_gram_part

    def counting(rows):
        calls.append(len(rows))
        return original(rows)

    monkeypatch.setattr(rank_module, "_float32_gram_part", counting)
    return calls


@pytest.mark.parametrize("layout", ["c", "fortran_wide", "float64", "int16"])
def test_matrix_free_path_on_image_like_data_is_exact(layout, monkeypatch):
    A = _image_like(3000, 320, 0)
    if layout == "fortran_wide":
        A = np.asfortranarray(A.T)
    elif layout == "float64":
        A = A.astype(np.float64)
    elif layout == "int16":
        A = np.round(100 * A).astype(np.int16)
    passes = _count_passes(monkeypatch)
    value = stable_rank(A)
    # The matrix-free path converged (no Gram matrix): a few passes over A
    assert 0 < len(passes) <= 10
    if layout != "float64":  # float32 passes, then one float64 pass refines the value
        assert passes[-1] == "float64" and set(passes[:-1]) == {"float32"}
    assert value == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert stable_rank(A, method="lanczos") == pytest.approx(dense_stable_rank(A), rel=1e-10)


def test_float64_lanczos_after_the_float32_passes_repeats_no_pass(monkeypatch):
    # method="lanczos" at tol=1e-12 on float32 data: the float32 passes reach ~1e-7, the
    # float64 Rayleigh-quotient pass does not meet the tolerance, and float64 Lanczos goes on
    # from that vector, reusing the product it already has.
    A = _image_like(3000, 320, 1)
    vectors = []
    original = rank_module._Passes._apply

    def recording(self, v, dtype):
        if np.dtype(dtype) == np.float64:
            vectors.append(np.array(v, dtype=np.float64))
        return original(self, v, dtype)

    monkeypatch.setattr(rank_module._Passes, "_apply", recording)
    assert stable_rank(A, method="lanczos") == pytest.approx(dense_stable_rank(A), rel=1e-12)
    assert len(vectors) >= 2  # the refinement and at least one Lanczos step in float64
    for first, second in zip(vectors, vectors[1:]):
        assert not np.allclose(first, second, rtol=0, atol=1e-12)


def test_noise_hands_over_to_the_gram_matrix_after_two_passes(monkeypatch):
    # Packed top of the spectrum: the first residuals predict many passes (23 here); with the
    # Gram matrix measured at the cost of 10 passes the path hands over after the second one.
    A = np.random.default_rng(2).standard_normal((4000, 400)).astype(np.float32)
    monkeypatch.setattr(rank_module._GramHandover, "costs", lambda self: (10.0, 0.0))
    passes = _count_passes(monkeypatch)
    gram_products = _count_gram_products(monkeypatch)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert passes == ["float32", "float32", "float64"]
    assert sum(gram_products) == len(A)  # the whole Gram matrix, once


@pytest.mark.parametrize("gram_cost, hands_over", [(1e-3, True), (1e6, False)])
def test_path_follows_the_measured_costs(gram_cost, hands_over, monkeypatch):
    # The same matrix takes the Gram path where the Gram matrix is measured cheap, and the
    # passes to the end where it is measured dear: the choice comes from the measurement.
    A = np.random.default_rng(4).standard_normal((3000, 320)).astype(np.float32)
    monkeypatch.setattr(rank_module._GramHandover, "costs",
                        lambda self: (gram_cost, 0.0))
    passes = _count_passes(monkeypatch)
    gram_products = _count_gram_products(monkeypatch)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert bool(gram_products) == hands_over
    assert (passes.count("float32") == 2) == hands_over
    assert passes[-1] == "float64"


def test_gram_cost_is_measured_once_per_process_and_reused(monkeypatch):
    A = np.random.default_rng(5).standard_normal((4000, 400)).astype(np.float32)

    # the costs are measured as in any call; the path then hands over whatever they are
    # (which path is cheaper depends on the machine's load; this test is about the reuse)
    def hand_over(self, residuals):
        self.iteration_times.append(time.perf_counter())
        self.costs()
        return True

    monkeypatch.setattr(rank_module._GramHandover, "__call__", hand_over)
    gram_products = _count_gram_products(monkeypatch)
    first = stable_rank(A)
    (costs,) = rank_module._MEASURED_COSTS.values()
    assert 0.0 < costs[0] < math.inf and 0.0 <= costs[1] < math.inf
    with rank_module._Passes(A) as passes:
        n_parts = len(passes.gram_row_parts)
    # the calibration products are the Gram matrix's first parts: nothing is computed twice
    assert len(gram_products) == n_parts
    gram_products.clear()
    assert stable_rank(A) == first  # same path, same bits
    assert len(gram_products) == n_parts
    assert list(rank_module._MEASURED_COSTS.values()) == [costs]


def test_predicted_remaining_iterations():
    predict = rank_module._predicted_remaining
    assert predict([0.1], 1e-7) is None  # too early to tell
    # residuals falling 10x per iteration reach 1e-7 in 4 more
    assert predict([1e-1, 1e-2, 1e-3], 1e-7) == pytest.approx(4.0)
    # falling 1.25x per iteration: ~62 more
    assert predict([0.1, 0.08, 0.064], 1e-7) == pytest.approx(math.log(1e-6 / 0.64)
                                                             / math.log(0.8))
    assert predict([0.1, 0.1, 0.1], 1e-7) == math.inf  # stalled
    assert predict([0.1, 1e-8], 1e-7) == 0.0


@pytest.mark.parametrize("path", ["passes", "gram"])
def test_bits_do_not_depend_on_the_thread_count(path, monkeypatch):
    A = _image_like(3000, 320, 1) if path == "passes" else (
        np.random.default_rng(6).standard_normal((3000, 320)).astype(np.float32))
    monkeypatch.setattr(rank_module._GramHandover, "costs",
                        lambda self: (1e6 if path == "passes" else 5.0, 0.0))
    with threadpool_limits(limits=2, user_api="blas"):
        threaded = stable_rank(A)
        with rank_module._Passes(A) as passes:
            v = np.random.default_rng(0).standard_normal(320)
            products = [passes.fast(v), passes.exact(v), passes.float32_gram()]
    with threadpool_limits(limits=1, user_api="blas"):  # e.g. inside a joblib worker
        serial = stable_rank(A)
        with rank_module._Passes(A) as passes:
            assert passes.n_threads == 1
            serial_products = [passes.fast(v), passes.exact(v), passes.float32_gram()]
    assert serial == threaded
    for a, b in zip(products, serial_products):
        np.testing.assert_array_equal(a, b)
    A64 = A.astype(np.float64)
    exact = A64.T @ (A64 @ v)
    np.testing.assert_allclose(products[1], exact, rtol=1e-12)
    assert np.linalg.norm(products[0] - exact) <= 1e-6 * np.linalg.norm(exact)
    np.testing.assert_allclose(products[2], A64.T @ A64, rtol=1e-5, atol=1e-5 * len(A))


def test_concurrent_calls_restore_blas_threads():
    A = _image_like(3000, 320, 2)
    before = rank_module._blas_threads()
    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: stable_rank(A), range(8)))
    assert len(set(values)) == 1
    assert rank_module._blas_threads() == before


def test_large_gram_side_uses_reproducible_lanczos():
    # Gram side above 1024: the top eigenvalue comes from the hand-written Lanczos, which must
    # be exact and give the same bits on every call, also for an exactly low-rank matrix (where
    # ARPACK would restart from its own random state).
    rng = np.random.default_rng(0)
    for A in (rng.standard_normal((1200, 1100)),
              rng.standard_normal((1200, 4)) @ rng.standard_normal((4, 1100))):
        expected = dense_stable_rank(A)
        values = {stable_rank(A) for _ in range(3)}
        assert len(values) == 1
        assert values.pop() == pytest.approx(expected, rel=1e-10)
        for method in ("gram", "lanczos"):
            assert stable_rank(A, method=method) == pytest.approx(expected, rel=1e-10)


def test_lanczos_reports_non_convergence():
    spread = np.diag(np.linspace(0.0, 1.0, 500))  # evenly spread: slow convergence
    with pytest.raises(RuntimeError, match="did not converge"):
        rank_module._lanczos_top(lambda v: spread @ v, 500, 1e-12, max_iter=5)
    G = np.diag(np.linspace(1.0, 1.0 + 1e-9, 500))
    G[0, 0] = 2.0
    value, vector = rank_module._lanczos_top(lambda v: G @ v, 500, 1e-12)
    assert value == pytest.approx(2.0, rel=1e-12)
    assert abs(vector[0]) == pytest.approx(1.0, rel=1e-9)


def test_lanczos_reports_a_non_finite_operator():
    with pytest.raises(rank_module._NonFinite):
        rank_module._lanczos_top(lambda v: np.full_like(v, np.nan), 5, 1e-12)


# --------------------------------------------------------------------------- device path


@pytest.fixture
def device_algorithm_on_cpu(monkeypatch):
    """CPU tensors take the algorithm of GPU tensors (no eigensolver may be called)."""
    monkeypatch.setattr(rank_module, "_DEVICE_ALGORITHM_ON_CPU", True)

    def forbidden(*args, **kwargs):
        raise AssertionError("the device path must not call a dense eigensolver")

    for name in ("eigh", "eigvalsh"):
        monkeypatch.setattr(torch.linalg, name, forbidden)


# A near-degenerate top needs two singular values: not on the one-row and one-column shapes.
_DEVICE_CASES = [
    (kind, shape)
    for kind in ["gaussian", "low_rank_plus_noise", "ill_conditioned", "identity",
                 "near_degenerate_top"]
    for shape in [(300, 40), (40, 300), (1, 7), (7, 1)]
    if not (kind == "near_degenerate_top" and min(shape) < 2)
]


@pytest.mark.parametrize("kind, shape", _DEVICE_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_algorithm_exact(kind, shape, dtype, device_algorithm_on_cpu):
    m, n = shape
    if kind == "identity":
        A = np.eye(m, n)
    elif kind == "near_degenerate_top":  # top two singular values 1e-9 apart
        s = np.linspace(0.1, 0.5, min(m, n))
        s[-2:] = [1.0 - 1e-9, 1.0]
        A = np.zeros((m, n))
        A[np.arange(min(m, n)), np.arange(min(m, n))] = s
    else:
        A = _matrix(kind, m, n, 7)
    A = torch.tensor(A, dtype=dtype)
    expected = dense_stable_rank(A.numpy())
    assert stable_rank(A) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_device_algorithm_float32_scales(scale, device_algorithm_on_cpu):
    A = torch.tensor(_matrix("low_rank_plus_noise", 200, 30, 1), dtype=torch.float32) * scale
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A.numpy()), rel=1e-10)


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e200, 1e300])
def test_device_algorithm_float64_scales(scale, device_algorithm_on_cpu):
    A = torch.tensor(_matrix("low_rank_plus_noise", 200, 30, 1))
    assert stable_rank(A * scale) == pytest.approx(dense_stable_rank(A.numpy()), rel=1e-10)


def test_device_algorithm_bad_values(device_algorithm_on_cpu):
    with pytest.raises(ValueError, match="zero matrix"):
        stable_rank(torch.zeros(50, 4))
    A = torch.ones(50, 4)
    A[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinity"):
        stable_rank(A)


def test_device_algorithm_falls_back_to_float64_when_float32_is_not_accurate(
        device_algorithm_on_cpu, monkeypatch):
    # As with TF32 products on a GPU: the float32 Gram matrix gives a poor vector, whose
    # float64 residual says so; the float64 path then gives the answer.
    dtypes = []
    original = rank_module._device_stats

    def float32_is_poor(A, dtype):
        dtypes.append(dtype)
        stats = original(A, dtype)
        return stats * torch.tensor([1.0, 1.0, 1e6]) if dtype == torch.float32 else stats

    monkeypatch.setattr(rank_module, "_device_stats", float32_is_poor)
    A = torch.tensor(_matrix("gaussian", 300, 40, 2), dtype=torch.float32)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A.numpy()), rel=1e-10)
    assert dtypes == [torch.float32, torch.float64]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_stable_rank_on_the_device_without_synchronisation():
    A = np.random.default_rng(0).standard_normal((6000, 300)).astype(np.float32)
    A_cuda = torch.from_numpy(A).cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
    try:
        stats = rank_module._device_stats(A_cuda, torch.float32)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert stats.device.type == "cuda"
    assert stable_rank(A_cuda) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert stable_rank(A_cuda.double() * 1e200) == pytest.approx(dense_stable_rank(A), rel=1e-10)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("func", [stable_rank, effective_rank])
def test_cuda_tensor_matches_numpy(func):
    A = _matrix("gaussian", 500, 64, 0).astype(np.float32)
    assert func(torch.from_numpy(A).cuda()) == pytest.approx(func(A), rel=1e-6)


@pytest.mark.parametrize("func", [stable_rank, effective_rank])
def test_torch_tensor_matches_numpy(func):
    A = _matrix("gaussian", 64, 20, 0).astype(np.float32)
    assert func(torch.from_numpy(A)) == pytest.approx(func(A), rel=1e-10)


# --------------------------------------------------------------------------- scale


FLOAT64_SCALES = [2.0**-1060, 1e-300, 1e-170, 1e-6, 3.0, 1e6, 1e154, 1e200, 1e300]


@pytest.mark.parametrize("scale", FLOAT64_SCALES)
@pytest.mark.parametrize("method", ALL_METHODS)
def test_stable_rank_is_scale_invariant_over_the_float64_range(scale, method):
    A = _matrix("low_rank_plus_noise", 40, 12, 0)
    scaled = A * scale
    # subnormal entries are rounded themselves: compare with the matrix they make (the
    # power-of-two scaling back is exact)
    expected = dense_stable_rank(np.ldexp(scaled, 1060) if scale < 1e-307 else A)
    assert stable_rank(scaled, method=method) == pytest.approx(expected, rel=1e-10)
    assert stable_rank(torch.tensor(scaled), method=method) == pytest.approx(expected,
                                                                             rel=1e-10)
    sparse = scipy.sparse.csr_array(scaled)
    assert stable_rank(sparse, method=method) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("scale", FLOAT64_SCALES)
@pytest.mark.parametrize("method", ["auto", "svd", "gram"])
def test_effective_rank_is_scale_invariant_over_the_float64_range(scale, method):
    A = _matrix("low_rank_plus_noise", 40, 12, 0)
    scaled = A * scale
    expected = dense_effective_rank(np.ldexp(scaled, 1060) if scale < 1e-307 else A)
    assert effective_rank(scaled, method=method) == pytest.approx(expected, rel=1e-10)
    assert effective_rank(torch.tensor(scaled), method=method) == pytest.approx(expected,
                                                                                rel=1e-10)


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e15, 1e30])
@pytest.mark.parametrize("kind, method", [("image_like", "auto"), ("image_like", "lanczos"),
                                          ("noise", "auto"), ("noise", "gram")])
def test_large_float32_matrices_are_scale_invariant(scale, kind, method):
    # The float32 passes and Gram matrix would overflow or underflow without rescaling.
    A = _image_like(2000, 300, 3) if kind == "image_like" else (
        np.random.default_rng(8).standard_normal((2000, 300)).astype(np.float32))
    assert uses_float32_paths(A)
    scaled = (A.astype(np.float64) * scale).astype(np.float32)
    assert stable_rank(scaled, method=method) == pytest.approx(dense_stable_rank(scaled),
                                                               rel=1e-10)


@pytest.mark.parametrize("outlier", [1e15, 1e30])
def test_outlier_rows_outside_the_sample_are_found(outlier):
    # Entries far above those of the sampled rows overflow float32 products (or make
    # ||A||_F^2 too large to trust them): the run is redone on the rescaled matrix.
    A = _image_like(3000, 320, 5)
    A[1001] *= np.float32(outlier)  # not among the sampled rows (every 5th from 0)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-6)


@pytest.mark.parametrize("scale", [1e200, 1e-170])
def test_squared_singular_values_outside_float64_range_raise(scale):
    A = _matrix("gaussian", 20, 5, 0)
    with pytest.raises(ValueError, match="beyond float64's range; scale A"):
        squared_singular_values(A * scale)


def test_squared_singular_values_of_scaled_matrices():
    A = _matrix("gaussian", 20, 5, 0)
    expected = dense_singular_values(A) ** 2
    for scale in (2.0**-400, 2.0**450):  # rescaled internally, undone exactly
        np.testing.assert_allclose(squared_singular_values(A * scale), expected * scale**2,
                                   rtol=1e-12)


# --------------------------------------------------------------------------- dtypes


def _all_functions(A, B, rel=1e-10):
    """Every rank function gives the same on A as on B."""
    assert stable_rank(A) == pytest.approx(stable_rank(B), rel=rel)
    assert effective_rank(A) == pytest.approx(effective_rank(B), rel=rel)
    np.testing.assert_allclose(squared_singular_values(A), squared_singular_values(B),
                               rtol=rel)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_tensor_that_requires_grad_is_accepted(method):
    A = torch.tensor(_matrix("gaussian", 30, 8, 0), requires_grad=True)
    expected = dense_stable_rank(A.detach().numpy())
    assert stable_rank(A, method=method) == pytest.approx(expected, rel=1e-10)
    if method != "lanczos":
        _all_functions(A, A.detach().numpy())
    assert A.grad is None


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_])
def test_integer_and_bool_arrays_and_tensors(dtype):
    A = np.random.default_rng(0).integers(0, 100, (30, 8)) > 40 if dtype == np.bool_ else (
        np.random.default_rng(0).integers(-100 if dtype != np.uint8 else 0, 100, (30, 8)))
    A = A.astype(dtype)
    _all_functions(A, A.astype(np.float64), rel=1e-12)
    _all_functions(torch.from_numpy(A), A.astype(np.float64), rel=1e-12)


def test_large_uint8_images_take_the_float32_passes(monkeypatch):
    A = np.round(255 * np.clip(_image_like(3000, 320, 9) / 4, 0, 1)).astype(np.uint8)
    passes = _count_passes(monkeypatch)
    assert stable_rank(A) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    assert passes[0] == "float32"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors(dtype):
    A = torch.tensor(_matrix("gaussian", 30, 8, 0)).to(dtype)
    _all_functions(A, A.float().numpy(), rel=1e-12)
    for method in ALL_METHODS:
        assert stable_rank(A, method=method) == pytest.approx(
            dense_stable_rank(A.float().numpy()), rel=1e-10)


def test_float16_array():
    A = _matrix("gaussian", 30, 8, 0).astype(np.float16)
    _all_functions(A, A.astype(np.float64), rel=1e-12)


def test_object_array_of_numbers():
    A = _matrix("gaussian", 30, 8, 0)
    _all_functions(A.astype(object), A, rel=1e-12)


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative_strides"])
def test_non_contiguous_arrays(layout):
    A = _matrix("low_rank_plus_noise", 60, 20, 1)
    view = {"fortran": np.asfortranarray(A), "strided": A[::2, ::3],
            "negative_strides": A[::-1, ::-1]}[layout]
    _all_functions(view, np.ascontiguousarray(view), rel=1e-12)
    tensor = torch.from_numpy(A)[::2, ::3] if layout == "strided" else torch.from_numpy(A).T
    assert stable_rank(tensor) == pytest.approx(dense_stable_rank(tensor.numpy()), rel=1e-10)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_array", "coo_array"])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_scipy_sparse_matrices(fmt, method):
    A = _matrix("low_rank_plus_noise", 60, 20, 2)
    A[A < 0.5] = 0.0
    sparse = getattr(scipy.sparse, fmt)(A)
    assert stable_rank(sparse, method=method) == pytest.approx(dense_stable_rank(A), rel=1e-10)
    if method != "lanczos":
        assert effective_rank(sparse, method=method) == pytest.approx(
            dense_effective_rank(A), rel=1e-10)
        np.testing.assert_allclose(squared_singular_values(sparse, method=method),
                                   dense_singular_values(A) ** 2, rtol=1e-9, atol=1e-12)


def test_sparse_with_both_sides_large_iterates(monkeypatch):
    # Both sides above _GRAM_MAX_SIDE (lowered here): Lanczos on the sparse Gram operator
    monkeypatch.setattr(rank_module, "_GRAM_MAX_SIDE", 50)
    A = scipy.sparse.random_array((300, 200), density=0.05, random_state=0, format="csr")
    for method in ("auto", "gram", "lanczos"):
        assert stable_rank(A, method=method) == pytest.approx(
            dense_stable_rank(A.toarray()), rel=1e-10)


# --------------------------------------------------------------------------- bad inputs


def _bad_inputs():
    A = _matrix("gaussian", 6, 4, 0)
    nan = A.copy()
    nan[2, 1] = np.nan
    inf = A.copy()
    inf[0, 0] = -np.inf
    masked = np.ma.masked_array(A, mask=A > 1.0)
    assert masked.mask.any()
    return {
        "nan": (nan, "NaN or infinity; remove or impute"),
        "inf": (inf, "NaN or infinity; remove or impute"),
        "nan_tensor": (torch.from_numpy(nan), "NaN or infinity"),
        "nan_sparse": (scipy.sparse.csr_array(nan), "NaN or infinity"),
        "zero": (np.zeros((4, 3)), "zero matrix"),
        "complex": (A + 1j * A, r"complex.*np.block\(\[\[A.real, -A.imag\]"),
        "complex_tensor": (torch.tensor(A + 1j * A), "complex"),
        "complex_sparse": (scipy.sparse.csr_array(A + 1j * A), "complex"),
        "strings": (np.array([["1", "2"], ["3", "x"]]), r"real numbers.*dtype=float"),
        "object_non_numbers": (np.array([[1.0, "a"], [None, 2.0]], dtype=object),
                               "not every entry is a real number"),
        "masked": (masked, r"masked array with \d+ masked entries.*filled"),
        "ragged": ([[1.0, 2.0], [3.0]], "could not be read as a numeric matrix"),
        "none": (None, "got None"),
        "scalar": (3.0, "2-D matrix"),
        "one_dimensional": (np.ones(5), "2-D matrix.*reshape"),
        "three_dimensional": (np.ones((2, 3, 4)), "2-D matrix.*reshape"),
        "one_dimensional_tensor": (torch.ones(5), "2-D matrix"),
        "empty_rows": (np.empty((0, 3)), "is empty"),
        "empty_columns": (np.empty((3, 0)), "is empty"),
        "empty_tensor": (torch.empty(0, 3), "is empty"),
        "empty_sparse": (scipy.sparse.csr_array((0, 3)), "is empty"),
        "sparse_tensor": (torch.tensor(A).to_sparse(), r"to_dense\(\)"),
        "meta_tensor": (torch.empty(4, 3, device="meta"), "meta device"),
        "longdouble_overflow": (np.full((3, 2), np.longdouble(10) ** 400),
                                "beyond float64's range") if np.finfo(np.longdouble).max
                               > 1e400 else (None, "got None"),
    }


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("func_name", list(RANK_FUNCTIONS))
def test_bad_input_gets_a_clear_error(case, func_name):
    A, message = BAD_INPUTS[case]
    if case == "zero" and func_name == "squared_singular_values":
        np.testing.assert_array_equal(squared_singular_values(A), np.zeros(3))
        return
    if case == "zero":
        message = f"zero matrix has no {func_name.replace('_', ' ')}"
    with pytest.raises(ValueError, match=message):
        RANK_FUNCTIONS[func_name](A)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_bad_input_gets_a_clear_error_with_every_method(method):
    for case in ("nan", "inf", "zero", "complex", "masked", "nan_tensor"):
        A, message = BAD_INPUTS[case]
        with pytest.raises(ValueError, match=message):
            stable_rank(A, method=method)


@pytest.mark.parametrize("bad", ["randomized", None, 3, "SVD", ["svd"]])
@pytest.mark.parametrize("func_name", list(RANK_FUNCTIONS))
def test_unknown_method_raises(bad, func_name):
    with pytest.raises(ValueError, match="method must be one of"):
        RANK_FUNCTIONS[func_name](np.eye(3), method=bad)


@pytest.mark.parametrize("func", [effective_rank, squared_singular_values])
def test_lanczos_gives_no_other_singular_values(func):
    with pytest.raises(ValueError, match="use 'svd' or 'gram'"):
        func(np.eye(3), method="lanczos")


@pytest.mark.parametrize("tol", [0, -1e-3, float("nan"), float("inf"), 1e-300, 1.0, 2,
                                 True, "1e-6", None])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_bad_tol_raises(tol, method):
    with pytest.raises(ValueError, match=r"tol must be a real number in \[1e-14, 1\)"):
        stable_rank(np.eye(3), method=method, tol=tol)


@pytest.mark.parametrize("tol", [1e-14, 1e-8, 0.5])
def test_valid_tol(tol):
    A = _matrix("gaussian", 200, 30, 0)
    assert stable_rank(A, method="lanczos", tol=tol) == pytest.approx(
        dense_stable_rank(A), rel=max(tol, 1e-10) ** 2 * 1e3 + 1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entry_is_reported_also_when_the_sum_overflows(bad):
    A = np.full((50, 4), 3e38, dtype=np.float32)  # finite entries whose float32 sum overflows
    assert stable_rank(A) == pytest.approx(1.0)
    A[7, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        stable_rank(A)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("row", [0, 1001])  # in the sampled rows, and outside them
def test_non_finite_entry_in_a_large_matrix(bad, row):
    A = _image_like(3000, 320, 6)
    A[row, 5] = bad
    for method in ALL_METHODS:
        with pytest.raises(ValueError, match="NaN or infinity"):
            stable_rank(A, method=method)


def test_large_zero_matrix_raises():
    with pytest.raises(ValueError, match="zero matrix"):
        stable_rank(np.zeros((3000, 320), dtype=np.float32))
