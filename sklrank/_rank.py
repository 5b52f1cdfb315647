"""Stable rank and effective rank of matrices (numpy arrays and torch tensors)."""

import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg
import threadpoolctl
from sklearn.utils import assert_all_finite

try:  # torch is a hard dependency of sklrank, but keep the rank tools importable without it
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = ["stable_rank", "effective_rank", "squared_singular_values"]

_METHODS = ("auto", "svd", "gram", "lanczos")
# Gram path when the smaller side is at most this: its cost is small side^2 x large side.
_GRAM_MAX_SIDE = 4096
# Rows upcast to float64 at a time (bounds the extra memory of a float32 input).
_CHUNK_ROWS = 8192
# Rows a block in the float64 pass of the refined path: small enough to stay in cache.
_PASS_ROWS = 512
# effective_rank's "auto" uses a dense SVD up to this many entries, the Gram eigenvalues above.
_DENSE_SVD_MAX_ENTRIES = 4_000_000
# stable_rank's Gram path forms the Gram matrix in float64 while it costs fewer multiply-adds
# than this; above, in float32 (twice the speed) refined by a float64 Rayleigh quotient.
_FLOAT32_GRAM_MIN_MACS = 100_000_000
# CPU tensors are computed with numpy (see _host_array) from this many multiply-adds on.
_TORCH_TO_NUMPY_MIN_MACS = 10_000_000_000
# The refined value is accepted when its residual ||G u - theta u|| is below this times theta
# (measured: 1e-7 on noise matrices, where the float32 eigenvector is least accurate).
_RESIDUAL_TOL = 1e-6
# The matrix-free path stops at this relative Ritz residual: theta is then within 1e-7 theta
# of an eigenvalue, and within about 1e-16 / gap of the top one (measured: 1e-13 or better).
_MATRIX_FREE_TOL = 1e-7
# The matrix-free path gives up (for the Gram matrix) when it would need more passes over A
# than the Gram path costs, about this times sqrt(Gram side) passes (measured on 2 cores: the
# Gram path costs as much as ~36 passes at 60000 x 784, ~64 at 10000 x 3072).
_PASSES_PER_SQRT_SIDE = 1.25
# Rows of A are split into this many fixed parts for the matrix-free passes; threads take the
# parts and their partial sums are added in part order, so the bits of the result do not
# depend on the number of threads (a joblib or Dask worker with one BLAS thread agrees with
# the parent process).
_PASS_PARTS = 8
# Rows sampled for the matrix-free path's start vector.
_START_SAMPLE_ROWS = 512
# Entries of a block of rows in a pass: small enough (3 MiB in float64) to stay in cache
# between its two products.
_PASS_BLOCK_ENTRIES = 400_000


def _is_torch(A):
    return torch is not None and isinstance(A, torch.Tensor)


def _check_matrix(A, name="A"):
    """Validate a 2-D, finite, non-empty, real matrix; return it unchanged (numpy or torch)."""
    if _is_torch(A):
        if A.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D matrix, got a tensor with {A.ndim} dimension(s) of shape "
                f"{tuple(A.shape)}; reshape it, e.g. A.reshape(len(A), -1)."
            )
        if A.is_complex():
            raise ValueError(f"{name} must be real, got dtype {A.dtype}.")
        if A.shape[0] == 0 or A.shape[1] == 0:
            raise ValueError(
                f"{name} is empty (shape {tuple(A.shape)}); it needs one entry at least."
            )
        if not A.is_floating_point():
            A = A.to(torch.float64)
        if not bool(torch.isfinite(A).all()):
            raise ValueError(f"{name} contains NaN or infinity; remove or impute those entries.")
        return A
    A = np.asarray(A)
    if A.dtype == object or not (
        np.issubdtype(A.dtype, np.floating)
        or np.issubdtype(A.dtype, np.integer)
        or A.dtype == np.bool_
    ):
        raise ValueError(f"{name} must be a real numeric matrix, got dtype {A.dtype}.")
    if A.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix, got an array with {A.ndim} dimension(s) of shape "
            f"{A.shape}; reshape it, e.g. A.reshape(len(A), -1)."
        )
    if A.size == 0:
        raise ValueError(f"{name} is empty (shape {A.shape}); it needs one entry at least.")
    # scikit-learn checks the sum first and each entry only when the sum is not finite (a sum
    # that overflows on finite entries is no error, so its warning is silenced too)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            assert_all_finite(A, allow_nan=False, input_name=name)
    except ValueError:
        raise ValueError(
            f"{name} contains NaN or infinity; remove or impute those entries."
        ) from None
    return A


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")


