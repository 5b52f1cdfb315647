"""Stable rank and effective rank of matrices (numpy arrays, scipy.sparse matrices, torch tensors).

How the largest singular value is found (``stable_rank``), in short:

- small matrices: the float64 Gram matrix of the smaller side and its top eigenvalue;
- large numpy matrices: Lanczos iterations, each one pass over the matrix in float32 (no Gram
  matrix, no copy), handing over to a float32 Gram matrix when run-time measurements predict
  that the Gram matrix is cheaper (packed spectra such as noise); either way the answer is the
  float64 Rayleigh quotient of the top eigenvector from one float64 pass, whose residual is
  checked (``_ACCEPT_RESIDUAL``);
- torch tensors on a GPU: the float32 Gram matrix on the device, its top eigenvector by repeated
  squaring (matrix products only: no eigensolver, no host synchronisation), refined in float64
  on the device; the one value read back is the result.

The matrices are scale-free: powers of two rescale the matrix when its entries would overflow
or underflow the arithmetic (exact, and the ranks do not depend on the scale).
"""

import functools
import math
import numbers
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg
import scipy.sparse
import threadpoolctl

try:  # torch is a hard dependency of sklrank, but keep the rank tools importable without it
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = ["stable_rank", "effective_rank", "squared_singular_values"]

_METHODS = ("auto", "gram", "svd", "lanczos")
_ALL_VALUES_METHODS = ("auto", "svd", "gram")
# Gram path when the smaller side is at most this: its cost is small side^2 x large side.
_GRAM_MAX_SIDE = 4096
# Rows converted to another dtype at a time (bounds the extra memory of a converted copy).
_CHUNK_ROWS = 8192
# effective_rank's "auto" uses a dense SVD up to this many entries, the Gram eigenvalues above.
_DENSE_SVD_MAX_ENTRIES = 4_000_000
# Eigenvalues of a float64 Gram matrix below this fraction of the largest are rounding.
_GRAM_ROUNDING = 16 * np.finfo(np.float64).eps
# stable_rank's numpy matrices with fewer multiply-adds in their Gram matrix than this get the
# float64 Gram matrix; larger ones the float32 passes / float32 Gram matrix refined in float64.
_FLOAT32_GRAM_MIN_MACS = 100_000_000
# The answer of the float32 paths is accepted when the float64 residual ||G u - theta u|| of
# the top eigenvector u is below this times theta: theta is then within 1e-6 theta of an
# eigenvalue of G, and within about residual^2 / gap of the top one (measured: 1e-13 or
# better on noise and MNIST); otherwise float64 Lanczos iterations finish the job.
_ACCEPT_RESIDUAL = 1e-6
# "auto" stops its Lanczos iterations at this relative Ritz residual (float32 ones: about the
# accuracy of a float32 product; the float64 residual of the refined vector is then ~1e-7).
_AUTO_TOL = 1e-7
# Smallest tol of method="lanczos": float64 rounding of the Ritz residual.
_MIN_TOL = 1e-14
# Entries of at most 2^32 and at least 2^-32 in magnitude (the largest one) keep float32 Gram
# products and passes far from overflow and underflow; other matrices are rescaled by a power
# of two first (exact).
_FLOAT32_SAFE_EXPONENT = 32
# The same for float64 arithmetic.
_FLOAT64_SAFE_EXPONENT = 400
# A float32 result is trusted when ||A||_F^2 (exact, float64) is at most 2^100: then no float32
# product of the run can have overflowed (every one is bounded by ||A||_F^2).
_FLOAT32_MAX_FRO_EXPONENT = 100
# Rows of A are split into this many fixed parts for the passes; threads take the parts and
# their partial sums are added in part order, so the bits of the result do not depend on the
# number of threads (a joblib or Dask worker with one BLAS thread agrees with the parent).
_PASS_PARTS = 8
# Bytes of a block of rows in a pass: it stays in cache between its two products (two blocks
# in flight fit any server's last-level cache), and the blocks are few enough that Python's
# per-block work stays small (measured on the 2-core Xeon: 4 MiB blocks 1.5x faster than
# 1 MiB ones).
_PASS_BLOCK_BYTES = 1 << 22
# Rows sampled for the matrix-free path's start vector and scale (fewer when the rows are
# long: the sample holds 2^22 entries at most).
_START_SAMPLE_ROWS = 512
_START_SAMPLE_ENTRIES = 1 << 22
# The float32 Gram matrix is summed over fixed parts of about this many rows (64 parts at
# most), one a thread with BLAS single-threaded (measured on 2 shared cores: 2x faster than
# numpy's own threads on the whole matrix under load, as fast when the machine is quiet); the
# first parts double as the calibration products that time the Gram matrix on this machine.
_GRAM_PART_ROWS = 1024
_GRAM_MAX_PARTS = 64
# Squarings of the Gram matrix in the device path: components of eigenvalues below
# (1 - 2e-8) times the top one are damped by exp(-20) or more (2^30 squarings' worth).
_DEVICE_SQUARINGS = 30
# Rows of a float64 block in the device path's refinement (bounds its extra memory).
_DEVICE_CHUNK_ENTRIES = 1 << 24
# Tests set this to run the device algorithm on CPU tensors (CPU tensors otherwise go the
# numpy way).
_DEVICE_ALGORITHM_ON_CPU = False


class _NonFinite(ArithmeticError):
    """A computation met NaN or infinity (a non-finite entry, or an overflow)."""


# --------------------------------------------------------------------------- validation


def _check_method(method, allowed=_METHODS):
    if not isinstance(method, str) or method not in allowed:
        raise ValueError(f"method must be one of {allowed}, got {method!r}.")


def _check_tol(tol):
    if (
        isinstance(tol, bool)
        or not isinstance(tol, numbers.Real)
        or not (_MIN_TOL <= tol < 1.0)
    ):
        raise ValueError(
            f"tol must be a real number in [{_MIN_TOL:g}, 1) (the relative residual at which "
            f"the Lanczos iterations stop), got {tol!r}."
        )


