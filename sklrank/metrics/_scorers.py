"""Scorers ``scorer(estimator, X, y)`` that report ranks in model selection (GridSearchCV)."""

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._patches import patch_matrix
from .._rank import effective_rank, stable_rank
from .._validation import validate_data

__all__ = [
    "RankScorer",
    "make_rank_scorer",
    "filter_stable_rank_scorer",
    "data_stable_rank_scorer",
]

_QUANTITIES = ("filters", "data", "patches")
_RANKS = {"stable": stable_rank, "effective": effective_rank}


def _unwrap(estimator):
    """``(transforms, final)``: the Pipeline prefix (or None) and the fitted final estimator.

    Fitted searches are replaced by their ``best_estimator_``, a
    :class:`~sklearn.frozen.FrozenEstimator` by the estimator it freezes, a threshold
    classifier (:class:`~sklearn.model_selection.FixedThresholdClassifier`,
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV`) by its fitted
    ``estimator_`` (the threshold changes the labels, not the model); nested Pipelines are
    followed to their last step, the transforms of every level composed in order.
    """
    prefixes = []
    while True:
        if hasattr(estimator, "cv_results_") or hasattr(estimator, "param_grid") or hasattr(
            estimator, "param_distributions"
        ):
            if not hasattr(estimator, "best_estimator_"):
                raise NotFittedError(
                    f"The search {type(estimator).__name__} has no best_estimator_: fit it "
                    "(with refit set, e.g. refit='accuracy') before scoring it."
                )
            estimator = estimator.best_estimator_
        elif isinstance(estimator, FrozenEstimator):
            estimator = estimator.estimator
        elif isinstance(estimator, (FixedThresholdClassifier, TunedThresholdClassifierCV)):
            if not hasattr(estimator, "estimator_"):
                raise NotFittedError(
                    f"The {type(estimator).__name__} is not fitted (it has no estimator_); "
                    "fit it before scoring it."
                )
            estimator = estimator.estimator_
        elif isinstance(estimator, Pipeline):
            if len(estimator.steps) > 1:
                prefixes.append(estimator[:-1])
            estimator = estimator.steps[-1][1]
        else:
            break
    return prefixes, estimator


def _transform(prefixes, X):
    """Apply the Pipeline transforms in order: X as the final step receives it."""
    for prefix in prefixes:
        X = prefix.transform(X)
    return X


class RankScorer:
    """A scorer ``scorer(estimator, X, y)`` returning a rank of a fitted sklrank model.

    Build it with :func:`make_rank_scorer`; :data:`filter_stable_rank_scorer` and
    :data:`data_stable_rank_scorer` are ready-made instances. The estimator may be a
    :class:`~sklearn.pipeline.Pipeline` (its last step is the model and ``X`` goes through the
    other steps first), a fitted search such as :class:`~sklearn.model_selection.
    GridSearchCV` (its ``best_estimator_`` is scored), a :class:`~sklearn.frozen.
    FrozenEstimator` or a fitted threshold classifier (the model it wraps is scored).

    Parameters
    ----------
    quantity : {"filters", "data", "patches"}
        The matrix whose rank is returned (see :func:`make_rank_scorer`).
    rank : {"stable", "effective"}
        :func:`sklrank.stable_rank` or :func:`sklrank.effective_rank`.
    bank : class label or None
        With ``quantity="filters"``, the bank of filters of this class only.

    Examples
    --------
    >>> from sklrank import RankCNNClassifier
    >>> from sklrank.datasets import make_low_rank_patches
    >>> from sklrank.metrics import RankScorer
    >>> X, y = make_low_rank_patches(n_samples=40, n_features=16, random_state=0)
    >>> clf = RankCNNClassifier(input_shape=(1, 4, 16), kernel_size=(1, 16), n_filters=2,
    ...                         max_epochs=5, random_state=0).fit(X, y)
    >>> scorer = RankScorer("filters", "stable")
    >>> bool(1.0 <= scorer(clf, X, y) <= 4.0)  # 4 filters
    True
    """

    def __init__(self, quantity, rank, bank=None):
        if not isinstance(quantity, str) or quantity not in _QUANTITIES:
            raise ValueError(f"quantity must be one of {_QUANTITIES}, got {quantity!r}.")
        if not isinstance(rank, str) or rank not in _RANKS:
            raise ValueError(f"rank must be one of {tuple(_RANKS)}, got {rank!r}.")
        if bank is not None and quantity != "filters":
            raise ValueError(
                f"bank={bank!r} selects a bank of filters; it needs quantity='filters', got "
                f"quantity={quantity!r}."
            )
        self.quantity = quantity
        self.rank = rank
        self.bank = bank

    def __repr__(self):
        bank = "" if self.bank is None else f", bank={self.bank!r}"
        return f"make_rank_scorer(quantity={self.quantity!r}, rank={self.rank!r}{bank})"

    def _final_step(self, estimator):
        prefixes, final = _unwrap(estimator)
        name = type(final).__name__
        # a sklrank model or a subclass of one (a user's, defined in another module)
        if not any(c.__module__.startswith("sklrank") for c in type(final).__mro__):
            raise TypeError(
                f"{self!r} needs a sklrank model as the final step, got {name} "
                f"({type(final).__module__}); put a sklrank.RankCNNClassifier last in the "
                "Pipeline."
            )
        needed = {
            "filters": ("filters_", "classes_"),
            "patches": ("input_shape_", "kernel_size_", "stride_"),
            "data": ("n_features_in_",),
        }[self.quantity]
        try:
            check_is_fitted(final)
        except NotFittedError as exc:
            check_not_failed = getattr(final, "_check_not_failed", None)
            if check_not_failed is not None:
                check_not_failed()  # the network of a fit that failed: says which failure
            raise NotFittedError(
                f"The final step {name} is not fitted; fit the estimator before scoring it "
                f"with {self!r}."
            ) from exc
        missing = [a for a in needed if not hasattr(final, a)]
        if missing:
            raise TypeError(
                f"{self!r} needs a final step with the fitted attributes {missing}, which "
                f"{name} does not have; use a sklrank.RankCNNClassifier."
            )
        return prefixes, final

    def _matrix(self, prefixes, final, X):
        if self.quantity == "filters":
            filters = np.asarray(final.filters_)
            if self.bank is None:
                return filters
            classes = list(final.classes_)
            if self.bank not in classes:
                raise ValueError(
                    f"bank={self.bank!r} is not a class of the fitted model; pass one of "
                    f"{classes} or None (all filters)."
                )
            size = filters.shape[0] // len(classes)
            i = classes.index(self.bank)
            return filters[i * size : (i + 1) * size]
        if X is None:
            raise ValueError(f"{self!r} needs X: call scorer(estimator, X, y).")
        # X as the final step receives it, checked as its predict checks it (number of
        # features, feature names, finite values): a model's rank is never read off data the
        # model would refuse. Integer data become float64 for the rank.
        Xt = _transform(prefixes, X)
        Xt = validate_data(
            final, Xt, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=True
        )
        if self.quantity == "data":
            return Xt
        return patch_matrix(
            Xt, final.input_shape_, final.kernel_size_, final.stride_, final.padding
        )

    def __call__(self, estimator, X=None, y=None, **kwargs):
        """The rank of the chosen matrix of ``estimator`` (on ``X`` for data and patches).

        Parameters
        ----------
        estimator : fitted sklrank estimator, Pipeline ending with one, or a wrapper of those
            The model; a fitted search, a FrozenEstimator or a fitted threshold classifier
            is scored by the model it holds.
        X : array-like of shape (n_samples, n_features)
            Data before the Pipeline's transforms (ignored for ``quantity="filters"``). After
            the transforms it is checked against the final step as its ``predict`` checks
            it: the number of features it was fitted on, its feature names, finite values.
        y : array-like, default=None
            Ignored; present for the scorer signature.
        **kwargs
            Ignored (e.g. metadata routed by a search).

        Returns
        -------
        rank : float

        Raises
        ------
        ValueError
            If ``X`` (after the transforms) does not fit the final step: another number of
            features, NaN or inf values; or ``X`` is None for "data" and "patches".
        """
        prefixes, final = self._final_step(estimator)
        return float(_RANKS[self.rank](self._matrix(prefixes, final, X)))


