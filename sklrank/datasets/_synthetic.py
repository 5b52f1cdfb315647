"""Synthetic low-rank patch data: the data model of Zhang, Gao, Zou and Cao (2025)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._memory import check_fits_in_memory
from .._params import validate_params

__all__ = ["make_low_rank_patches"]


_FLOAT32 = np.finfo(np.float32)
# Entries of the float64 patches computed at a time (8 MB), before their cast into the float32
# output: building all of them in float64 took about four times the output's size at peak.
_CHUNK_ENTRIES = 1_000_000


def _draw_basis_and_labels(rng, n_samples, n_features, n_directions, n_classes):
    """The first draws of :func:`make_low_rank_patches` from ``rng``: the Gaussian matrix of the
    signal basis, then the sample labels (indices into the classes)."""
    gaussian = rng.standard_normal((n_features, n_directions))
    return gaussian, rng.randint(n_classes, size=n_samples)


def _low_rank_patch_labels(n_samples, *, n_features, rank, random_state, n_classes=2):
    """The labels (class indices) that ``make_low_rank_patches`` with these settings draws,
    without drawing the patches (the sweep checks that every seed's training set holds both
    classes before it trains). The labels are drawn one after another from the stream: those
    of n samples are the first n of any larger draw."""
    rng = check_random_state(random_state)
    return _draw_basis_and_labels(rng, n_samples, n_features, n_classes * rank, n_classes)[1]


def _check_float32_scale(X, basis, signal_norm, noise_std):
    """Refuse scales that float32 X cannot hold: values that overflow to inf, signal patches
    that lose their norm by underflow, or noise that underflows to zero (the data would no
    longer be what the parameters say)."""
    if not np.isfinite(X).all():
        raise ValueError(
            f"signal_norm={signal_norm!r} or noise_std={noise_std!r} overflows float32 (largest "
            f"value {_FLOAT32.max:.3g}): X would hold inf. Generate at a smaller scale and "
            "rescale X in float64 if you need it."
        )
    norms = np.linalg.norm(basis.astype(np.float32).astype(np.float64), axis=1)
    if not np.allclose(norms, signal_norm, rtol=1e-3, atol=0):
        raise ValueError(
            f"signal_norm={signal_norm!r} underflows float32 (smallest normal value "
            f"{_FLOAT32.tiny:.3g}): X would not hold these patches. Pass a larger signal_norm "
            "and rescale X in float64 if you need it."
        )
    if 0 < noise_std < float(_FLOAT32.tiny):
        # subnormal noise is rounded to multiples of 1.4e-45: at 1e-42 to about 700 values a
        # standard deviation, at 1e-44 to a handful (it was taken down to 1.4e-42)
        raise ValueError(
            f"noise_std={noise_std!r} underflows float32 (smallest normal value "
            f"{_FLOAT32.tiny:.3g}): the noise would be subnormal, rounded to multiples of "
            f"{_FLOAT32.smallest_subnormal:.3g} instead of Gaussian. Pass noise_std=0 or "
            f"noise_std >= {_FLOAT32.tiny:.3g}, and rescale X in float64 if you need it."
        )


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "signal_norm": [Interval(Real, 0, None, closed="neither")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "signal_position": [StrOptions({"random"}), Interval(Integral, 0, None, closed="left")],
        "orthogonal_noise": ["boolean"],
        "random_state": ["random_state"],
        "return_basis": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_low_rank_patches(
    n_samples=200,
    n_features=64,
    n_patches=4,
    rank=2,
    noise_std=0.0,
    signal_norm=5.0,
    *,
    n_classes=2,
    signal_position="random",
    orthogonal_noise=False,
    random_state=None,
    return_basis=False,
):
    """Generate low-rank clean patches hidden among Gaussian background patches.

    Each class ``c`` owns ``rank`` (K) orthonormal signal directions scaled to ``signal_norm``;
    the ``n_classes * rank`` directions are mutually orthonormal. A sample has ``n_patches``
    patches of ``n_features`` entries: one patch is a signal direction of its class, chosen
    uniformly among the K, and every other patch is background noise drawn i.i.d. from
    ``N(0, noise_std^2 I)``. With ``noise_std=0`` the patch matrix (every patch a row, see
    :func:`sklrank.patch_matrix`) has rank exactly ``n_classes * rank`` (2K for two classes)
    once every direction has been drawn (the number drawn, with very few samples); so has the
    data matrix when ``signal_position`` is fixed. With a random position each
    (direction, position) pair is its own direction of the flattened sample, and the clean data
    matrix has rank up to ``n_classes * rank * n_patches``.

    Read more in section A of ``docs/science.md`` (the data model of the paper).

    Parameters
    ----------
    n_samples : int, default=200
        Number of samples.
    n_features : int, default=64
        Dimension d of one patch.
    n_patches : int, default=4
        Number of patches P per sample; one holds the signal, so ``noise_std > 0`` needs
        ``n_patches >= 2``.
    rank : int, default=2
        Number K of signal directions per class. ``n_classes * rank`` must not exceed
        ``n_features``.
    noise_std : float, default=0.0
        Standard deviation of the background noise; 0 gives the clean data.
    signal_norm : float, default=5.0
        Euclidean norm of every signal patch. ``X`` is float32: a ``signal_norm`` or
        ``noise_std`` it cannot represent (overflow to inf, signal patches that underflow, or
        a nonzero ``noise_std`` below float32's smallest normal value, about 1.2e-38, whose
        noise would be subnormal: rounded to a few values) is an error.
    n_classes : int, default=2
        Number of classes. Two classes are labelled -1 and +1 (as in the paper); more
        classes are labelled 0, ..., n_classes - 1.
    signal_position : "random" or int, default="random"
        Index of the patch that carries the signal: uniformly random per sample, or fixed.
    orthogonal_noise : bool, default=False
        If True, project the background noise off the span of the signal directions.
    random_state : int, RandomState instance or None, default=None
        Seed for the basis, the labels, the signal choice and the noise.
    return_basis : bool, default=False
        If True, also return the signal basis and the class of each basis vector.

    Returns
    -------
    X : ndarray of shape (n_samples, n_patches * n_features), dtype float32
        The patches of each sample laid end to end: a sample reads as an image of shape
        ``(1, n_patches, n_features)`` whose patches are ``(1, n_features)`` tiles.
    y : ndarray of shape (n_samples,), dtype int64
        Class labels, balanced in expectation.
    basis : ndarray of shape (n_classes * rank, n_features), dtype float64
        Only when ``return_basis=True``: the signal directions (norm ``signal_norm``), those of
        the first class first.
    basis_classes : ndarray of shape (n_classes * rank,)
        Only when ``return_basis=True``: the class label of each row of ``basis``.

    Raises
    ------
    ValueError
        If the parameters do not fit together (see each one), or if ``X`` (4 bytes a value
        of ``n_samples * n_patches * n_features``) would not fit in this machine's memory:
        the message names the sizes and the memory needed, before anything is drawn.

    Examples
    --------
    >>> from sklrank.datasets import make_low_rank_patches
    >>> X, y = make_low_rank_patches(n_samples=10, n_features=8, n_patches=3, rank=2,
    ...                              random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((10, 24), [-1, 1])
    >>> import numpy as np
    >>> from sklrank import patch_matrix
    >>> int(np.linalg.matrix_rank(patch_matrix(X, (1, 3, 8), kernel_size=(1, 8))))
    4
    """
    n_directions = n_classes * rank
    if n_directions > n_features:
        raise ValueError(
            f"n_classes * rank = {n_classes} * {rank} = {n_directions} orthonormal signal "
            f"directions do not fit in n_features={n_features}; lower rank or raise n_features."
        )
    if isinstance(signal_position, bool | np.bool_) or (
        signal_position != "random" and signal_position >= n_patches
    ):
        raise ValueError(
            f"signal_position={signal_position!r} is not a patch index for "
            f"n_patches={n_patches}; pass an int in 0..{n_patches - 1} or 'random'."
        )
    if n_patches == 1 and noise_std > 0:
        # the signal takes the only patch: the noise would have nowhere to go
        raise ValueError(
            f"noise_std={noise_std!r} with n_patches=1 leaves no patch for the noise (the "
            "signal takes the only one); use n_patches=2 or more."
        )
    if orthogonal_noise and noise_std > 0 and n_directions == n_features:
        # the signal directions span every direction of a patch: the projected noise was
        # rounding residue (about 1e-16) instead of N(0, noise_std^2) off the signal
        raise ValueError(
            f"orthogonal_noise=True with n_classes * rank = {n_classes} * {rank} = "
            f"n_features={n_features} leaves no direction for the noise (the signal "
            "directions span every patch): the noise would be zero. Raise n_features, lower "
            "rank, or pass orthogonal_noise=False."
        )
    # X (float32), the Gaussian matrix of the basis and its factors (float64), and the
    # sample's labels, directions and positions (int64): refused before any is made (numpy's
    # "Unable to allocate 3.55 PiB" named no parameter).
    n_values = n_samples * n_patches * n_features
    check_fits_in_memory(
        4 * n_values + 8 * 3 * n_features * n_directions + 8 * 3 * n_samples,
        "make_low_rank_patches",
        f"X holds n_samples * n_patches * n_features = {n_samples} * {n_patches} * "
        f"{n_features} = {n_values} float32 values",
        "n_samples, n_patches or n_features",
    )
    rng = check_random_state(random_state)

    # Orthonormal directions from the QR factorisation of a Gaussian matrix.
    gaussian, labels = _draw_basis_and_labels(rng, n_samples, n_features, n_directions,
                                              n_classes)
    q, _ = np.linalg.qr(gaussian)
    basis = signal_norm * q.T
    basis_classes = np.repeat(np.arange(n_classes), rank)

    direction = labels * rank + rng.randint(rank, size=n_samples)
    if signal_position == "random":
        position = rng.randint(n_patches, size=n_samples)
    else:
        position = np.full(n_samples, signal_position)

    # The float32 X, filled a chunk of samples at a time from the float64 patches of that
    # chunk: the noise is drawn sample after sample from one stream, and each sample's values
    # are computed alone, so X is bitwise the same as from all the patches at once.
    X = np.empty((n_samples, n_patches * n_features), dtype=np.float32)
    chunk = max(1, _CHUNK_ENTRIES // (n_patches * n_features))
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        patches = rng.standard_normal((stop - start, n_patches, n_features)) * noise_std
        if orthogonal_noise and noise_std > 0:
            patches -= (patches @ q) @ q.T
        patches[np.arange(stop - start), position[start:stop]] = basis[direction[start:stop]]
        with np.errstate(over="ignore"):
            X[start:stop] = patches.reshape(stop - start, n_patches * n_features)
        del patches
    _check_float32_scale(X, basis, signal_norm, noise_std)

    classes = np.array([-1, 1]) if n_classes == 2 else np.arange(n_classes)
    y = classes[labels].astype(np.int64)
    if return_basis:
        return X, y, basis, classes[basis_classes]
    return X, y
