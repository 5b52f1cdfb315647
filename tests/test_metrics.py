"""Rank scorers: values, unwrapping of Pipelines and searches, errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklrank import (
    BackgroundNoise,
    RankCNNClassifier,
    effective_rank,
    patch_matrix,
    stable_rank,
)
from sklrank.datasets import make_low_rank_patches
from sklrank.metrics import (
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