def make_rank_scorer(quantity="filters", rank="stable", bank=None):
    """Make a scorer that reports a rank of a fitted sklrank model, for searches and CV.

    The scorer is called as ``scorer(estimator, X, y)`` like any scikit-learn scorer, so it
    goes in ``scoring=`` of :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_validate` (next to ``"accuracy"``). It unwraps
    Pipelines (the last step is the model, ``X`` goes through the other steps), fitted
    searches (their ``best_estimator_``), :class:`~sklearn.frozen.FrozenEstimator` and fitted
    threshold classifiers (the model they wrap). A rank is neither better high nor low: use it to
    read, not as ``refit``.

    Parameters
    ----------
    quantity : {"filters", "data", "patches"}, default="filters"
        - "filters": the first-layer filters ``filters_`` of the final step, one filter a
          row (``X`` is not used);
        - "data": ``X`` as the final step receives it, one sample a row, i.e. after the
          Pipeline's transforms. Transforms that draw noise at transform time
          (:class:`sklrank.BackgroundNoise`) draw fresh noise at each call, so this is the
          rank of a new noisy copy of ``X``, not of the training matrix;
        - "patches": every patch the filters see in that ``X``, one patch a row
          (:func:`sklrank.patch_matrix` with the final step's geometry).
    rank : {"stable", "effective"}, default="stable"
        :func:`sklrank.stable_rank` or :func:`sklrank.effective_rank`.
    bank : class label or None, default=None
        With ``quantity="filters"``, only that class's bank of filters (one of
        ``classes_``); None uses all the filters.

    Returns
    -------
    scorer : RankScorer
        Callable ``scorer(estimator, X, y) -> float``.

    Raises
    ------
    ValueError
        For an unknown ``quantity`` or ``rank``, or a ``bank`` with another quantity.

    Notes
    -----
    Calling the scorer raises :class:`~sklearn.exceptions.NotFittedError` when the model (or
    the search) is not fitted and :class:`TypeError` when the final step is not a sklrank
    model with the needed fitted attributes.

    Examples
    --------
    >>> from sklrank.metrics import make_rank_scorer
    >>> make_rank_scorer("patches", rank="effective")
    make_rank_scorer(quantity='patches', rank='effective')
    """
    return RankScorer(quantity, rank, bank)


#: Stable rank of the final step's filter matrix ``filters_``: ``scorer(estimator, X, y)``.
filter_stable_rank_scorer = make_rank_scorer("filters", "stable")

#: Stable rank of X as the final step receives it (after the Pipeline's transforms; noise
#: transforms redraw their noise at each call): ``scorer(estimator, X, y)``.
data_stable_rank_scorer = make_rank_scorer("data", "stable")