def _exact_float_dtype(dtype):
    """The float dtype that holds every value of an integer or bool dtype exactly."""
    if dtype == np.bool_ or (np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _complex_error(name, dtype):
    return ValueError(
        f"{name} is complex (dtype {dtype}); the rank functions take real matrices. The "
        f"stable and effective ranks of a complex {name} are half those of the real matrix "
        f"np.block([[{name}.real, -{name}.imag], [{name}.imag, {name}.real]]), which has each "
        f"of {name}'s singular values twice: pass that."
    )


def _check_shape(shape, name, kind):
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix, got {kind} with {len(shape)} dimension(s) of shape "
            f"{tuple(shape)}; reshape it, e.g. {name}.reshape(len({name}), -1)."
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(shape)}); it needs one entry at least."
        )


def _as_tensor(A, name):
    if A.layout != torch.strided:
        raise ValueError(f"{name} is a sparse torch tensor (layout {A.layout}); pass "
                         f"{name}.to_dense(), or a scipy.sparse matrix.")
    if A.device.type == "meta":
        raise ValueError(f"{name} is on the meta device and holds no values; create it on a "
                         "real device.")
    if A.is_complex():
        raise _complex_error(name, A.dtype)
    _check_shape(A.shape, name, "a tensor")
    A = A.detach()
    A = A.resolve_conj().resolve_neg()
    if not A.is_floating_point():  # bool and integers: a float dtype that holds them exactly
        A = A.to(torch.float32 if A.dtype == torch.bool or A.element_size() <= 2
                 else torch.float64)
    elif A.dtype not in (torch.float32, torch.float64):  # float16, bfloat16, float8...
        A = A.to(torch.float32)
    if A.device.type == "cpu" and not _DEVICE_ALGORITHM_ON_CPU:
        return A.numpy()  # a view: CPU tensors share the numpy code
    return A


def _as_sparse(A, name):
    _check_shape(A.shape, name, "a sparse matrix")
    A = scipy.sparse.csr_array(A)
    if np.iscomplexobj(A.data):
        raise _complex_error(name, A.dtype)
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)
            or A.dtype == np.bool_):
        raise ValueError(f"{name} must hold real numbers, got a sparse matrix of dtype "
                         f"{A.dtype}.")
    A.sum_duplicates()
    return A.astype(np.float64)


def _as_array(A, name):
    if isinstance(A, np.ma.MaskedArray) and np.ma.count_masked(A):
        raise ValueError(
            f"{name} is a masked array with {np.ma.count_masked(A)} masked entries; a rank has "
            f"no notion of a missing entry: fill them ({name}.filled(value)) or drop the rows "
            f"that hold them ({name}[~np.ma.getmaskarray({name}).any(axis=1)])."
        )
    try:
        A = np.asarray(A)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} could not be read as a numeric matrix ({exc}); pass a rectangular array "
            "of numbers."
        ) from None
    if A.dtype == object:
        try:
            A = A.astype(np.float64)
        except (ValueError, TypeError) as exc:
            kinds = sorted({type(a).__name__ for a in A.flat})[:5] if A.size else []
            raise ValueError(
                f"{name} has dtype object and not every entry is a real number (entry types: "
                f"{', '.join(kinds)}; {exc}); convert it, e.g. np.asarray({name}, dtype=float)."
            ) from None
    if np.issubdtype(A.dtype, np.complexfloating):
        raise _complex_error(name, A.dtype)
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)
            or A.dtype == np.bool_):
        raise ValueError(
            f"{name} must hold real numbers, got dtype {A.dtype}"
            + (" (a 0-d object array: is it None or a scalar?)" if A.ndim == 0 else "")
            + f"; convert it, e.g. np.asarray({name}, dtype=float)."
        )
    _check_shape(A.shape, name, "an array")
    if A.dtype in (np.float32, np.float64):
        return A
    if np.issubdtype(A.dtype, np.floating):  # float16 (exact in float32), longdouble
        with np.errstate(over="ignore"):
            B = A.astype(np.float32 if A.dtype.itemsize <= 2 else np.float64)
        if not np.isfinite(B).all() and np.isfinite(A).all():
            raise ValueError(
                f"{name} ({A.dtype}) has entries beyond float64's range; scale it down "
                "(the ranks do not depend on the scale)."
            )
        return B
    return A.astype(_exact_float_dtype(A.dtype))


def _as_matrix(A, name="A"):
    """Validate the matrix's type, shape and dtype (not its values: NaN, infinity and the
    zero matrix are found where the values are read).

    Returns a float32 or float64 numpy array (CPU tensors as a view), a float32 or float64
    torch tensor on a non-CPU device, or a float64 scipy.sparse CSR array.
    """
    if A is None:
        raise ValueError(f"{name} must be a 2-D matrix (array-like, torch tensor or "
                         "scipy.sparse matrix), got None.")
    if torch is not None and isinstance(A, torch.Tensor):
        return _as_tensor(A, name)
    if scipy.sparse.issparse(A):
        return _as_sparse(A, name)
    return _as_array(A, name)


def _is_torch(A):
    return torch is not None and isinstance(A, torch.Tensor)


# --------------------------------------------------------------------------- scale


def _non_finite_error(name="A"):
    return ValueError(f"{name} contains NaN or infinity; remove or impute those entries.")


def _exponent(amax):
    """The power of two that brings a positive finite maximum into [0.5, 1)."""
    return math.frexp(float(amax))[1]


def _exact_scale_exponent(A):
    """``e`` with ``max|A| * 2^-e`` in [0.5, 1), or None for the zero matrix; raises the
    NaN/infinity error. Reads every entry once (in row blocks for numpy arrays)."""
    if _is_torch(A):
        low, high = torch.aminmax(A)  # NaN propagates
        amax = max(-low, high).item()
    elif scipy.sparse.issparse(A):
        amax = float(np.max(np.abs(A.data), initial=0.0))
    else:
        amax = 0.0
        for start in range(0, A.shape[0], _CHUNK_ROWS):
            block = A[start : start + _CHUNK_ROWS]
            high, low = float(np.max(block)), float(np.min(block))  # NaN propagates
            if not (math.isfinite(high) and math.isfinite(low)):
                raise _non_finite_error()
            amax = max(amax, high, -low)
    if not math.isfinite(amax):
        raise _non_finite_error()
    return None if amax == 0.0 else _exponent(amax)


