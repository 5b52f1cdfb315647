"""Rank scorers: values, unwrapping of Pipelines and searches, errors.

Bad or unusual inputs of the scorers and their answers (X is checked against the final step
as its ``predict`` checks it, after the Pipeline's transforms):

==================================================  ===========================================
input                                               answer
==================================================  ===========================================
X with fewer features than the model was fitted     ValueError "X has 10 features, but
on (bare model, Pipeline, TwoLayerNet*)             RankCNNClassifier is expecting 64" (the
                                                    data scorer returned a number)
DataFrame with other column names than at fit       ValueError "feature names should match"
                                                    (was a number)
ndarray X for a model fitted on a DataFrame         scikit-learn's feature-names UserWarning,
                                                    as predict gives
NaN / inf in X                                      ValueError "Input X contains NaN" (the
                                                    message of predict, not of the rank)
empty X, 1-D X                                      scikit-learn's validate_data error
uint8 X, patches scorer                             the rank, as for float X (was
                                                    NotImplementedError from torch's im2col)
X=None for "data" / "patches"                       ValueError: the scorer needs X
unfitted model, Pipeline or search; refit=False     NotFittedError naming what to fit
a final step that is not a sklrank model            TypeError naming it (a user's subclass of
                                                    a sklrank model is scored; it was refused)
FrozenEstimator, FixedThresholdClassifier,          the ranks of the model they wrap (were
TunedThresholdClassifierCV around a model or        TypeError "needs a sklrank model as the
Pipeline                                            final step"); unfitted threshold
                                                    classifier: NotFittedError
bank not a class of the model                       ValueError naming bank
RankScorer("weights", ...), rank=["stable"]         ValueError naming quantity / rank at
                                                    construction (were KeyError at call,
                                                    TypeError unhashable list)
set_output(transform="pandas") Pipeline in a        the ranks, as with arrays
GridSearchCV
==================================================  ===========================================
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    TunedThresholdClassifierCV,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklrank import (
    BackgroundNoise,
    RankCNNClassifier,
    TwoLayerNetClassifier,
    effective_rank,
    patch_matrix,
    stable_rank,
)
from sklrank.datasets import make_low_rank_patches
from sklrank.metrics import (
    RankScorer,
    data_stable_rank_scorer,
    filter_stable_rank_scorer,
    make_rank_scorer,
)

INPUT_SHAPE, KERNEL = (1, 4, 16), (1, 16)


@pytest.fixture(scope="module")
def data():
    return make_low_rank_patches(
        n_samples=60, n_features=16, n_patches=4, rank=2, noise_std=0.5, random_state=0
    )


def _clf(**params):
    params = {"input_shape": INPUT_SHAPE, "kernel_size": KERNEL, "n_filters": 3,
              "max_epochs": 15, "random_state": 0, **params}
    return RankCNNClassifier(**params)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return _clf().fit(X, y)


def test_filter_scorers_match_the_fitted_attributes(data, fitted):
    X, y = data
    assert filter_stable_rank_scorer(fitted, X, y) == pytest.approx(fitted.filter_stable_rank_)
    assert filter_stable_rank_scorer(fitted, X, y) == pytest.approx(stable_rank(fitted.filters_))
    for label in fitted.classes_:
        scorer = make_rank_scorer("filters", bank=label)
        assert scorer(fitted, X, y) == pytest.approx(fitted.filter_bank_stable_ranks_[label])
    # the banks differ, so the bank scorers select different rows
    bank_ranks = [make_rank_scorer(bank=c)(fitted, X, y) for c in fitted.classes_]
    assert bank_ranks[0] != bank_ranks[1]
    assert make_rank_scorer("filters", "effective")(fitted, X, y) == pytest.approx(
        effective_rank(fitted.filters_)
    )


def test_data_and_patch_scorers_on_a_bare_classifier(data, fitted):
    X, y = data
    assert data_stable_rank_scorer(fitted, X, y) == pytest.approx(stable_rank(X))
    assert make_rank_scorer("data", "effective")(fitted, X, y) == pytest.approx(
        effective_rank(X)
    )
    patches = patch_matrix(X, INPUT_SHAPE, KERNEL)
    assert patches.shape == (60 * 4, 16)
    assert make_rank_scorer("patches")(fitted, X, y) == pytest.approx(stable_rank(patches))


def test_data_scorer_sees_x_after_the_pipeline_transforms(data):
    X, y = data
    scale = FunctionTransformer(lambda Z: Z * np.linspace(1.0, 3.0, Z.shape[1], dtype=Z.dtype))
    pipe = make_pipeline(scale, StandardScaler(), _clf()).fit(X, y)
    Xt = pipe[:-1].transform(X)
    assert data_stable_rank_scorer(pipe, X, y) == pytest.approx(stable_rank(Xt))
    assert data_stable_rank_scorer(pipe, X, y) != pytest.approx(stable_rank(X), rel=1e-3)
    assert make_rank_scorer("patches")(pipe, X, y) == pytest.approx(
        stable_rank(patch_matrix(Xt, INPUT_SHAPE, KERNEL))
    )
    # nested Pipelines compose their transforms
    nested = make_pipeline(scale, make_pipeline(StandardScaler(), _clf())).fit(X, y)
    assert data_stable_rank_scorer(nested, X, y) == pytest.approx(stable_rank(Xt), rel=1e-5)
    assert filter_stable_rank_scorer(nested, X, y) == pytest.approx(
        nested[-1][-1].filter_stable_rank_
    )


def test_data_scorer_redraws_the_noise(data):
    X, y = data
    noise = BackgroundNoise(1.0, INPUT_SHAPE, grid=(2, 1), random_state=0)
    pipe = make_pipeline(noise, _clf(input_shape=(1, 8, 16))).fit(X, y)
    first, second = data_stable_rank_scorer(pipe, X, y), data_stable_rank_scorer(pipe, X, y)
    assert first != second  # fresh noise at each transform, as documented
    assert first == pytest.approx(second, rel=0.2)
    assert first > stable_rank(X)  # the noise tiles add rank


def test_scorers_in_a_search_and_on_the_fitted_search(data):
    X, y = data
    search = GridSearchCV(
        _clf(),
        {"n_filters": [1, 4]},
        cv=2,
        scoring={
            "accuracy": "accuracy",
            "filter_rank": filter_stable_rank_scorer,
            "data_rank": data_stable_rank_scorer,
            "patch_rank": make_rank_scorer("patches", "effective"),
        },
        refit="accuracy",
        error_score="raise",
    ).fit(X, y)
    res = search.cv_results_
    # one filter per bank: two filters in all, stable rank in [1, 2]
    assert 1.0 <= res["mean_test_filter_rank"][0] <= 2.0
    assert res["mean_test_filter_rank"][1] > 1.0
    assert np.all(res["mean_test_data_rank"] > 1.0)
    assert np.all(np.isfinite(res["mean_test_patch_rank"]))
    best = search.best_estimator_
    assert filter_stable_rank_scorer(search, X, y) == pytest.approx(best.filter_stable_rank_)
    cv = cross_validate(_clf(), X, y, cv=2, scoring={"f": filter_stable_rank_scorer})
    assert np.all(cv["test_f"] >= 1.0)


def test_unfitted_and_foreign_estimators_raise(data):
    X, y = data
    with pytest.raises(NotFittedError, match="RankCNNClassifier is not fitted"):
        filter_stable_rank_scorer(_clf(), X, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        data_stable_rank_scorer(make_pipeline(StandardScaler(), _clf()), X, y)
    with pytest.raises(NotFittedError, match="best_estimator_"):
        filter_stable_rank_scorer(GridSearchCV(_clf(), {"n_filters": [1, 2]}), X, y)
    no_refit = GridSearchCV(_clf(), {"n_filters": [1, 2]}, cv=2, refit=False).fit(X, y)
    with pytest.raises(NotFittedError, match="refit"):
        filter_stable_rank_scorer(no_refit, X, y)
    logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    for scorer in (filter_stable_rank_scorer, data_stable_rank_scorer):
        with pytest.raises(TypeError, match="LogisticRegression"):
            scorer(logistic, X, y)


def test_frozen_and_threshold_wrappers_are_scored_by_their_model(data, fitted):
    # scikit-learn's wrappers of a fitted model were refused as "needs a sklrank model as
    # the final step"
    X, y = data
    pipe = make_pipeline(StandardScaler(), _clf()).fit(X, y)
    fixed = FixedThresholdClassifier(_clf(), threshold=0.7).fit(X, y)
    tuned = TunedThresholdClassifierCV(FrozenEstimator(pipe), cv=2).fit(X, y)
    for wrapper, model, Xt in [
        (FrozenEstimator(fitted), fitted, X),
        (FrozenEstimator(pipe), pipe[-1], pipe[:-1].transform(X)),
        (fixed, fixed.estimator_, X),
        (tuned, pipe[-1], pipe[:-1].transform(X)),
    ]:
        assert filter_stable_rank_scorer(wrapper, X, y) == pytest.approx(model.filter_stable_rank_)
        assert data_stable_rank_scorer(wrapper, X, y) == pytest.approx(stable_rank(Xt))
    with pytest.raises(NotFittedError, match="FixedThresholdClassifier is not fitted"):
        filter_stable_rank_scorer(FixedThresholdClassifier(_clf()), X, y)


class _UserCNN(RankCNNClassifier):
    """A user's subclass, defined outside sklrank."""


