"""PCARankReducer: map samples to their rank-K approximation in the original feature space."""

import contextlib
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._params import _ValidatedParams
from .._validation import validate_data

__all__ = ["PCARankReducer"]


def _power_of_two_scale(X):
    """1.0, or the power of two to divide ``X`` by when its largest magnitude is so large or
    small that squares and variances of its values would overflow or underflow ``X.dtype``.

    A power of two scales floats exactly, so the rescaled decomposition is the same up to
    that factor; a quarter of the dtype's exponent range (about 1e+-77 in float64, 1e+-9
    in float32) leaves room for squares and sums of many of them.
    """
    largest = float(np.max(np.abs(X), initial=0.0))
    if largest == 0.0:
        return 1.0
    finfo = np.finfo(X.dtype)
    exponent = int(np.frexp(largest)[1])
    if abs(exponent) <= finfo.maxexp // 4:
        return 1.0
    # largest / scale lies in [1, 2); the clip keeps the scale a normal number of X.dtype.
    return float(np.ldexp(1.0, int(np.clip(exponent - 1, finfo.minexp, finfo.maxexp - 1))))


class PCARankReducer(_ValidatedParams, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace each sample by its rank-``n_components`` approximation, in the original space.

    The samples are projected on the ``n_components`` leading right singular vectors ``V``
    (rows of ``components_``) of the training matrix and mapped back, so images keep their
    shape and pixel meaning: ``X_out = mean_ + (X - mean_) @ V.T @ V``. The decomposition is
    scikit-learn's :class:`~sklearn.decomposition.TruncatedSVD` (``center=False``) or
    :class:`~sklearn.decomposition.PCA` (``center=True``).

    How the mean is handled:

    - ``center=False`` (default): no centring, ``mean_`` is zero and the output is the
      orthogonal projection ``X @ V.T @ V``. The transformed training matrix then has rank
      exactly ``n_components`` (when ``X`` has at least that rank), which is what rank
      studies need: the clean data have a known rank.
    - ``center=True``: PCA around the training mean; the output is an affine rank-K
      approximation whose rank is at most ``n_components + 1`` (the mean adds one direction).

    Parameters
    ----------
    n_components : int or None, default=2
        Rank ``K`` of the output. At most ``min(n_samples, n_features)`` of the training data.
        None keeps ``min(n_samples, n_features)`` components (no reduction beyond the rank of
        the data).
    center : bool, default=False
        Whether to centre the data on the training mean before projecting (see above).
    svd_solver : {"auto", "arpack", "randomized"}, default="auto"
        Solver of the underlying TruncatedSVD (``algorithm``) or PCA (``svd_solver``).
        "arpack" is exact up to its tolerance but needs
        ``n_components < min(n_samples, n_features)`` and data to decompose (training rows
        that are all identical with ``center=True``, or all zero, are refused: ARPACK's
        starting vector is then zero), and its output is not reproducible
        to the last bit when the data have rank at most ``n_components`` (ARPACK then
        restarts from its own process-wide random state); "randomized" is faster on large
        matrices but approximate (with a flat spectrum, such as noise, its subspace is off by
        about a percent). "auto" is an exact decomposition that ``random_state`` fully
        determines: TruncatedSVD's randomized solver with a sketch as wide as the whole row
        space (``n_oversamples = min(n_samples, n_features) - n_components``, at least 10),
        or "full" for PCA.
    n_iter : int, default=5
        Power iterations of the randomized solver (``n_iter`` of TruncatedSVD,
        ``iterated_power`` of PCA); "auto" needs none.
    random_state : int, RandomState instance or None, default=None
        Seed of the solver (the randomized projections, or ARPACK's starting vector); pass an
        int for reproducible output (bitwise, across fits and processes, except with
        "arpack").

    Attributes
    ----------
    decomposition_ : TruncatedSVD or PCA
        The fitted scikit-learn decomposition (of ``X / scale_``).
    components_ : ndarray of shape (``n_components_``, ``n_features_in_``)
        Orthonormal rows ``V`` spanning the retained subspace.
    mean_ : ndarray of shape (``n_features_in_``,)
        Training mean (``center=True``) or zeros (``center=False``).
    n_components_ : int
        The number of components actually kept.
    scale_ : float
        1.0, or the power of two the data are divided by before the decomposition (and
        multiplied by after it) when their largest magnitude is beyond about 1e+-77 in
        float64 (1e+-9 in float32), where the decomposition's variances would overflow or
        underflow; ``decomposition_`` is fitted on ``X / scale_``. The output scales with
        ``X``: ``transform(c * X) == c * transform(X)`` up to rounding.
    explained_variance_ratio_ : ndarray of shape (``n_components_``,)
        Copied from the decomposition. NaN, with a RuntimeWarning, when the training data
        have zero variance (one sample, or identical rows): the ratio is then 0 / 0, NaN in
        scikit-learn's PCA too.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during fit, when X has string column names.

    See Also
    --------
    BackgroundNoise : Adds Gaussian background noise around or onto images.
    make_rank_pipeline : Pipeline of PCARankReducer, BackgroundNoise and RankCNNClassifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import PCARankReducer
    >>> X = np.random.default_rng(0).standard_normal((50, 20)).astype(np.float32)
    >>> Xr = PCARankReducer(n_components=3, random_state=0).fit_transform(X)
    >>> Xr.shape, Xr.dtype, int(np.linalg.matrix_rank(Xr))
    ((50, 20), dtype('float32'), 3)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "center": ["boolean"],
        "svd_solver": [StrOptions({"auto", "randomized", "arpack"})],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_components=2, *, center=False, svd_solver="auto", n_iter=5, random_state=None
    ):
        self.n_components = n_components
        self.center = center
        self.svd_solver = svd_solver
        self.n_iter = n_iter
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the rank-``n_components`` subspace on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (float32 is kept as float32; integer data such as uint8 pixels are
            read as float64).
        y : None
            Ignored; present for Pipeline compatibility.

        Returns
        -------
        self : PCARankReducer
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        max_rank = min(n_samples, n_features)
        k = max_rank if self.n_components is None else self.n_components
        if k > max_rank:
            raise ValueError(
                f"n_components={k} is larger than min(n_samples, n_features)={max_rank} "
                f"(n_samples={n_samples}, n_features={n_features}); pass n_components <= "
                f"{max_rank} or fit on more samples."
            )
        if n_features == 1 and not self.center:
            # TruncatedSVD refuses a single feature, with a message naming neither this
            # estimator nor a fix; PCA (center=True) accepts it.
            raise ValueError(
                "PCARankReducer(center=False) needs at least 2 features (its TruncatedSVD "
                f"does), got n_features=1; the rank-{k} approximation of one feature is X "
                "itself: drop the step ('passthrough') or pass center=True."
            )
        if self.svd_solver == "arpack" and k >= max_rank:
            raise ValueError(
                f"svd_solver='arpack' needs n_components < min(n_samples, n_features)="
                f"{max_rank}, got n_components={k}; use svd_solver='auto' or a smaller "
                "n_components."
            )
        # One sample, or identical rows: the variance is zero, and scikit-learn's PCA and
        # TruncatedSVD divide 0 by 0 for explained_variance_ratio_ (NaN, with numpy's
        # "invalid value encountered in divide"; ARPACK's rounding over 0 gave inf).
        zero_variance = bool(np.array_equal(X.max(axis=0), X.min(axis=0)))
        if zero_variance and self.svd_solver == "arpack" and (self.center or not X[0].any()):
            # (ARPACK's "Starting vector is zero": there is nothing to decompose)
            what = ("centred on their mean (center=True) they are all zero" if self.center
                    else "they are all zero")
            raise ValueError(
                f"svd_solver='arpack' cannot decompose these training data: their "
                f"{n_samples} rows are identical and {what}, so ARPACK's starting vector is "
                "zero. Use svd_solver='auto', or fit on samples that differ."
            )
        solver, oversamples, n_iter = self.svd_solver, 10, self.n_iter
        if solver == "auto":
            # Exact and fully seeded. Not ARPACK: when the data have rank <= n_components (clean
            # low-rank images) its Lanczos run restarts from a vector drawn by ARPACK's own
            # process-wide generator, whatever random_state says, so the output changes in the
            # last bits from one fit, or one process, to the next. The randomized solver with
            # a sketch as wide as the whole row space is an exact SVD driven by random_state.
            solver = "full" if self.center else "randomized"
            oversamples = max(10, max_rank - k)
            n_iter = 0  # the sketch spans the whole row space: power iterations add nothing
        if self.center:
            decomposition = PCA(
                n_components=k,
                svd_solver=solver,
                iterated_power=self.n_iter,
                random_state=self.random_state,
            )
        else:
            decomposition = TruncatedSVD(
                n_components=k,
                algorithm=solver,
                n_iter=n_iter,
                n_oversamples=oversamples,
                random_state=self.random_state,
            )
        self.scale_ = _power_of_two_scale(X)
        with (np.errstate(divide="ignore", invalid="ignore") if zero_variance
              else contextlib.nullcontext()):
            decomposition.fit(X if self.scale_ == 1.0 else X / X.dtype.type(self.scale_))
        self.decomposition_ = decomposition
        self.components_ = decomposition.components_
        self.mean_ = (
            decomposition.mean_ * X.dtype.type(self.scale_)
            if self.center
            else np.zeros(n_features, dtype=X.dtype)
        )
        self.n_components_ = k
        self.explained_variance_ratio_ = decomposition.explained_variance_ratio_
        if zero_variance:
            self.explained_variance_ratio_ = np.full_like(self.explained_variance_ratio_, np.nan)
            warnings.warn(
                "PCARankReducer was fitted on data of zero variance ("
                f"{'one sample' if n_samples == 1 else f'{n_samples} identical rows'}): "
                "explained_variance_ratio_ is 0 / 0, "
                "set to NaN (as scikit-learn's PCA does). Fit on samples that differ for a "
                "ratio.",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def transform(self, X):
        """Map each sample to its projection on the fitted rank-K subspace.

        Parameters
        ----------
        X : array-like of shape (n_samples, ``n_features_in_``)
            Samples to project.

        Returns
        -------
        X_low_rank : ndarray of shape (n_samples, ``n_features_in_``)
            Same dtype as ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        scale = X.dtype.type(self.scale_)
        if self.scale_ != 1.0:
            X = X / scale
        # The sklearn decomposition computes X V^T (centred for PCA) and maps it back.
        out = self.decomposition_.inverse_transform(self.decomposition_.transform(X))
        out = np.asarray(out, dtype=X.dtype)
        return out if self.scale_ == 1.0 else out * scale

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
