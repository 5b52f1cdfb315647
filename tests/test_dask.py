"""A scikit-learn search over a sklrank Pipeline on a Dask cluster gives the local numbers.

The cluster is real: two worker processes on the loopback interface, reached through
joblib's Dask backend as in the README. The search is seeded end to end (the rank
reducer's SVD, the noise generator that ``BackgroundNoise.fit`` creates, the network's
initialisation), and every fit runs on an unfitted clone, so the fits and scores must be
bitwise identical wherever they run. (They were not while PCARankReducer's "auto" solver was
ARPACK, whose restarts on low-rank data draw from a process-wide generator.)
"""

import json

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sklrank import make_rank_pipeline
from sklrank.datasets import make_low_rank_patches
from sklrank.metrics import data_stable_rank_scorer, filter_stable_rank_scorer

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client(thread_env_restored):
    # Loopback only, a random free port (safe under pytest-xdist, where two test processes may
    # each start a cluster) and no dashboard.
    with (
        thread_env_restored(),
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _search(n_jobs):
    # 80 samples of 4 patches of 16 values; the noise canvas is 2 x 2 images, so the CNN sees
    # 4 tiles of 64 pixels a sample. Tiny, but the clean problem is learnt (accuracy ~0.95).
    X, y = make_low_rank_patches(n_samples=80, n_features=16, n_patches=4, random_state=0)
    pipe = make_rank_pipeline(
        (1, 4, 16), n_components=16, random_state=0, n_filters=4, max_epochs=20, lr=20.0,
        init_std=0.1,
    )
    search = GridSearchCV(
        pipe,
        {"noise__noise_std": [0.0, 1.0]},
        cv=2,
        scoring={
            "accuracy": "accuracy",
            "filter_rank": filter_stable_rank_scorer,
            "data_rank": data_stable_rank_scorer,
        },
        refit="accuracy",
        error_score="raise",
        n_jobs=n_jobs,
    )
    return search.fit(X, y)


def test_grid_search_on_dask_gives_identical_numbers(client):
    with distributed.get_task_stream(client=client) as tasks, joblib.parallel_config(
        backend="dask"
    ):
        on_dask = _search(n_jobs=-1)
    # the fits did run on the cluster's worker processes
    workers = set(client.scheduler_info()["workers"])
    assert tasks.data and {task["worker"] for task in tasks.data} <= workers

    local = _search(n_jobs=1)
    assert on_dask.cv_results_["params"] == local.cv_results_["params"]
    numeric = [
        key
        for key in local.cv_results_
        if key.startswith(("split", "mean_test_", "std_test_", "rank_test_"))
    ]
    assert len(numeric) == 3 * (2 + 3)  # 3 metrics: 2 splits, mean, std, rank
    for key in numeric:
        np.testing.assert_array_equal(on_dask.cv_results_[key], local.cv_results_[key], key)
    np.testing.assert_array_equal(
        on_dask.cv_results_["param_noise__noise_std"], local.cv_results_["param_noise__noise_std"]
    )
    assert on_dask.best_index_ == local.best_index_
    np.testing.assert_array_equal(
        on_dask.best_estimator_["cnn"].filters_, local.best_estimator_["cnn"].filters_
    )
    # the search is meaningful: the clean problem is learnt, and noise raises the data rank
    accuracy = local.cv_results_["mean_test_accuracy"]
    data_rank = local.cv_results_["mean_test_data_rank"]
    assert accuracy[0] > 0.8 and data_rank[1] > 1.2 * data_rank[0]


def test_batched_sweep_on_dask_spreads_its_batches(client):
    # Two workers: the sweep's one batch is cut in two, one a worker, with the local numbers.
    from sklrank.experiments import noise_sweep

    kwargs = {"noise_levels": [0.0, 0.5, 1.0], "n_seeds": 2, "n_samples": 60, "n_test": 60,
              "data_params": {"n_features": 16, "n_patches": 4}, "verbose": 0,
              "classifier_params": {"max_epochs": 30, "n_filters": 4, "rank_every": 10}}
    with distributed.get_task_stream(client=client) as tasks:
        on_dask = noise_sweep(dask_client=client, **kwargs)
    assert len({task["worker"] for task in tasks.data}) == 2
    local = noise_sweep(**kwargs)
    assert on_dask["n_batched"].tolist() == [3] * 6 and local["n_batched"].tolist() == [6] * 6
    numbers = [c for c in local.columns if c not in ("fit_time", "n_batched")]
    for column in numbers:
        np.testing.assert_array_equal(on_dask[column], local[column], column)


def test_a_failed_point_on_dask_lets_the_other_workers_finish(tmp_path, thread_env_restored):
    # Two workers, one batch each; the first batch holds the diverging points. The other
    # worker's batch was abandoned (its points lost) when the failure came back; now it
    # finishes, its points are saved, then the failure is raised.
    from sklrank.exceptions import TrainingDivergedError
    from sklrank.experiments import noise_sweep

    path = tmp_path / "sweep.jsonl"
    kwargs = {"noise_levels": [1e30, 0.0, 0.5, 1.0], "seeds": [0, 1], "n_samples": 60,
              "n_test": 60, "data_params": {"n_features": 16, "n_patches": 4}, "verbose": 0,
              "classifier_params": {"max_epochs": 100, "n_filters": 4, "rank_every": 20},
              "checkpoint": path}
    with (
        thread_env_restored(),
        distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(TrainingDivergedError) as info,
    ):
        noise_sweep(dask_client=client, **kwargs)
    if hasattr(info.value, "add_note"):
        notes = " ".join(info.value.__notes__)
        assert "noise_std=1e+30, seed=" in notes and "1 more sweep point(s) failed" in notes
    saved = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert sorted((row["noise_std"], row["seed"]) for row in saved) == [
        (level, seed) for level in (0.0, 0.5, 1.0) for seed in (0, 1)]