def _uses_float32_gram(A):
    """Whether stable_rank's Gram path forms the Gram matrix in float32 and refines it."""
    return A.shape[0] * A.shape[1] * min(A.shape) >= _FLOAT32_GRAM_MIN_MACS


def _host_array(A):
    """A large CPU tensor as a numpy view: numpy's syrk forms ``A.T @ A`` 2-4x faster than
    torch's matmul on CPU (measured at 60000 x 784). Smaller tensors stay torch tensors:
    alternating numpy's BLAS threads with torch's costs tens of milliseconds of spinning
    threads fighting over the cores (measured: a 400 x 400 eigh took 54 ms instead of 5 ms
    between training steps), more than the arithmetic saved."""
    if (
        _is_torch(A)
        and A.device.type == "cpu"
        and A.shape[0] * A.shape[1] * min(A.shape) >= _TORCH_TO_NUMPY_MIN_MACS
    ):
        A = A.detach()
        if A.dtype not in (torch.float32, torch.float64):
            A = A.to(torch.float64)
        return A.numpy()
    return A


def _tall(A):
    """A or its transpose, whichever has at least as many rows as columns."""
    return A.T if A.shape[0] < A.shape[1] else A


def _row_chunks(A, dtype):
    """Row blocks of a numpy matrix as ``dtype`` (views when A has that dtype already)."""
    for start in range(0, A.shape[0], _CHUNK_ROWS):
        yield np.asarray(A[start : start + _CHUNK_ROWS], dtype=dtype)


def _gram64(A):
    """The Gram matrix of the smaller side of A, accumulated in float64."""
    if _is_torch(A):
        A64 = A.detach().to(torch.float64)
        return A64.T @ A64 if A.shape[0] >= A.shape[1] else A64 @ A64.T
    A = _tall(A)
    if A.dtype == np.float64:
        return A.T @ A
    gram = np.zeros((A.shape[1],) * 2, dtype=np.float64)
    for chunk in _row_chunks(A, np.float64):
        gram += chunk.T @ chunk
    return gram


