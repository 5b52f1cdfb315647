"""Tests of sklrank.experiments: the noise sweep and its figure (tiny sweeps)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sklrank.experiments import (  # noqa: E402
    CLASSIFIER_DEFAULTS,
    SYNTHETIC_DEFAULTS,
    noise_sweep,
    plot_noise_sweep,
)

COLUMNS = [
    "dataset",
    "noise_std",
    "seed",
    "data_stable_rank",
    "patch_stable_rank",
    "filter_stable_rank",
    "clean_rank",
    "clean_stable_rank",
    "train_accuracy",
    "test_accuracy",
    "fit_time",
]
# A small and quick synthetic setting: 60 samples, 4 patches of 16 values, 40 steps.
TINY = {
    "n_samples": 60,
    "n_test": 60,
    "data_params": {"n_features": 16, "n_patches": 4},
    "classifier_params": {"max_epochs": 40, "n_filters": 4, "rank_every": 20},
    "verbose": 0,
}


def _numbers(df):
    return df.drop(columns=["fit_time"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny_sweep():
    return noise_sweep(noise_levels=[0.0, 1.0, 0.5], n_seeds=2, **TINY)


def test_tidy_result(tiny_sweep):
    df = tiny_sweep
    assert len(df) == 3 * 2
    assert set(COLUMNS) <= set(df.columns)
    assert (df["dataset"] == "synthetic").all()
    # sorted by noise level, then seed
    assert df["noise_std"].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    assert df["seed"].tolist() == [0, 1, 0, 1, 0, 1]
    # the clean data of the fixed-position model has rank exactly 2K = 4
    assert (df["clean_rank"] == 2 * SYNTHETIC_DEFAULTS["rank"]).all()
    assert (df["n_train"] == 60).all() and (df["n_test"] == 60).all()
    assert (df["n_epochs"] == 40).all()
    assert df[["train_accuracy", "test_accuracy"]].stack().between(0, 1).all()
    assert (df["fit_time"] > 0).all()
    config = df.attrs["config"]
    assert config["noise_levels"] == [0.0, 1.0, 0.5] and config["seeds"] == [0, 1]
    assert config["data"]["n_features"] == 16 and config["data"]["signal_position"] == 0
    assert config["classifier_params"]["max_epochs"] == 40
    assert config["classifier_params"]["lr"] == CLASSIFIER_DEFAULTS["lr"]


def test_data_rank_grows_with_noise(tiny_sweep):
    means = tiny_sweep.groupby("noise_std")["data_stable_rank"].mean()
    assert means.is_monotonic_increasing
    assert means[1.0] > 2 * means[0.0]
    # at zero noise the data matrix is the clean matrix
    clean = tiny_sweep[tiny_sweep["noise_std"] == 0]
    np.testing.assert_allclose(clean["data_stable_rank"], clean["clean_stable_rank"])


def test_same_seeds_same_numbers(tiny_sweep):
    again = noise_sweep(noise_levels=[0.0, 1.0, 0.5], n_seeds=2, **TINY)
    pd.testing.assert_frame_equal(_numbers(again), _numbers(tiny_sweep))
    other = noise_sweep(noise_levels=[1.0], seeds=[7], **TINY)
    assert other["data_stable_rank"].iloc[0] != tiny_sweep["data_stable_rank"].iloc[-1]


@pytest.mark.slow
def test_n_jobs_gives_identical_numbers(tiny_sweep):
    parallel = noise_sweep(noise_levels=[0.0, 1.0, 0.5], n_seeds=2, n_jobs=2, **TINY)
    pd.testing.assert_frame_equal(_numbers(parallel), _numbers(tiny_sweep))


@pytest.mark.slow
def test_dask_client_gives_identical_numbers(tiny_sweep, thread_env_restored):
    distributed = pytest.importorskip("dask.distributed")
    with (
        thread_env_restored(),
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        df = noise_sweep(noise_levels=[0.0, 1.0], seeds=[1], dask_client=client, **TINY)
        # a scheduler address: the sweep connects its own client and closes it afterwards
        by_address = noise_sweep(
            noise_levels=[1.0], seeds=[0], dask_client=cluster.scheduler_address, **TINY
        )
    expected = tiny_sweep[tiny_sweep["seed"] == 1].query("noise_std != 0.5")
    pd.testing.assert_frame_equal(_numbers(df), _numbers(expected))
    assert df.attrs["config"]["backend"] == "dask"
    expected = tiny_sweep.query("seed == 0 and noise_std == 1.0")
    pd.testing.assert_frame_equal(_numbers(by_address), _numbers(expected))


@pytest.mark.slow
def test_synthetic_defaults_meet_the_claim():
    # The acceptance criterion on the two ends of the default grid, with the default data and
    # classifier: the data rank explodes (>= 10x), the filter rank does not move (< 1.5x),
    # and the clean problem is learned (test accuracy >= 0.95).
    levels = SYNTHETIC_DEFAULTS["noise_levels"]
    df = noise_sweep(noise_levels=[levels[0], levels[-1]], n_seeds=3, verbose=0)
    means = df.groupby("noise_std").mean(numeric_only=True)
    low, high = means.iloc[0], means.iloc[-1]
    assert high["data_stable_rank"] >= 10 * low["data_stable_rank"]
    filters = means["filter_stable_rank"]
    assert filters.max() / filters.min() < 1.5
    assert low["test_accuracy"] >= 0.95
    # the filters stay near the clean rank 2K while the data rank is far above it
    assert high["filter_stable_rank"] <= 2 * SYNTHETIC_DEFAULTS["rank"]
    assert high["data_stable_rank"] > 8 * 2 * SYNTHETIC_DEFAULTS["rank"]


def test_clean_ranks_computed_once_per_clean_matrix(monkeypatch):
    # Every noise level of a seed has the same clean matrix: its spectrum is computed once.
    from sklrank.experiments import _sweep

    calls = []
    compute = _sweep._compute_clean_ranks

    def counting(X_clean, rtol):
        calls.append(X_clean.shape)
        return compute(X_clean, rtol)

    monkeypatch.setattr(_sweep, "_compute_clean_ranks", counting)
    monkeypatch.setattr(_sweep, "_CLEAN_RANKS_CACHE", {})
    df = noise_sweep(noise_levels=[0.0, 0.5, 1.0], seeds=[3, 4], **TINY)
    assert len(calls) == 2  # one per seed, not one per (noise level, seed)
    for _, group in df.groupby("seed"):
        assert group["clean_rank"].nunique() == 1 and group["clean_stable_rank"].nunique() == 1
    # the cached values are the computed ones, and other content is not served from the cache
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))
    assert _sweep._clean_ranks(X) == compute(X, 1e-4) == _sweep._clean_ranks(X.copy())
    Y = X.copy()
    Y[0, 0] += 1.0
    assert _sweep._clean_ranks(Y) == compute(Y, 1e-4) != _sweep._clean_ranks(X)
    assert len(calls) == 4
    for i in range(_sweep._CLEAN_RANKS_CACHE_SIZE + 5):  # bounded
        _sweep._clean_ranks(X + i)
    assert len(_sweep._CLEAN_RANKS_CACHE) == _sweep._CLEAN_RANKS_CACHE_SIZE


def test_random_signal_position_raises_the_clean_rank():
    df = noise_sweep(
        noise_levels=[0.0],
        seeds=[0],
        **{**TINY, "data_params": {"n_features": 16, "n_patches": 4,
                                    "signal_position": "random"}},
    )
    # a random patch per sample: the clean data span 2K directions in each of the 4 patches
    assert df["clean_rank"].iloc[0] == 2 * 2 * 4


def test_custom_images_tuple():
    rng = np.random.default_rng(0)
    n, shape = 80, (1, 6, 6)
    y = np.repeat([3, 7], n // 2)
    # two classes of 6 x 6 images around two different templates
    templates = rng.standard_normal((2, 36)).astype(np.float32)
    X = templates[(y == 7).astype(int)] + 0.1 * rng.standard_normal((n, 36)).astype(np.float32)
    df = noise_sweep(
        (X, y, shape),
        noise_levels=[0.0, 1.0],
        seeds=[0],
        rank=3,
        classifier_params={"max_epochs": 30, "n_filters": 2},
        verbose=0,
    )
    assert df["dataset"].tolist() == ["custom", "custom"]
    assert (df["clean_rank"] == 3).all()  # PCA to rank 3, image in a fixed tile
    assert df["n_train"].iloc[0] == 60 and df["n_test"].iloc[0] == 20
    assert df["data_stable_rank"].iloc[1] > df["data_stable_rank"].iloc[0]


@pytest.mark.slow
def test_mnist_two_digits(shared_data_dir, mnist_dir):
    df = noise_sweep(
        "mnist",
        data_home=shared_data_dir,
        classes=[0, 1],
        rank=5,
        n_samples=100,
        n_test=100,
        noise_levels=[0.0, 0.5],
        seeds=[0],
        classifier_params={"max_epochs": 30, "n_filters": 2, "rank_every": None},
        download_if_missing=False,
        verbose=0,
    )
    assert (df["clean_rank"] == 5).all()
    assert df["data_stable_rank"].iloc[1] > 3 * df["data_stable_rank"].iloc[0]
    assert df["test_accuracy"].iloc[0] > 0.9  # zeros against ones, clean


def test_missing_mnist_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST files not found"):
        noise_sweep("mnist", data_home=tmp_path, download_if_missing=False, verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise_levels": [0.0, -1.0]}, "noise_levels must be a non-empty list"),
        ({"noise_levels": []}, "noise_levels must be a non-empty list"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"classes": [0, 1]}, "classes applies to image data sets only"),
        ({"data_params": {"n_pixels": 3}}, r"unknown keys \['n_pixels'\]"),
        ({"classifier_params": {"kernel_size": 3}}, "must not set"),
        ({"n_seeds": 0}, "n_seeds"),
        ({"dataset": (np.zeros((4, 5)), np.zeros(4), (1, 2, 2))}, "does not hold flattened"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        noise_sweep(**{"verbose": 0, **kwargs})


def test_plot(tiny_sweep):
    # "auto": a log scale once the ranks span more than a factor of 5
    spread = tiny_sweep.assign(data_stable_rank=10 * tiny_sweep["data_stable_rank"])
    fig = plot_noise_sweep(spread)
    rank_ax, acc_ax = fig.axes[:2]
    assert rank_ax.get_yscale() == "log"
    labels = [text.get_text() for text in rank_ax.get_legend().get_texts()]
    assert {"data", "patches", "filters"} <= set(labels)
    assert any(label.startswith("clean data rank (4") for label in labels)
    assert acc_ax.get_ylabel() == "accuracy"
    plt.close(fig)

    fig, axes = plt.subplots(1, 2)
    assert plot_noise_sweep(tiny_sweep, axes=axes, log_y=False) is fig
    assert axes[0].get_yscale() == "linear"
    plt.close(fig)

    two = pd.concat([tiny_sweep, tiny_sweep.assign(dataset="other")])
    fig = plot_noise_sweep(two)
    assert len(fig.axes) == 4
    plt.close(fig)


def test_plot_round_trip_through_csv(tiny_sweep, tmp_path):
    path = tmp_path / "sweep.csv"
    tiny_sweep.to_csv(path, index=False)
    fig = plot_noise_sweep(pd.read_csv(path))
    fig.savefig(tmp_path / "sweep.png")
    plt.close(fig)
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def test_plot_bad_input(tiny_sweep):
    with pytest.raises(ValueError, match=r"lacks the columns \['filter_stable_rank'\]"):
        plot_noise_sweep(tiny_sweep.drop(columns="filter_stable_rank"))
    with pytest.raises(ValueError, match="empty"):
        plot_noise_sweep(tiny_sweep.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        plot_noise_sweep(tiny_sweep.to_numpy())