def _rescaled(A, e):
    """``A * 2^-e`` (exact: a power of two; a copy unless e == 0)."""
    if e == 0:
        return A
    if _is_torch(A):  # two factors, each representable in A's dtype
        half = -e // 2
        return A * 2.0**half * 2.0 ** (-e - half)
    if scipy.sparse.issparse(A):
        A = A.copy()
        A.data = np.ldexp(A.data, -e)
        return A
    return np.ldexp(A, np.int32(-e)).astype(A.dtype, copy=False)


def _zero_matrix_error(what):
    return ValueError(f"The zero matrix has no {what}; A must have a nonzero entry.")


# --------------------------------------------------------------------------- Lanczos


def _lanczos_top(matvec, n, tol, max_iter=300, v0=None, give_up=None, check_every=1,
                 first_product=None):
    """Largest eigenpair of a symmetric positive semi-definite operator by Lanczos.

    Written here rather than calling ARPACK (``scipy.sparse.linalg.eigsh``) for
    reproducibility: when the Krylov space becomes invariant (low-rank matrices, such as clean
    data) ARPACK restarts from a vector of its own process-wide random generator, so its
    result changes in the last bits from call to call. Here the start vector is fixed, every
    vector is fully re-orthogonalised (the space stays small), and an invariant space simply
    ends the iteration: it holds the start vector's components along every eigenvector, the
    top one included (the start is Gaussian). Converged when the Ritz residual
    ``|beta_k s_k|`` is at most ``tol * theta``; raises otherwise. ``v0`` (e.g. the top
    eigenvector of a nearby matrix) replaces the fixed start: near the answer, a few
    iterations suffice.

    ``give_up(residuals)``, called after each iteration with the relative Ritz residuals so
    far, may end the iteration early: the function then returns ``(None, Ritz vector so
    far)``. ``check_every`` > 1
    computes the Ritz pair (a small tridiagonal eigenproblem) only every that many iterations
    once past the first few, for cheap operators. ``first_product``, the operator applied to
    the unit vector ``v0`` when the caller has it already, saves the first pass. Raises
    ``_NonFinite`` when the operator returns NaN or infinity.
    """
    if v0 is None or not np.any(v0):
        q = np.random.default_rng(0).standard_normal(n)
    else:
        q = np.array(v0, dtype=np.float64)
    steps = min(n, max_iter)
    Q = np.empty((steps, n))
    Q[0] = q / np.linalg.norm(q)
    alphas, betas, residuals = [], [], []
    tiny = np.finfo(float).tiny
    for k in range(steps):
        w = matvec(Q[k]) if k or first_product is None else np.array(first_product)
        with np.errstate(invalid="ignore", over="ignore"):  # reported as _NonFinite
            alpha = float(Q[k] @ w)
        if not math.isfinite(alpha):
            raise _NonFinite("the operator returned NaN or infinity")
        alphas.append(alpha)
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to float64 rounding
            w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        beta = float(np.linalg.norm(w))
        last = k + 1 == steps
        if k < 8 or last or (k + 1) % check_every == 0:
            if k == 0:
                theta, s = alphas[0], np.ones(1)
            else:
                values, vectors = scipy.linalg.eigh_tridiagonal(
                    np.array(alphas), np.array(betas), select="i", select_range=(k, k)
                )
                theta, s = float(values[0]), vectors[:, 0]
            invariant = beta <= 1e-14 * max(abs(theta), tiny)
            if invariant or beta * abs(s[-1]) <= tol * abs(theta) or (last and steps == n):
                return theta, Q[: k + 1].T @ s
            residuals.append(beta * abs(s[-1]) / max(abs(theta), tiny))
            if give_up is not None and give_up(residuals):
                return None, Q[: k + 1].T @ s
        if not last:
            betas.append(beta)
            Q[k + 1] = w / beta
    raise RuntimeError(
        f"Lanczos did not converge in {max_iter} iterations (Ritz residual "
        f"{beta * abs(s[-1]):.3g} for eigenvalue {theta:.6g}); use method='svd'."
    )


def _predicted_remaining(residuals, tol):
    """Iterations Lanczos is predicted to still need to reach ``tol``, from its relative Ritz
    residuals so far (geometric decrease at their mean rate: plateaus, which Lanczos has
    before it speeds up, do not dominate it; on noise-like spectra the rate slows down
    later, so this errs on the low side there), or None with fewer than two residuals."""
    k = len(residuals)
    if k < 2:
        return None
    rate = (residuals[-1] / residuals[0]) ** (1.0 / (k - 1))
    if residuals[-1] <= tol:
        return 0.0
    if not rate < 1.0:
        return math.inf
    return math.log(tol / residuals[-1]) / math.log(rate)


# --------------------------------------------------------------------------- BLAS threads

# Held while BLAS is limited to one thread, so that two threads calling stable_rank at once
# cannot restore each other's limits in the wrong order (leaving BLAS single-threaded).
_BLAS_LIMIT_LOCK = threading.RLock()


@functools.cache
def _threadpool_controller():
    # Built once: finding the loaded BLAS libraries scans the process's memory map (ms).
    return threadpoolctl.ThreadpoolController()


def _blas_threads():
    """The number of threads numpy's BLAS may use here (1 inside a joblib worker that was
    given one core)."""
    blas = _threadpool_controller().select(user_api="blas")
    return max((info["num_threads"] for info in blas.info()), default=1)


class _SingleThreadedBlas:
    """BLAS limited to one thread inside (the previous limits restored on exit).

    For small products and eigensolvers: threaded BLAS spends more time waking and
    synchronising threads than computing on these, and on a loaded machine much more
    (measured on 2 shared cores: a 784 x 784 subset eigh 0.03 s single-threaded, 0.2-1 s
    with two threads). The threads of the passes are Python threads, one part each.
    """

    def __enter__(self):
        _BLAS_LIMIT_LOCK.acquire()
        try:
            self.outside = _blas_threads()
            self._limits = _threadpool_controller().limit(limits=1, user_api="blas")
        except BaseException:
            _BLAS_LIMIT_LOCK.release()
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            self._limits.restore_original_limits()
        finally:
            _BLAS_LIMIT_LOCK.release()