def _lanczos_top(matvec, n, tol, max_iter=300, v0=None, budget=None):
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

    With ``budget`` (a number of iterations) the function returns None instead, as soon as
    the residuals of the last iterations predict that convergence takes more than
    ``budget`` iterations: the caller then uses a method that does not depend on the
    spectrum's gap.
    """
    if v0 is None or not np.any(v0):
        q = np.random.default_rng(0).standard_normal(n)
    else:
        q = np.array(v0, dtype=np.float64)
    steps = min(n, max_iter)
    Q = np.zeros((steps, n))
    Q[0] = q / np.linalg.norm(q)
    alphas, betas, residuals = [], [], []
    for k in range(steps):
        w = matvec(Q[k])
        alphas.append(float(Q[k] @ w))
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to float64 rounding
            w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        beta = float(np.linalg.norm(w))
        if k == 0:
            theta, s = alphas[0], np.ones(1)
        else:
            values, vectors = scipy.linalg.eigh_tridiagonal(
                np.array(alphas), np.array(betas), select="i", select_range=(k, k)
            )
            theta, s = float(values[0]), vectors[:, 0]
        invariant = beta <= 1e-14 * max(abs(theta), np.finfo(float).tiny)
        if invariant or beta * abs(s[-1]) <= tol * abs(theta) or k + 1 == steps == n:
            return theta, Q[: k + 1].T @ s
        residuals.append(beta * abs(s[-1]) / max(abs(theta), np.finfo(float).tiny))
        if budget is not None and _exceeds_budget(residuals, tol, budget):
            return None
        if k + 1 < steps:
            betas.append(beta)
            Q[k + 1] = w / beta
    raise RuntimeError(
        f"Lanczos did not converge in {max_iter} iterations (Ritz residual "
        f"{beta * abs(s[-1]):.3g} for eigenvalue {theta:.6g}); use method='svd'."
    )


def _exceeds_budget(residuals, tol, budget):
    """Whether Lanczos, with these relative Ritz residuals so far, is predicted to need more
    than ``budget`` iterations to reach ``tol`` (geometric decrease at the rate of the last
    two iterations: on noise-like spectra that is clear after three, measured)."""
    k = len(residuals)
    if k >= budget:
        return True
    if k < 3:
        return False
    rate = (residuals[-1] / residuals[-3]) ** (1 / 2)
    if not rate < 1.0:
        return True
    return k + math.log(tol / residuals[-1]) / math.log(rate) > budget


def _top_eigenpair_symmetric(G, tol=1e-12):
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
    return _lanczos_top(lambda v: G @ v, n, tol)


def _top_eigenvalue_symmetric(G):
    """Largest eigenvalue of a symmetric float64 Gram matrix (numpy or torch)."""
    if _is_torch(G):
        return float(torch.linalg.eigvalsh(G)[-1])
    return _top_eigenpair_symmetric(G)[0]


def _wide_gram_times(B, u):
    """``G u`` and ``||B||_F^2`` in float64 for ``G = B B^T``, B a numpy matrix stored by rows
    with fewer rows than columns (the tall layout uses :class:`_RowPassGram`).

    Two reads of B in blocks of rows, copied into one reused float64 buffer (reusing it
    avoids page faults on fresh allocations, which cost more than the arithmetic here):
    ``B^T u``, then ``B (B^T u)``."""
    buffer = np.empty((min(_PASS_ROWS, B.shape[0]), B.shape[1]))
    fro_sq = 0.0
    Btu = np.zeros(B.shape[1])
    for i in range(0, B.shape[0], _PASS_ROWS):
        chunk = buffer[: min(_PASS_ROWS, B.shape[0] - i)]
        np.copyto(chunk, B[i : i + _PASS_ROWS])
        fro_sq += float(np.vdot(chunk, chunk))
        Btu += chunk.T @ u[i : i + len(chunk)]
    Gu = np.empty(B.shape[0])
    for i in range(0, B.shape[0], _PASS_ROWS):
        chunk = buffer[: min(_PASS_ROWS, B.shape[0] - i)]
        np.copyto(chunk, B[i : i + _PASS_ROWS])
        Gu[i : i + len(chunk)] = chunk @ Btu
    return Gu, fro_sq


def _top_eigenvalue_refined(A):
    """Largest eigenvalue of A's Gram matrix and ``||A||_F^2`` (numpy), both in float64.

    The Gram matrix is formed in float32 (twice the speed of float64; a float32 copy of A is
    made when A has another dtype), which gives its top eigenvector ``u`` to about float32
    accuracy. One float64 pass over A then gives the exact ``G u`` and ``||A||_F^2``; the
    Rayleigh quotient ``u^T G u`` is exact to float64 rounding up to the square of the
    eigenvector's error (measured: 1e-13 relative on 60000 x 784 noise, where the float32
    top eigenvalue itself is off by 1e-9). Its residual ``||G u - theta u||`` is checked;
    the value is None when the check fails.
    """
    A32 = A if A.dtype == np.float32 else A.astype(np.float32)
    gram32 = A32.T @ A32 if A.shape[0] >= A.shape[1] else A32 @ A32.T  # numpy calls syrk
    _, u = _top_eigenpair_symmetric(gram32.astype(np.float64), tol=1e-9)
    u = u / np.linalg.norm(u)
    if _matrix_free_applies(A):  # one threaded pass over A
        with _RowPassGram(_by_rows(A)) as gram:
            Gu, fro_sq = gram(u), gram.fro_sq
    else:
        Gu, fro_sq = _wide_gram_times(_by_rows(A), u)
    theta = float(u @ Gu)
    residual = float(np.linalg.norm(Gu - theta * u))
    if not residual <= _RESIDUAL_TOL * theta:
        return None, fro_sq
    return theta, fro_sq


def _by_rows(A):
    """A, or its transpose when that is the one stored by rows (Fortran order)."""
    return A.T if (A.flags.f_contiguous and not A.flags.c_contiguous) else A


def _matrix_free_applies(A):
    """Whether the matrix-free Lanczos can run on numpy matrix A: its Gram operator must be
    the small side's, ``B^T B`` for ``B`` stored by rows, to keep the Lanczos vectors short."""
    if _is_torch(A):
        return False
    B = _by_rows(A)
    return B.shape[0] >= B.shape[1]


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


