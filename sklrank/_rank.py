"""Stable rank and effective rank of matrices (numpy arrays and torch tensors)."""

import math

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

try:  # torch is a hard dependency of sklrank, but keep the rank tools importable without it
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = ["stable_rank", "effective_rank", "squared_singular_values"]

_METHODS = ("auto", "svd", "gram", "lanczos")
# Gram path when the smaller side is at most this: its cost is small side^2 x large side.
_GRAM_MAX_SIDE = 4096
# Rows upcast to float64 at a time while forming the Gram matrix (bounds the extra memory).
_CHUNK_ROWS = 8192
# effective_rank's "auto" uses a dense SVD up to this many entries, the Gram eigenvalues above.
_DENSE_SVD_MAX_ENTRIES = 4_000_000


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
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those entries.")
    return A


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")


def _gram64(A):
    """The Gram matrix of the smaller side of A, accumulated in float64."""
    if _is_torch(A):
        A64 = A.to(torch.float64)
        return A64.T @ A64 if A.shape[0] >= A.shape[1] else A64 @ A64.T
    if A.shape[0] < A.shape[1]:
        A = A.T
    n = A.shape[1]
    gram = np.zeros((n, n), dtype=np.float64)
    for start in range(0, A.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(A[start : start + _CHUNK_ROWS], dtype=np.float64)
        gram += chunk.T @ chunk
    return gram


def _frobenius_sq(A):
    if _is_torch(A):
        return float(torch.sum(A.to(torch.float64) ** 2))
    if A.dtype == np.float64:
        return float(np.einsum("ij,ij->", A, A))
    total = 0.0
    for start in range(0, A.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(A[start : start + _CHUNK_ROWS], dtype=np.float64)
        total += float(np.einsum("ij,ij->", chunk, chunk))
    return total


def _top_eigenvalue_lanczos(A, tol):
    """Largest eigenvalue of A^T A by Lanczos on the implicit Gram operator (float64)."""
    A = A.detach().cpu().numpy() if _is_torch(A) else A
    if A.shape[0] < A.shape[1]:
        A = A.T
    A64 = np.asarray(A, dtype=np.float64)
    n = A64.shape[1]
    if n <= 64:  # ARPACK needs n well above k; a tiny Gram matrix is cheaper anyway
        return float(np.linalg.eigvalsh(A64.T @ A64)[-1])
    op = scipy.sparse.linalg.LinearOperator(
        (n, n), matvec=lambda v: A64.T @ (A64 @ v), dtype=np.float64
    )
    v0 = np.random.default_rng(0).standard_normal(n)  # fixed start: reproducible results
    vals, vecs = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=tol, v0=v0, ncv=min(n, 40))
    lam, vec = float(vals[0]), vecs[:, 0]
    # Check the tolerance: |lambda - theta| <= ||G v - theta v|| for a unit v (Weyl).
    residual = float(np.linalg.norm(op.matvec(vec) - lam * vec))
    if residual > 1e-6 * lam:
        raise RuntimeError(
            f"Lanczos did not reach the requested accuracy (residual {residual:.3g} for "
            f"eigenvalue {lam:.6g}); use method='gram' or method='svd'."
        )
    return lam


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

        - "gram": the largest eigenvalue of the float64 Gram matrix of the smaller side
          (cost ``min(n_rows, n_cols)^2 * max(n_rows, n_cols)``, no SVD);
        - "svd": a dense float64 SVD (the reference);
        - "lanczos": Lanczos iterations on the implicit Gram operator, for matrices whose
          both sides are large; the residual is checked and an error raised when the result
          is not accurate to 1e-6 relative.
        - "auto": "gram" when the smaller side is at most 4096, else "lanczos".

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
    A = _check_matrix(A)
    _check_method(method)
    method = _resolve_method(A, method, for_all_values=False)
    if method == "svd":
        s2 = squared_singular_values(A, method="svd")
        fro_sq, top_sq = float(s2.sum()), float(s2[0])
    elif method == "gram":
        gram = _gram64(A)
        if _is_torch(gram):
            fro_sq = float(torch.trace(gram))
            top_sq = float(torch.linalg.eigvalsh(gram)[-1])
        else:
            fro_sq = float(np.trace(gram))
            n = gram.shape[0]
            top_sq = float(
                scipy.linalg.eigh(gram, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0]
            )
    else:
        fro_sq = _frobenius_sq(A)
        top_sq = _top_eigenvalue_lanczos(A, tol) if fro_sq > 0 else 0.0
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