def test_a_subclass_of_a_sklrank_model_is_scored(data):
    # it was refused as "needs a sklrank model as the final step" (its module is the user's)
    X, y = data
    clf = _UserCNN(input_shape=INPUT_SHAPE, kernel_size=KERNEL, n_filters=3, max_epochs=15,
                   random_state=0).fit(X, y)
    assert filter_stable_rank_scorer(clf, X, y) == pytest.approx(stable_rank(clf.filters_))
    pipe = make_pipeline(StandardScaler(), clf)
    pipe.fit(X, y)
    assert data_stable_rank_scorer(pipe, X, y) == pytest.approx(
        stable_rank(pipe[:-1].transform(X))
    )


def test_make_rank_scorer_bad_arguments(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match="quantity"):
        make_rank_scorer("weights")
    with pytest.raises(ValueError, match="rank"):
        make_rank_scorer("filters", rank="numerical")
    with pytest.raises(ValueError, match="bank"):
        make_rank_scorer("data", bank=1)
    with pytest.raises(ValueError, match="bank=7"):
        make_rank_scorer(bank=7)(fitted, X, y)
    assert "patches" in repr(make_rank_scorer("patches"))


# --------------------------------------------------------------------------- hostile inputs

PATCHES = make_rank_scorer("patches")


def test_scorers_check_x_as_predict_does(data, fitted):
    # issue 17: data_stable_rank_scorer(clf, X[:, :10], y) returned a number for a model
    # fitted on 64 features, where clf.predict(X[:, :10]) raises
    X, y = data
    with pytest.raises(ValueError, match="X has 10 features") as predict_error:
        fitted.predict(X[:, :10])
    for scorer in (data_stable_rank_scorer, PATCHES):
        with pytest.raises(ValueError, match="X has 10 features") as scorer_error:
            scorer(fitted, X[:, :10], y)
        assert str(scorer_error.value) == str(predict_error.value)
    # in a Pipeline, the final step is checked on what it receives
    identity = FunctionTransformer(lambda Z: Z)
    pipe = make_pipeline(identity, _clf()).fit(X, y)
    with pytest.raises(ValueError, match="RankCNNClassifier is expecting 64 features"):
        data_stable_rank_scorer(pipe, X[:, :10], y)
    two_layer = TwoLayerNetClassifier(n_hidden=4, max_epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="TwoLayerNetClassifier is expecting 64 features"):
        data_stable_rank_scorer(two_layer, X[:, :10], y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_x_gets_the_message_of_predict(data, fitted, bad):
    X, y = data
    X = X.copy()
    X[3, 7] = bad
    for scorer in (data_stable_rank_scorer, PATCHES):
        with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
            scorer(fitted, X, y)


def test_feature_names_are_checked_as_predict_checks_them(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    clf = _clf(max_epochs=2).fit(df, y)
    assert data_stable_rank_scorer(clf, df, y) == pytest.approx(stable_rank(X))
    renamed = df.rename(columns={"px0": "other"})
    with pytest.raises(ValueError, match="feature names should match"):
        data_stable_rank_scorer(clf, renamed, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        data_stable_rank_scorer(clf, X, y)


def test_integer_x_and_one_sample(data, fitted):
    X, y = data
    raw = np.round(np.abs(X) * 40).astype(np.uint8)
    assert PATCHES(fitted, raw, y) == pytest.approx(
        stable_rank(patch_matrix(raw.astype(np.float64), INPUT_SHAPE, KERNEL))
    )
    assert data_stable_rank_scorer(fitted, raw, y) == pytest.approx(
        stable_rank(raw.astype(np.float64))
    )
    assert data_stable_rank_scorer(fitted, X[:1], y[:1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0 sample"):
        data_stable_rank_scorer(fitted, X[:0], y[:0])


def test_scorer_parameters_are_checked_at_construction():
    with pytest.raises(ValueError, match="quantity must be one of"):
        RankScorer("weights", "stable")
    with pytest.raises(ValueError, match="rank must be one of"):
        make_rank_scorer("filters", ["stable"])
    with pytest.raises(ValueError, match="bank=1 selects a bank"):
        RankScorer("patches", "stable", bank=1)


def test_pandas_output_pipeline_in_a_search(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    noise = BackgroundNoise(1.0, INPUT_SHAPE, grid=(2, 1), random_state=0)
    pipe = make_pipeline(noise, _clf(input_shape=(1, 8, 16), max_epochs=2))
    pipe.set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")  # issue 14
        search = GridSearchCV(
            pipe,
            {"backgroundnoise__noise_std": [0.0, 1.0]},
            cv=2,
            scoring={"accuracy": "accuracy", "data": data_stable_rank_scorer, "patches": PATCHES},
            refit="accuracy",
            error_score="raise",
        ).fit(df, y)
    data_rank = search.cv_results_["mean_test_data"]
    assert np.all(np.isfinite(data_rank)) and data_rank[1] > data_rank[0]
