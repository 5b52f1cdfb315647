"""End to end on real MNIST: rank reduction, noise padding, CNN, grid search over the noise."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklrank import make_rank_pipeline
from sklrank.datasets import fetch_mnist
from sklrank.metrics import data_stable_rank_scorer, filter_stable_rank_scorer

NOISE_LEVELS = [0.0, 1.0, 2.0]
N_COMPONENTS = 10


@pytest.fixture(scope="module")
def mnist_3_vs_8(mnist_dir):
    X, y = fetch_mnist(
        mnist_dir,
        classes=[3, 8],
        n_samples=240,
        random_state=0,
        return_X_y=True,
        download_if_missing=False,
    )
    assert X.dtype == np.float32 and X.shape == (240, 784)
    return X, y


def _search(n_jobs):
    pipe = make_rank_pipeline(
        (1, 28, 28),
        n_components=N_COMPONENTS,
        grid=(2, 2),
        random_state=0,
        n_filters=5,
        lr=2.0,
        max_epochs=50,
    )
    return GridSearchCV(
        pipe,
        {"noise__noise_std": NOISE_LEVELS},
        scoring={
            "accuracy": "accuracy",
            "filter_rank": filter_stable_rank_scorer,
            "data_rank": data_stable_rank_scorer,
        },
        refit="accuracy",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise",
        n_jobs=n_jobs,
    )


@pytest.fixture(scope="module")
def fitted_search(mnist_3_vs_8):
    X, y = mnist_3_vs_8
    return _search(n_jobs=None).fit(X, y)


@pytest.mark.slow
def test_data_rank_grows_with_noise(fitted_search):
    res = fitted_search.cv_results_
    np.testing.assert_array_equal(res["param_noise__noise_std"].astype(float), NOISE_LEVELS)
    data_rank = res["mean_test_data_rank"]
    filter_rank = res["mean_test_filter_rank"]
    accuracy = res["mean_test_accuracy"]
    # The clean images have rank 10, placed in one of 4 tiles: the canvas matrix has rank <= 40.
    assert 1.0 <= data_rank[0] <= 4 * N_COMPONENTS
    assert np.all(np.diff(data_rank) > 0), data_rank
    assert data_rank[-1] > 5 * data_rank[0], data_rank
    # two banks of 5 filters: the filter stable rank lies in [1, 10]; with noise it stays far
    # below the data's
    assert np.all((filter_rank >= 1.0) & (filter_rank <= 10.0)), filter_rank
    assert filter_rank[-1] < data_rank[-1] / 5, (filter_rank, data_rank)
    # 3 versus 8 is learnt from the clean rank-10 images (chance is 0.5)
    assert accuracy[0] > 0.8, accuracy
    best = fitted_search.best_estimator_
    assert best["cnn"].input_shape_ == (1, 56, 56)
    assert best["cnn"].kernel_size_ == (28, 28)
    assert best["cnn"].filters_.shape == (10, 784)


@pytest.mark.slow
def test_same_search_in_two_processes(mnist_3_vs_8, fitted_search):
    X, y = mnist_3_vs_8
    parallel = _search(n_jobs=2).fit(X, y)
    serial_res, res = fitted_search.cv_results_, parallel.cv_results_
    # Each fit gets a clone seeded by random_state, so the processes redraw the same noise and
    # the same initial filters: the numbers agree with the serial search.
    np.testing.assert_allclose(res["mean_test_data_rank"], serial_res["mean_test_data_rank"],
                               rtol=1e-6)
    np.testing.assert_allclose(res["mean_test_filter_rank"],
                               serial_res["mean_test_filter_rank"], rtol=1e-3)
    np.testing.assert_allclose(res["mean_test_accuracy"], serial_res["mean_test_accuracy"],
                               atol=0.02)
    assert np.all(np.diff(res["mean_test_data_rank"]) > 0)
