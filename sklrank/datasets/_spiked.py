"""The spiked data model of Sonthalia, Murray and Montufar (2025): bulk plus a rank-one spike."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._memory import check_fits_in_memory
from .._params import validate_params

__all__ = ["make_spiked", "triple_index_target"]


def triple_index_target(t):
    """Default link of the triple-index target: ``g(t1, t2, t3) = tanh(t1) + t2 * t3``.

    The paper's exact link is not public; this one is nonlinear in all three projections,
    has mean zero and variance of order one when the projections are standard normal.

    Parameters
    ----------
    t : ndarray of shape (n_samples, 3)
        The projections ``<b1, x>, <b2, x>, <b3, x>``.

    Returns
    -------
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank.datasets._spiked import triple_index_target
    >>> float(triple_index_target(np.array([[0.0, 2.0, 3.0]]))[0])
    6.0
    """
    return np.tanh(t[:, 0]) + t[:, 1] * t[:, 2]


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_features": [Interval(Integral, 3, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "nu": [Interval(Real, 0, None, closed="left")],
        "target": [StrOptions({"triple_index", "spike"}), callable],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_spike": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_spiked(
    n_samples=750,
    n_features=1000,
    *,
    alpha=0.0,
    nu=0.25,
    target="triple_index",
    noise=0.0,
    random_state=None,
    return_spike=False,
):
    """Generate spiked data ``X = X_B + zeta z q^T`` with a triple-index or spike target.

    The bulk rows are drawn from ``N(0, Sigma)`` with ``Sigma = diag(k^-alpha)``, k = 1..d
    (``alpha = 0``: isotropic). The spike has strength ``zeta = n_samples ** nu`` along a
    direction ``q`` drawn uniformly on the unit sphere, with latent coordinates
    ``z ~ N(0, I_n)``. Read more in section B of ``docs/science.md``.

    Parameters
    ----------
    n_samples : int, default=750
        Number of samples n.
    n_features : int, default=1000
        Dimension d.
    alpha : float, default=0.0
        Decay exponent of the bulk eigenvalues ``k^-alpha``; must be >= 0.
    nu : float, default=0.25
        Spike exponent, ``zeta = n^nu``; must be >= 0. The paper reports one residue-aligned
        spike in the gradient for ``nu < 1/4`` and a rank-two gradient for ``1/4 <= nu < 1/2``.
    target : {"triple_index", "spike"} or callable, default="triple_index"
        ``"triple_index"``: ``y = g(<b1, x>, <b2, x>, <b3, x>)`` with random orthonormal
        ``b1, b2, b3`` (each uniform on the unit sphere; orthogonal to one another, so that
        the three projections of isotropic data are independent) and
        ``g = tanh(t1) + t2 t3``.
        ``"spike"``: ``y = <q, x> / sqrt(zeta^2 + q^T Sigma q)``, linear along the spike with
        unit variance. A callable ``g`` maps the ``(n_samples, 3)`` projections to
        ``(n_samples,)`` targets (the triple-index model with your own link).
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the target.
    random_state : int, RandomState instance or None, default=None
        Seed for the bulk, the spike, the target directions and the target noise.
    return_spike : bool, default=False
        If True, also return a :class:`~sklearn.utils.Bunch` describing the spike.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The data matrix.
    y : ndarray of shape (n_samples,), dtype float64
        The targets.
    spike : Bunch
        Only when ``return_spike=True``, with attributes ``q`` (unit spike direction, (d,)),
        ``z`` (latent coordinates, (n,)), ``zeta`` (spike strength, float), ``X_bulk``
        (the bulk part ``X_B``, (n, d)) and ``target_directions`` ((3, d); the b's).
        ``X == X_bulk + zeta * outer(z, q)`` up to rounding.

    Raises
    ------
    ValueError
        If the spike strength or the targets overflow float64, if a callable ``target``
        returns values of the wrong type or shape, or if ``X`` and its bulk (8 bytes a value
        of ``n_samples * n_features`` each, and a temporary) would not fit in this
        machine's memory: the message names the sizes and the memory needed, before
        anything is drawn.

    Examples
    --------
    >>> from sklrank.datasets import make_spiked
    >>> X, y, spike = make_spiked(50, 20, nu=0.3, random_state=0, return_spike=True)
    >>> X.shape, y.shape, spike.q.shape
    ((50, 20), (50,), (20,))
    >>> import numpy as np
    >>> bool(np.allclose(X, spike.X_bulk + spike.zeta * np.outer(spike.z, spike.q)))
    True
    """
    n, d = n_samples, n_features
    # X, its bulk X_B and one temporary of their size (float64), refused before any is made
    # (numpy's "Unable to allocate 728 TiB" named no parameter).
    check_fits_in_memory(
        3 * 8 * n * d,
        "make_spiked",
        f"X and its bulk each hold n_samples * n_features = {n} * {d} = {n * d} float64 "
        "values",
        "n_samples or n_features",
    )
    rng = check_random_state(random_state)
    eigenvalues = np.arange(1, d + 1, dtype=np.float64) ** (-float(alpha))
    X_bulk = rng.standard_normal((n, d)) * np.sqrt(eigenvalues)
    q = rng.standard_normal(d)
    q /= np.linalg.norm(q)
    z = rng.standard_normal(n)
    with np.errstate(over="ignore", invalid="ignore"):
        zeta = float(np.power(float(n), float(nu)))
        X = X_bulk + zeta * np.outer(z, q)
    if not np.all(np.isfinite(X)):
        raise ValueError(
            f"nu={nu!r} makes the spike strength n_samples**nu = {zeta:.3g} overflow float64 "
            "in X; use a smaller nu (the paper's regimes are nu < 1/2)."
        )

    b, _ = np.linalg.qr(rng.standard_normal((d, 3)))  # orthonormal, so independent projections
    b = b.T
    with np.errstate(over="ignore", invalid="ignore"):
        if target == "spike":
            # divided by zeta first: zeta**2 may overflow where zeta does not
            y = (X @ q / zeta) / np.sqrt(1.0 + q @ (eigenvalues * q) / zeta / zeta)
        else:
            g = triple_index_target if target == "triple_index" else target
            y = np.asarray(g(X @ b.T))
            if y.dtype.kind not in "biuf":
                raise ValueError(
                    f"target callable must return real numbers, got dtype {y.dtype}."
                )
            y = y.astype(np.float64)
            if y.shape != (n,):
                raise ValueError(
                    f"target callable must map the ({n}, 3) projections to shape ({n},), "
                    f"got shape {y.shape}; return one value per sample."
                )
        if noise > 0:
            y = y + noise * rng.standard_normal(n)
    if not np.all(np.isfinite(y)):
        raise ValueError(
            f"the targets y contain NaN or infinity (target={target!r}, nu={nu!r}, "
            f"noise={noise!r}); lower nu or noise, or make the target callable return finite "
            "values."
        )
    if return_spike:
        spike = Bunch(q=q, z=z, zeta=zeta, X_bulk=X_bulk, target_directions=b)
        return X, y, spike
    return X, y