# --------------------------------------------------------------------------- passes


def _tall(A):
    """A or its transpose (a view), whichever has at least as many rows as columns."""
    return A.T if A.shape[0] < A.shape[1] else A


def _blas_ready(T):
    """Whether BLAS reads T's row blocks in place (one unit stride, the other positive)."""
    item = T.itemsize
    strides = T.strides
    return min(strides) > 0 and (strides[1] == item or strides[0] == item)


def _row_parts(n_rows, n_parts):
    bounds = np.linspace(0, n_rows, n_parts + 1).astype(int)
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


class _Passes:
    """The Gram operator ``v -> T^T (T v)`` of a tall numpy matrix ``T``, one read of ``T``
    an application.

    Blocks of rows stay in cache for both products. ``fast`` computes in T's
    dtype (float32 products for float32 data: half the bytes of float64, measured ~2.5x
    faster than converting each block to float64 first); ``exact`` in float64 (float32
    blocks are converted in a reused buffer) and its first application also gives
    ``||T||_F^2`` (attribute ``fro_sq``). The rows are split into ``_PASS_PARTS`` fixed
    parts, one Python thread a part at a time with BLAS single-threaded inside (numpy
    releases the GIL); partial sums are added in part order, so the result does not depend on
    the number of threads. ``seconds`` lists the wall-clock time of each application.
    """

    def __init__(self, T):
        self.T = T
        self.parts = _row_parts(T.shape[0], _PASS_PARTS)
        self.fro_sq = None
        self.seconds = []
        self.in_place = _blas_ready(T)
        self.exact_in_place = T.dtype == np.float64 and T.flags.c_contiguous
        self.is_fast_exact = T.dtype == np.float64
        n_gram_parts = min(_GRAM_MAX_PARTS, max(1, T.shape[0] // _GRAM_PART_ROWS))
        self.gram_row_parts = _row_parts(T.shape[0], n_gram_parts)

    def __enter__(self):
        self._blas = _SingleThreadedBlas().__enter__()
        n_threads = min(len(self.parts), self._blas.outside)
        self._pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
        self.n_threads = n_threads
        return self

    def __exit__(self, *exc_info):
        try:
            if self._pool is not None:
                self._pool.shutdown()
        finally:
            self._blas.__exit__(*exc_info)

    def _map(self, function, items):
        """``function`` over ``items`` in the pool; the results in order."""
        return map(function, items) if self._pool is None else self._pool.map(function, items)

    def gram_parts(self, indices):
        """The float32 Gram products of the given ones of the fixed row parts of T
        (``gram_row_parts``; one part a thread, BLAS single-threaded), in order."""
        parts = self.gram_row_parts
        return self._map(lambda i: _float32_gram_part(self.T[parts[i][0] : parts[i][1]]),
                         indices)

    def float32_gram(self, first_parts=()):
        """``T^T T`` in float32: the sum, in part order, of every part's product
        (``first_parts``: those of the first parts, computed already)."""
        n_parts = len(self.gram_row_parts)
        gram = None
        for product in [*first_parts, *self.gram_parts(range(len(first_parts), n_parts))]:
            if gram is None:
                gram = product.copy()
            else:
                gram += product
        return gram

    def _block_rows(self, itemsize):
        return max(1, _PASS_BLOCK_BYTES // (self.T.shape[1] * itemsize))

    def _part(self, lo, hi, v, dtype, with_fro):
        T = self.T
        in_place = self.exact_in_place if dtype == np.float64 else self.in_place
        rows = self._block_rows(np.dtype(dtype).itemsize)
        buffer = None if in_place else np.empty((min(rows, hi - lo), T.shape[1]), dtype=dtype)
        Gv, fro_sq = np.zeros(T.shape[1]), 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the result
            for i in range(lo, hi, rows):
                if in_place:
                    block = T[i : min(i + rows, hi)]
                else:
                    block = buffer[: min(rows, hi - i)]
                    np.copyto(block, T[i : i + len(block)])
                if with_fro:  # numpy's own sum: BLAS's dot splits it over threads (other bits)
                    fro_sq += float(np.einsum("ij,ij->", block, block))
                Gv += block.T @ (block @ v)
        return Gv, fro_sq

    def _apply(self, v, dtype):
        start = time.perf_counter()
        v = np.ascontiguousarray(v, dtype=dtype)
        with_fro = dtype == np.float64 and self.fro_sq is None
        results = list(self._map(lambda part: self._part(*part, v, dtype, with_fro),
                                 self.parts))
        if with_fro:
            self.fro_sq = math.fsum(r[1] for r in results)
        Gv = results[0][0]
        for r in results[1:]:
            Gv += r[0]
        self.seconds.append(time.perf_counter() - start)
        return Gv

    def fast(self, v):
        return self._apply(v, self.T.dtype)

    def exact(self, v):
        return self._apply(v, np.float64)


# --------------------------------------------------------------------------- numpy paths


def _gram64(T):
    """``T^T T`` in float64 (T tall, numpy), converted in row blocks."""
    if T.dtype == np.float64:
        return T.T @ T
    gram = np.zeros((T.shape[1],) * 2)
    for start in range(0, T.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(T[start : start + _CHUNK_ROWS], dtype=np.float64)
        gram += chunk.T @ chunk
    return gram


def _top_eigenpair_dense(G):
    """Largest eigenvalue and a unit eigenvector of a symmetric float64 matrix (numpy)."""
    n = G.shape[0]
    if n <= 256:  # LAPACK's full syevd beats the subset driver on small matrices
        values, vectors = np.linalg.eigh(G)
        return float(values[-1]), vectors[:, -1]
    if n <= 1024:
        values, vectors = scipy.linalg.eigh(G, subset_by_index=[n - 1, n - 1])
        return float(values[0]), vectors[:, 0]
    # Above ~1000 the O(n^3) tridiagonalisation dominates (1.2 s at n = 3072) while Lanczos
    # needs a few hundred milliseconds of matrix-vector products.
    return _lanczos_top(lambda v: G @ v, n, 1e-13, check_every=4)


def _small_top_and_fro(A):
    """Top eigenvalue of the float64 Gram matrix of the smaller side and ``||A||_F^2``, for a
    small numpy matrix (exactly scaled first)."""
    e = _exact_scale_exponent(A)
    if e is None:
        return 0.0, 0.0
    if abs(e) > _FLOAT64_SAFE_EXPONENT:
        A = _rescaled(A, e)
    with _SingleThreadedBlas():
        gram = _gram64(_tall(A))
        top, _ = _top_eigenpair_dense(gram)
    return top, float(np.trace(gram))


def _sample_rows(T):
    """About ``_START_SAMPLE_ROWS`` rows spread evenly over T (rows sorted by class are all
    sampled), in float64."""
    n_rows = max(1, min(_START_SAMPLE_ROWS, _START_SAMPLE_ENTRIES // T.shape[1]))
    return np.asarray(T[:: max(1, T.shape[0] // n_rows)], dtype=np.float64)


def _start_vector(sample):
    """The column sums of the sample (the mean row's direction: near the top right singular
    vector of data with a non-zero mean, such as images) plus a fixed Gaussian part, so that
    it has a component along every eigenvector."""
    start = np.random.default_rng(0).standard_normal(sample.shape[1])
    start /= np.linalg.norm(start)
    column_sums = sample.sum(axis=0)
    norm = np.linalg.norm(column_sums)
    return column_sums / norm + 0.1 * start if norm > 0.0 else start


# The measured costs of the Gram path, in passes over A, kept per process and matrix
# geometry: the same input then takes the same path, hence gives the same bits, on every
# call of a process.
_MEASURED_COSTS = {}
_MEASURED_COSTS_LOCK = threading.Lock()


class _GramHandover:
    """``give_up`` for the float32 Lanczos passes: whether to hand over to the Gram path.

    After each pass, the residuals predict how many passes remain (``_predicted_remaining``);
    their cost is compared with the Gram path's, both measured on this machine the first time
    a process meets the matrix geometry: the float32 Gram products of the first row parts,
    one a thread (they are the first parts of the Gram matrix, kept for it), against the
    fastest pass so far; and the Lanczos bookkeeping of an iteration (the re-orthogonalisation
    and the small tridiagonal eigenproblem) against a pass. The Gram path then also runs
    Lanczos on the Gram matrix, for about as many iterations in all, each reading the n x n
    Gram matrix where a pass reads the m x n matrix (n / m of a pass: both are bound by
    memory) plus the same bookkeeping. Nothing is tuned to one machine: where passes are slow
    next to matrix products, fewer passes are tried.
    """

    def __init__(self, passes):
        self.passes = passes
        self.first_parts = ()  # the calibration products, when this call measured them
        self.iteration_times = [time.perf_counter()]
        m, n = passes.T.shape
        self.key = (m.bit_length(), n, passes.T.dtype.str, passes.T.strides)

    def costs(self):
        """(the Gram matrix's cost, one iteration's bookkeeping), in passes over A."""
        with _MEASURED_COSTS_LOCK:
            costs = _MEASURED_COSTS.get(self.key)
        if costs is None:
            pass_seconds = min(self.passes.seconds)
            iteration_seconds = float(np.median(np.diff(self.iteration_times)))
            n_parts = len(self.passes.gram_row_parts)
            timed = min(self.passes.n_threads, n_parts)
            start = time.perf_counter()
            self.first_parts = list(self.passes.gram_parts(range(timed)))
            gram_seconds = (time.perf_counter() - start) * n_parts / timed
            costs = (gram_seconds / pass_seconds,
                     max(0.0, iteration_seconds / pass_seconds - 1.0))
            with _MEASURED_COSTS_LOCK:
                costs = _MEASURED_COSTS.setdefault(self.key, costs)
        return costs

    def __call__(self, residuals):
        self.iteration_times.append(time.perf_counter())
        remaining = _predicted_remaining(residuals, _AUTO_TOL)
        if remaining is None or remaining <= 1.0:  # the Gram matrix reads A once too
            return False
        gram, bookkeeping = self.costs()
        m, n = self.passes.T.shape
        small_lanczos = (len(residuals) + remaining) * (bookkeeping + n / m)
        return remaining * (1.0 + bookkeeping) > gram + small_lanczos


def _float32_gram_part(rows):
    """``rows^T rows`` in float32 (numpy calls syrk); float64 rows are converted first."""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the result
        rows = rows.astype(np.float32, copy=False)
        return rows.T @ rows


def _float32_gram_top_vector(passes, v0, first_parts=()):
    """Top eigenvector of the float32 Gram matrix of the passes' matrix (``first_parts``: the
    products of its first row parts, computed already), by Lanczos on the Gram matrix."""
    gram = passes.float32_gram(first_parts)
    if not np.isfinite(gram).all():
        raise _NonFinite("the Gram matrix is not finite")

    def matvec(v):
        return (gram @ v.astype(np.float32)).astype(np.float64)

    return _lanczos_top(matvec, len(gram), _AUTO_TOL, v0=v0, check_every=4)[1]


def _large_top_and_fro(T, sample, method, tol):
    """Top eigenvalue of ``T^T T`` and ``||T||_F^2`` for a large tall numpy matrix whose
    entries are in a safe range (see ``_FLOAT32_SAFE_EXPONENT``); ``sample`` holds some of its
    rows (``_sample_rows``)."""
    n = T.shape[1]
    final_tol = tol if method == "lanczos" else _ACCEPT_RESIDUAL
    start = _start_vector(sample)
    with _Passes(T) as passes:
        u, handover = None, None
        if method != "gram":
            # float64 data: the passes are exact, iterate to the end; float32: to float32's
            # accuracy, then refine
            lanczos_tol = tol if method == "lanczos" else _AUTO_TOL
            if not passes.is_fast_exact:
                lanczos_tol = max(lanczos_tol, _AUTO_TOL)
            if method == "auto" and n <= _GRAM_MAX_SIDE:
                handover = _GramHandover(passes)
            theta, u = _lanczos_top(passes.fast, n, lanczos_tol, v0=start, give_up=handover)
            if theta is not None and passes.is_fast_exact:
                return theta, passes.fro_sq
            if theta is None:  # handed over: the Ritz vector so far starts the Gram's Lanczos
                start, u = u, None
        if u is None:
            u = _float32_gram_top_vector(passes, start,
                                         () if handover is None else handover.first_parts)
        # the answer: the float64 Rayleigh quotient of u, with its residual checked
        u = u / np.linalg.norm(u)
        Gu = passes.exact(u)
        theta = float(u @ Gu)
        residual = float(np.linalg.norm(Gu - theta * u))
        if not math.isfinite(residual):
            raise _NonFinite("the refined product is not finite")
        if residual > final_tol * theta:
            theta = _lanczos_top(passes.exact, n, final_tol, v0=u, first_product=Gu)[0]
    return theta, passes.fro_sq


def _numpy_top_and_fro(A, method, tol):
    """(top eigenvalue of the Gram matrix, ||A||_F^2) of a numpy matrix, in float64, of A or
    of A times a power of two (the same for both)."""
    if method == "svd":
        s2, _ = _scaled_squared_singular_values(A, "svd")
        return float(s2[0]), float(s2.sum())
    small = A.shape[0] * A.shape[1] * min(A.shape) < _FLOAT32_GRAM_MIN_MACS
    if small and method != "lanczos":
        return _small_top_and_fro(A)
    T = _tall(A)
    # Optimistically on the data as it is, when a sample of rows says its scale is safe; the
    # result tells whether it was (an overflow shows as infinity, or a huge ||A||_F).
    sample = _sample_rows(T)
    sample_max = float(np.max(np.abs(sample)))
    if math.isfinite(sample_max) and sample_max > 0.0 and (
        abs(_exponent(sample_max)) <= _FLOAT32_SAFE_EXPONENT
    ):
        try:
            top, fro_sq = _large_top_and_fro(T, sample, method, tol)
        except _NonFinite:
            pass
        else:
            if math.isfinite(fro_sq) and fro_sq <= 2.0**_FLOAT32_MAX_FRO_EXPONENT:
                return top, fro_sq
    # Exactly: the largest entry (a pass over A, which also finds NaN and infinity)
    e = _exact_scale_exponent(A)
    if e is None:
        return 0.0, 0.0
    if abs(e) > _FLOAT32_SAFE_EXPONENT:
        T = _rescaled(T, e)
    return _large_top_and_fro(T, _sample_rows(T), method, tol)


# --------------------------------------------------------------------------- device path


def _device_stats(A, dtype):
    """``[||A||_F^2, theta, residual]`` as a float64 tensor on A's device, without any host
    synchronisation: the Gram matrix of the smaller side in ``dtype``, its top eigenvector
    ``u`` by repeated squaring (``P <- P @ P / trace``: only matrix products, which a GPU
    does at full speed, where a dense eigensolver costs several times the Gram product), and
    the float64 Rayleigh quotient ``theta`` of ``u`` with its relative residual
    ``||G u - theta u|| / theta``, from one float64 pass over A in blocks of rows."""
    T = A if A.shape[0] >= A.shape[1] else A.mT
    Tc = T.to(dtype)
    gram = Tc.mT @ Tc
    P = gram / torch.trace(gram)
    for _ in range(_DEVICE_SQUARINGS):
        P = P @ P
        P = P / torch.trace(P)
    u = P.index_select(1, torch.argmax(torch.diagonal(P)).reshape(1))[:, 0].to(torch.float64)
    u = u / torch.linalg.vector_norm(u)
    if dtype == torch.float64:  # the Gram matrix is exact already
        Gu, fro_sq = gram @ u, torch.trace(gram)
    else:
        rows = max(1, _DEVICE_CHUNK_ENTRIES // T.shape[1])
        Gu = torch.zeros_like(u)
        fro_sq = torch.zeros((), dtype=torch.float64, device=A.device)
        for start in range(0, T.shape[0], rows):
            block = T[start : start + rows].to(torch.float64)
            Gu += block.mT @ (block @ u)
            fro_sq += torch.sum(block * block)
    theta = u @ Gu
    residual = torch.linalg.vector_norm(Gu - theta * u) / theta
    return torch.stack([fro_sq, theta, residual])


def _device_top_and_fro(A):
    """(top eigenvalue, ||A||_F^2) of a torch tensor on its device: float32 first (float64
    tensors in float64), then, if the float64 residual says the float32 Gram matrix was not
    accurate enough (e.g. TF32 products), in float64. One value is read back a try."""
    dtype = torch.float64 if A.dtype == torch.float64 else torch.float32
    for _ in range(3):
        fro_sq, theta, residual = _device_stats(A, dtype).tolist()
        # ||A||_F^2 in the range where no product of the run can have overflowed or lost
        # precision to underflow
        low, high = (-900, 900) if dtype == torch.float64 else (-60, _FLOAT32_MAX_FRO_EXPONENT)
        in_range = math.isfinite(fro_sq) and 2.0**low <= fro_sq <= 2.0**high
        if in_range and math.isfinite(residual) and theta > 0.0:
            if residual <= _ACCEPT_RESIDUAL:
                return theta, fro_sq
            dtype = torch.float64
            continue
        e = _exact_scale_exponent(A)  # a host synchronisation, on this rare path only
        if e is None:
            return 0.0, 0.0
        A = _rescaled(A, e)
    raise RuntimeError(f"stable_rank did not reach a residual of {_ACCEPT_RESIDUAL:g} "
                       f"(got {residual:.3g}); use method='svd'.")


# --------------------------------------------------------------------------- sparse


def _sparse_top_and_fro(A, method, tol):
    """(top eigenvalue, ||A||_F^2) of a float64 scipy.sparse matrix (exactly scaled)."""
    e = _exact_scale_exponent(A)
    if e is None:
        return 0.0, 0.0
    A = _rescaled(A, e)
    fro_sq = math.fsum(A.data**2)
    if method == "svd":
        s2, _ = _scaled_squared_singular_values(A, "svd")
        return float(s2[0]), fro_sq
    T = _tall(A)
    n = T.shape[1]
    with _SingleThreadedBlas():
        if method == "lanczos" or n > _GRAM_MAX_SIDE:
            Tt = T.T.tocsr()
            top = _lanczos_top(lambda v: Tt @ (T @ v), n,
                               tol if method == "lanczos" else _AUTO_TOL)[0]
        else:
            top, _ = _top_eigenpair_dense((T.T @ T).toarray())
    return top, fro_sq


# --------------------------------------------------------------------------- all values


def _all_values_method(A, method):
    """The method "auto" stands for: a dense SVD up to 4e6 entries, else the Gram route."""
    if method != "auto":
        return method
    return "svd" if A.shape[0] * A.shape[1] <= _DENSE_SVD_MAX_ENTRIES else "gram"


def _scaled_squared_singular_values(A, method):
    """(all squared singular values of ``A * 2^-e`` in decreasing order, e); e is 0 and the
    values zeros for the zero matrix."""
    e = _exact_scale_exponent(A)
    if e is None:
        return np.zeros(min(A.shape)), 0
    if abs(e) <= _FLOAT64_SAFE_EXPONENT:  # float64 squares are safe as it is: no copy
        e = 0
    A = _rescaled(A, e)
    method = _all_values_method(A, method)
    if _is_torch(A):
        A = A.to(torch.float64)
        if method == "svd":
            return (torch.linalg.svdvals(A) ** 2).cpu().numpy(), e
        T = A if A.shape[0] >= A.shape[1] else A.mT
        values = torch.linalg.eigvalsh(T.mT @ T).cpu().numpy()
    elif scipy.sparse.issparse(A):
        if method == "svd":
            return scipy.linalg.svdvals(A.toarray()) ** 2, e
        T = _tall(A)
        values = np.linalg.eigvalsh((T.T @ T).toarray())
    else:
        if method == "svd":
            return scipy.linalg.svdvals(np.asarray(A, dtype=np.float64)) ** 2, e
        values = np.linalg.eigvalsh(_gram64(_tall(A)))
    return np.clip(values[::-1], 0.0, None), e


# --------------------------------------------------------------------------- public


def squared_singular_values(A, *, method="auto"):
    """All squared singular values of ``A`` in decreasing order, as a float64 numpy array.

    Parameters
    ----------
    A : array-like, scipy.sparse matrix or torch.Tensor of shape (n_rows, n_cols)
        The matrix: 2-D, real and finite. Integer and bool entries are cast to a float dtype
        that holds them exactly; torch tensors are computed on their own device (a tensor that
        requires grad is detached).
    method : {"auto", "svd", "gram"}, default="auto"
        "svd" uses a dense SVD in float64; "gram" the eigenvalues of the float64 Gram matrix
        of the smaller side (faster for tall or wide matrices; the smallest values carry an
        absolute error of about 1e-16 * s_max**2). "auto" picks "svd" up to 4e6 entries.

    Returns
    -------
    s2 : ndarray of shape (min(n_rows, n_cols),)
        Squared singular values, largest first, clipped at zero (all zero for the zero
        matrix). The matrix is scaled by a power of two for the computation, so any finite
        matrix works; a ValueError says when the squares themselves leave float64's range.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import squared_singular_values
    >>> squared_singular_values(np.diag([3.0, 1.0, 2.0]))
    array([9., 4., 1.])
    """
    A = _as_matrix(A)
    if method == "lanczos":
        raise ValueError("method='lanczos' gives only the largest singular value; use 'svd' "
                         "or 'gram' (or stable_rank).")
    _check_method(method, _ALL_VALUES_METHODS)
    s2, e = _scaled_squared_singular_values(A, method)
    with np.errstate(over="ignore", under="ignore"):
        values = np.ldexp(s2, 2 * e)
    if s2[0] > 0.0 and not (np.finfo(np.float64).tiny <= values[0] < np.inf):
        raise ValueError(
            f"The squared singular values of A ({s2[0]:.3g} x 2^{2 * e}) are beyond "
            "float64's range; scale A (e.g. A / abs(A).max()): stable_rank and "
            "effective_rank do not depend on the scale."
        )
    return values


def stable_rank(A, *, method="auto", tol=1e-12):
    """Stable rank ``||A||_F^2 / ||A||_2^2`` of a matrix.

    The sum of the squared singular values over the largest one squared. It lies in
    ``[1, rank(A)]`` and is invariant to scaling ``A``; it is a continuous surrogate of the rank
    that small singular values (noise) hardly move.

    Parameters
    ----------
    A : array-like, scipy.sparse matrix or torch.Tensor of shape (n_rows, n_cols)
        The matrix: 2-D, real and finite, of any scale (it is rescaled by a power of two where
        its entries would overflow or underflow). Integer and bool entries are cast to a float
        dtype that holds them exactly. Torch tensors are computed on their own device (a
        tensor that requires grad is detached); sums are accumulated in float64 whatever the
        input dtype.
    method : {"auto", "gram", "svd", "lanczos"}, default="auto"
        How the largest singular value is found; all are exact (see below for the bounds).

        - "gram": the largest eigenvalue of the Gram matrix of the smaller side (cost
          ``min(n_rows, n_cols)^2 * max(n_rows, n_cols)``, no SVD). Small Gram matrices (up
          to 1e8 multiply-adds) are formed in float64; larger numpy ones in float32, whose
          top eigenvector (by Lanczos iterations on the Gram matrix) gives the value as its
          float64 Rayleigh quotient with the exact Gram matrix, from one float64 pass over
          ``A``; its residual is checked (below 1e-6 relative: the value is then within
          1e-6 of an eigenvalue, and in practice within 1e-13 of the top one), with float64
          Lanczos iterations as the fallback.
        - "svd": a dense float64 SVD (the reference).
        - "lanczos": Lanczos iterations on the implicit Gram operator, each one pass over
          ``A`` (multi-threaded, in blocks of rows, no copy), to a float64 relative Ritz
          residual of ``tol``: fixed start vector, full re-orthogonalisation, an error
          when ``tol`` is not reached within 300 iterations. Float32 matrices are iterated in
          float32 first, then refined and finished in float64.
        - "auto": "gram" for small matrices; for large numpy matrices float32 Lanczos passes
          first, handing over to the float32 Gram matrix when the passes' residuals predict
          that the remaining passes would cost more than it, as measured on this machine (the
          Gram matrix's first row parts, one a thread, timed against a pass, once per process
          and matrix geometry). When the top singular value stands out, as on real data, a
          handful of
          passes suffice (MNIST's 60000 x 784 training images: 5 float32 passes and the
          float64 one); on noise-like spectra two passes show the spectrum is packed. The
          value is then the checked float64 Rayleigh quotient as for "gram". Matrices whose
          both sides exceed 4096 are iterated to the end. CPU tensors are computed as numpy
          arrays; scipy.sparse matrices through their sparse Gram matrix (or Lanczos when both
          sides exceed 4096). Torch tensors on a GPU: the float32 Gram matrix on the
          device, its top eigenvector by repeated squaring (matrix products only), the
          float64 Rayleigh quotient from one float64 pass on the device; nothing is read
          back but the result (float64 where the residual check fails, e.g. with TF32).

        Each path is bitwise reproducible for the same input on the same machine,
        whatever the number of BLAS threads, and within a process "auto" takes the same
        path for the same input; which path that is depends on the costs measured, so for
        matrices near the crossover two processes can differ in the last bits (measured:
        2e-14 relative on the centred MNIST images, both paths forced).

        Randomized SVD is deliberately not offered: it underestimates the top singular value
        of noise-like matrices by several percent.
    tol : float, default=1e-12
        Relative residual at which the Lanczos iterations of ``method="lanczos"`` stop, in
        ``[1e-14, 1)``.

    Returns
    -------
    stable_rank : float
        ``||A||_F^2 / ||A||_2^2``, in ``[1, rank(A)]`` (a Python float).

    Raises
    ------
    ValueError
        If ``A`` is not a 2-D real matrix, is empty, holds NaN or infinity, or is the zero
        matrix (which has no stable rank); if ``method`` or ``tol`` is not valid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import stable_rank
    >>> stable_rank(np.eye(5))
    5.0
    >>> round(stable_rank(np.outer([1.0, 2.0], [3.0, 4.0, 5.0])), 12)
    1.0
    """
    A = _as_matrix(A)
    _check_method(method)
    _check_tol(tol)
    if _is_torch(A):
        if method in ("auto", "gram"):
            top_sq, fro_sq = _device_top_and_fro(A)
        else:  # svd on the device; lanczos on a host copy
            A = A.cpu().numpy() if method == "lanczos" else A
            top_sq, fro_sq = (_numpy_top_and_fro(A, method, tol) if method == "lanczos" else
                              _svd_top_and_fro(A))
    elif scipy.sparse.issparse(A):
        top_sq, fro_sq = _sparse_top_and_fro(A, method, tol)
    else:
        top_sq, fro_sq = _numpy_top_and_fro(A, method, tol)
    if not top_sq > 0.0 or not fro_sq > 0.0:
        raise _zero_matrix_error("stable rank")
    # Rounding can put the ratio a hair outside [1, rank]; 1 is the exact floor.
    return max(fro_sq / top_sq, 1.0)


def _svd_top_and_fro(A):
    s2, _ = _scaled_squared_singular_values(A, "svd")
    return float(s2[0]), float(s2.sum())


def effective_rank(A, *, method="auto"):
    """Effective rank of Roy and Vetterli (2007): ``exp(H(p))`` with ``p_i = s_i / sum(s)``.

    ``s`` are the singular values of ``A`` and ``H(p) = -sum_i p_i log p_i`` is the Shannon
    entropy (with ``0 log 0 = 0``). Note the definition normalises the singular values
    themselves, not their squares (some code uses ``s_i^2``; that is a different quantity).
    It lies in ``[1, rank(A)]`` and is invariant to scaling ``A``.

    Parameters
    ----------
    A : array-like, scipy.sparse matrix or torch.Tensor of shape (n_rows, n_cols)
        The matrix: 2-D, real and finite, of any scale (computed on ``A`` times a power of
        two). Integer and bool entries are cast to a float dtype that holds them exactly;
        a torch tensor that requires grad is detached.
    method : {"auto", "svd", "gram"}, default="auto"
        How the singular values are computed; see :func:`squared_singular_values`. On the
        Gram route, singular values below ``6e-8 * s_max`` (squares below ``16 * eps`` times
        the largest, ``eps`` float64's machine epsilon), which it cannot tell from rounding,
        count as zero.

    Returns
    -------
    effective_rank : float
        ``exp(H(p))``, in ``[1, rank(A)]`` (a Python float).

    Raises
    ------
    ValueError
        If ``A`` is not a 2-D real matrix, is empty, holds NaN or infinity, or is the zero
        matrix; if ``method`` is not valid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import effective_rank
    >>> round(effective_rank(np.eye(4)), 6)
    4.0
    """
    A = _as_matrix(A)
    if method == "lanczos":
        raise ValueError("method='lanczos' gives only the largest singular value; use 'svd' "
                         "or 'gram'.")
    _check_method(method, _ALL_VALUES_METHODS)
    s2, _ = _scaled_squared_singular_values(A, method)
    if _all_values_method(A, method) == "gram" and s2[0] > 0:
        # The Gram route leaves the zero eigenvalues at rounding level (measured up to 6e-16
        # s_max^2 from 300 x 200 to 60000 x 784), and their square roots (~2e-8 s_max each)
        # would add up in the entropy (a rank-one matrix of 4000 x 1100 came out 1.00002):
        # values it cannot tell from zero count as 0.
        s2 = np.where(s2 > _GRAM_ROUNDING * s2[0], s2, 0.0)
    s = np.sqrt(s2)
    total = float(s.sum())
    if total <= 0.0:
        raise _zero_matrix_error("effective rank")
    p = s[s > 0] / total
    return max(math.exp(float(-(p * np.log(p)).sum())), 1.0)