class _RowPassGram:
    """The Gram operator ``v -> B^T (B v)`` of a matrix ``B`` stored by rows, in float64.

    Each application reads ``B`` once: a block of rows is copied into a float64 buffer that
    stays in cache for both products, so the cost is one read of ``B`` (measured: 13 ms for
    60000 x 784 float32 on 2 cores, against 0.22 s for the float32 Gram matrix). The rows are
    split into ``_PASS_PARTS`` fixed parts, one Python thread a part at a time with BLAS
    single-threaded inside (numpy releases the GIL; threaded BLAS on these small products
    spends more time synchronising than computing, measured 2.6x slower); partial sums are
    added in part order, so the result does not depend on the number of threads. The first
    application also gives ``||B||_F^2`` (attribute ``fro_sq``).
    """

    def __init__(self, B):
        self.B = B
        n_rows, n_cols = B.shape
        bounds = np.linspace(0, n_rows, _PASS_PARTS + 1).astype(int)
        self.parts = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        self.block_rows = max(1, _PASS_BLOCK_ENTRIES // n_cols)
        self.n_threads = min(len(self.parts), _blas_threads())
        self.fro_sq = None

    def _part(self, lo, hi, v, with_fro):
        buffer = np.empty((min(self.block_rows, hi - lo), self.B.shape[1]))
        Gv, fro_sq = np.zeros(self.B.shape[1]), 0.0
        for i in range(lo, hi, self.block_rows):
            block = buffer[: min(self.block_rows, hi - i)]
            np.copyto(block, self.B[i : i + len(block)])
            if with_fro:
                fro_sq += float(np.vdot(block, block))
            Gv += block.T @ (block @ v)
        return Gv, fro_sq

    def __enter__(self):
        # BLAS single-threaded while the passes run (the threads here are the parallelism);
        # the previous limits are restored on exit.
        _BLAS_LIMIT_LOCK.acquire()
        try:
            self._limits = _threadpool_controller().limit(limits=1, user_api="blas")
        except BaseException:
            _BLAS_LIMIT_LOCK.release()
            raise
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None
        return self

    def __exit__(self, *exc_info):
        try:
            if self._pool is not None:
                self._pool.shutdown()
            self._limits.restore_original_limits()
        finally:
            _BLAS_LIMIT_LOCK.release()

    def __call__(self, v):
        v = np.ascontiguousarray(v, dtype=np.float64)
        with_fro = self.fro_sq is None
        if self._pool is None:
            results = [self._part(lo, hi, v, with_fro) for lo, hi in self.parts]
        else:
            results = list(self._pool.map(lambda part: self._part(*part, v, with_fro), self.parts))
        if with_fro:
            self.fro_sq = math.fsum(r[1] for r in results)
        Gv = results[0][0]
        for r in results[1:]:
            Gv += r[0]
        return Gv


def _top_eigenvalue_matrix_free(A, tol, budget):
    """Largest eigenvalue of A's Gram matrix and ``||A||_F^2`` (numpy), by Lanczos on the
    Gram operator applied in single passes over ``A`` (no Gram matrix, no copy of ``A``).

    Fast when the top singular value stands out (real data: MNIST's is 2.9 times the
    second one, and 5 passes suffice), slow on noise-like spectra. The start vector is the
    column sums of a sample of rows (near the top right singular vector of data with a
    non-zero mean, such as images), plus a fixed Gaussian part so that it has a component
    along every eigenvector. With ``budget`` the iterations are abandoned
    (top eigenvalue None) as soon as they are predicted to need more than ``budget``
    passes. Returns ``(top eigenvalue or None, ||A||_F^2)``.
    """
    B = _by_rows(A)
    start = np.random.default_rng(0).standard_normal(B.shape[1])
    start /= np.linalg.norm(start)
    # Column sums of about _START_SAMPLE_ROWS rows spread over A: the mean row's direction
    # without a pass over A (rows sorted by class are sampled evenly).
    sample = B[:: max(1, B.shape[0] // _START_SAMPLE_ROWS)]
    column_sums = np.asarray(sample, dtype=np.float64).sum(axis=0)
    norm = np.linalg.norm(column_sums)
    if norm > 0.0:
        start = column_sums / norm + 0.1 * start
    max_iter = 300 if budget is None else budget + 1
    with _RowPassGram(B) as gram:
        result = _lanczos_top(gram, B.shape[1], tol, max_iter=max_iter, v0=start, budget=budget)
    if gram.fro_sq <= 0.0:
        return 0.0, gram.fro_sq
    return (None if result is None else result[0]), gram.fro_sq


def _frobenius_sq(A):
    if _is_torch(A):
        return float(torch.sum(A.to(torch.float64) ** 2))
    return sum(float(np.vdot(chunk, chunk)) for chunk in _row_chunks(A, np.float64))


def _top_eigenvalue_lanczos(A, tol):
    """Largest eigenvalue of A^T A by Lanczos on the implicit Gram operator (float64)."""
    A = _tall(A.detach().cpu().numpy() if _is_torch(A) else A)
    A64 = np.asarray(A, dtype=np.float64)
    n = A64.shape[1]
    if n <= 64:  # a tiny Gram matrix is cheaper than iterating
        return float(np.linalg.eigvalsh(A64.T @ A64)[-1])
    return _lanczos_top(lambda v: A64.T @ (A64 @ v), n, max(tol, 1e-14))[0]


def _resolve_method(A, method, for_all_values):
    if method != "auto":
        return method
    small_side = min(A.shape)
    if for_all_values:
        return "svd" if A.shape[0] * A.shape[1] <= _DENSE_SVD_MAX_ENTRIES else "gram"
    return "gram" if small_side <= _GRAM_MAX_SIDE else "lanczos"


def squared_singular_values(A, *, method="auto"):
    """All squared singular values of ``A`` in decreasing order, as a float64 numpy array.

    Parameters
    ----------
    A : array-like or torch.Tensor of shape (n_rows, n_cols)
        The matrix. Torch tensors are computed on their own device.
    method : {"auto", "svd", "gram"}, default="auto"
        "svd" uses a dense SVD in float64; "gram" the eigenvalues of the float64 Gram matrix
        of the smaller side (faster for tall or wide matrices; the smallest values carry an
        absolute error of about 1e-16 * s_max**2). "auto" picks "svd" up to 4e6 entries.

    Returns
    -------
    s2 : ndarray of shape (min(n_rows, n_cols),)
        Squared singular values, largest first, clipped at zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import squared_singular_values
    >>> squared_singular_values(np.diag([3.0, 1.0, 2.0]))
    array([9., 4., 1.])
    """
    A = _check_matrix(A)
    _check_method(method)
    method = _resolve_method(A, method, for_all_values=True)
    if method == "lanczos":
        raise ValueError("method='lanczos' gives only the largest singular value; use 'svd'.")
    if method == "svd":
        if _is_torch(A):
            s = torch.linalg.svdvals(A.to(torch.float64)).cpu().numpy()
        else:
            s = scipy.linalg.svdvals(np.asarray(A, dtype=np.float64))
        return s**2
    gram = _gram64(A)
    ev = torch.linalg.eigvalsh(gram).cpu().numpy() if _is_torch(gram) else np.linalg.eigvalsh(gram)
    return np.clip(ev[::-1], 0.0, None)


def stable_rank(A, *, method="auto", tol=1e-12):
    """Stable rank ``||A||_F^2 / ||A||_2^2`` of a matrix.

    The sum of the squared singular values over the largest one squared. It lies in
    ``[1, rank(A)]`` and is invariant to scaling ``A``; it is a continuous surrogate of the rank
    that small singular values (noise) hardly move.

    Parameters
    ----------
    A : array-like or torch.Tensor of shape (n_rows, n_cols)
        The matrix: 2-D, real and finite. Torch tensors (CPU or CUDA) are computed on their own
        device. Sums are accumulated in float64 whatever the input dtype.
    method : {"auto", "gram", "svd", "lanczos"}, default="auto"
        How the largest singular value is found; all are exact up to float64 rounding.

        - "gram": the largest eigenvalue of the Gram matrix of the smaller side (cost
          ``min(n_rows, n_cols)^2 * max(n_rows, n_cols)``, no SVD). Small Gram matrices are
          formed in float64; large numpy ones (over 1e8 multiply-adds) in float32, which
          gives the top eigenvector at half the cost, and the value is then its float64
          Rayleigh quotient with the exact Gram matrix, from one float64 pass over ``A`` (the
          residual is checked, with the float64 Gram matrix as the fallback). The top
          eigenvalue of Gram matrices larger than 1024 comes from Lanczos iterations (see
          below) instead of an O(n^3) eigendecomposition. Torch tensors use the float64 Gram
          matrix on their device (CPU tensors above 1e10 multiply-adds go the numpy way);
        - "svd": a dense float64 SVD (the reference);
        - "lanczos": Lanczos iterations on the implicit Gram operator, for matrices whose
          both sides are large: fixed start vector (reproducible to the last bit), full
          re-orthogonalisation, and an error raised when the Ritz residual does not reach
          ``tol`` within 300 iterations. On numpy matrices whose smaller side is their
          columns in memory order (C-order tall, Fortran-order wide) each iteration is one
          multi-threaded float64 pass over ``A``, with no copy of it.
        - "auto": "gram" when the smaller side is at most 4096, else "lanczos". For large
          numpy matrices (over 1e8 multiply-adds, smaller side the columns in memory
          order) "auto" first tries the matrix-free Lanczos, to a relative Ritz residual of
          1e-7 (the value is then within 1e-7 of the top eigenvalue, and in practice to
          1e-13): when the top singular value stands out, as on real data, a handful of
          passes over ``A`` suffice (MNIST's 60000 x 784 training images: 5 passes, 0.08 s,
          about 28x faster than ``numpy.linalg.svd(A, compute_uv=False)`` on 2 cores). On
          noise-like spectra the residuals predict, after 3 or 4 passes, that it would cost
          more than the Gram matrix, and "gram" is used instead (those passes are the
          price, about 0.05 s at 60000 x 784).

        Randomized SVD is deliberately not offered: it underestimates the top singular value
        of noise-like matrices by several percent.
    tol : float, default=1e-12
        Relative tolerance of the Lanczos iterations (``method="lanczos"`` only).

    Returns
    -------
    stable_rank : float

    Raises
    ------
    ValueError
        If ``A`` is not 2-D, is empty, holds NaN or infinity, or is the zero matrix (which has
        no stable rank).

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import stable_rank
    >>> stable_rank(np.eye(5))
    5.0
    >>> round(stable_rank(np.outer([1.0, 2.0], [3.0, 4.0, 5.0])), 12)
    1.0
    """
    A = _host_array(_check_matrix(A))
    _check_method(method)
    requested, method = method, _resolve_method(A, method, for_all_values=False)
    top_sq = None
    if method == "svd":
        s2 = squared_singular_values(A, method="svd")
        fro_sq, top_sq = float(s2.sum()), float(s2[0])
    elif method == "lanczos" and _matrix_free_applies(A):
        top_sq, fro_sq = _top_eigenvalue_matrix_free(A, max(tol, 1e-14), budget=None)
    elif method == "lanczos":
        fro_sq = _frobenius_sq(A)
        top_sq = _top_eigenvalue_lanczos(A, tol) if fro_sq > 0 else 0.0
    elif not _is_torch(A) and _uses_float32_gram(A):
        if requested == "auto" and _matrix_free_applies(A):
            budget = max(8, int(_PASSES_PER_SQRT_SIDE * math.sqrt(min(A.shape))))
            top_sq, fro_sq = _top_eigenvalue_matrix_free(A, _MATRIX_FREE_TOL, budget)
        if top_sq is None:
            top_sq, fro_sq = _top_eigenvalue_refined(A)
    if top_sq is None:  # the Gram path, in float64 throughout (also the refined path's fallback)
        gram = _gram64(A)
        fro_sq = float(torch.trace(gram)) if _is_torch(gram) else float(np.trace(gram))
        top_sq = _top_eigenvalue_symmetric(gram)
    if top_sq <= 0.0 or fro_sq <= 0.0:
        raise ValueError("The zero matrix has no stable rank; A must have a nonzero entry.")
    # Rounding can put the ratio a hair outside [1, rank]; 1 is the exact floor.
    return max(fro_sq / top_sq, 1.0)


def effective_rank(A, *, method="auto"):
    """Effective rank of Roy and Vetterli (2007): ``exp(H(p))`` with ``p_i = s_i / sum(s)``.

    ``s`` are the singular values of ``A`` and ``H(p) = -sum_i p_i log p_i`` is the Shannon
    entropy (with ``0 log 0 = 0``). Note the definition normalises the singular values
    themselves, not their squares (some code uses ``s_i^2``; that is a different quantity).
    It lies in ``[1, rank(A)]`` and is invariant to scaling ``A``.

    Parameters
    ----------
    A : array-like or torch.Tensor of shape (n_rows, n_cols)
        The matrix: 2-D, real and finite.
    method : {"auto", "svd", "gram"}, default="auto"
        How the singular values are computed; see :func:`squared_singular_values`.

    Returns
    -------
    effective_rank : float

    Raises
    ------
    ValueError
        If ``A`` is not 2-D, is empty, holds NaN or infinity, or is the zero matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import effective_rank
    >>> round(effective_rank(np.eye(4)), 6)
    4.0
    """
    s = np.sqrt(squared_singular_values(A, method=method))
    total = float(s.sum())
    if total <= 0.0:
        raise ValueError("The zero matrix has no effective rank; A must have a nonzero entry.")
    p = s[s > 0] / total
    return max(math.exp(float(-(p * np.log(p)).sum())), 1.0)

