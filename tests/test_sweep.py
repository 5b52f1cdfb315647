"""Tests of sklrank.experiments: the noise sweep, the sample-size study and their figures.

Bad and hostile inputs, and the answer each gets (tests below, and the command line's in
tests/test_cli.py); every error is raised before the first fit unless said otherwise.

========================================  ====================================================
input                                     answer
========================================  ====================================================
noise_levels with NaN, inf or < 0         ValueError: "non-empty list of finite values >= 0"
noise_levels empty / not numbers          ValueError naming noise_levels
noise_levels above 1e37                   ValueError: "overflows the float32 data"
noise_levels with a repeated level        ValueError: "holds [0.5] more than once"
seeds negative, fractional, >= 2**32      ValueError: "integers in [0, 2**32 - 1]"
seeds repeated                            ValueError: "the same fits twice"
n_seeds above 100000, or more seeds       ValueError naming n_seeds / seeds, the command
                                          line's limit (2000000000 filled the memory)
n_seeds=True, n_samples=True, n_jobs=True InvalidParameterError "a bool is not taken for a
(bools), also in sample_size_study        number", as the estimators' (the sweeps had a
                                          message of their own)
classes for synthetic data                ValueError: "applies to image data sets only"
classes not labels of the data            ValueError listing the valid labels
classes with one label, or repeated       ValueError: "keeps one class only" / "more than once"
custom images with one class in y         ValueError: "holds one class only"
custom images with NaN in X               ValueError naming dataset's X
custom images, class with 1 sample        ValueError: the stratified split needs 2 a class
rank (K) > n_features (synthetic)         ValueError: directions do not fit in n_features
rank (K) > min(n_samples, pixels)         ValueError: "lower rank or use more samples"
n_samples > the images available          ValueError: "exceeds the N training images"
n_samples < 2, or a seed's draw of one    ValueError: "n_samples=N is too few", naming the
class                                     fewest that do (synthetic: failed when the point
                                          was prepared, after others trained)
noise level in (0, 1.18e-38): float32     ValueError: "underflows the float32 data", before
subnormal                                 any fit (synthetic: failed at that point after
                                          others trained; images: taken, noise rounded)
canvas (0, 2), (2,), (2.5, 2)             ValueError: canvas is (rows, columns), ints >= 1
canvas 3 (an int)                         (3, 3), as BackgroundNoise's grid (was refused)
canvas (1, 1) with noise padding          ValueError: "leaves no tile for the noise"
canvas or position with additive noise    ValueError: not used by noise_mode='additive'
                                          (were ignored, and recorded as used)
n_patches=1 (synthetic) with noise > 0    ValueError: "leaves no patch for the noise"
                                          (every level trained on the same data)
data_params of the wrong type or range    ValueError "data_params: ..." naming the
                                          parameter (failed in numpy, after loading)
position outside the canvas               ValueError from BackgroundNoise naming the tiles
unknown data_params / classifier_params   ValueError naming the keys
data_params setting rank, n_samples, ...  ValueError: pass them as arguments (went
                                          around their checks: rank=None, a TypeError)
classifier_params setting device etc.     ValueError: "the sweep sets them"
device="cuda" without a CUDA device       ValueError: "torch finds no CUDA device here"
device="tpu" (not a torch device)         ValueError: "not a torch device"
device="cuda", n_jobs=2, batched=False   ValueError: points on one GPU run one after another
n_jobs=0                                  ValueError naming n_jobs
backend="multiprocessing"                 InvalidParameterError (no result streaming there)
backend="dask" and no Client running      ValueError: create one or pass dask_client (joblib's
                                          error came after the data were loaded)
batched=np.False_ / np.True_              the bools (np.False_ raised ZeroDivisionError)
missing MNIST files, no download          FileNotFoundError: which files to put where
checkpoint in a missing folder / folder   CheckpointError (ValueError) naming the path
checkpoint of another configuration       CheckpointError listing each difference
checkpoint with an edited function of     CheckpointError (described by its name only, it
__main__ (a script's, a notebook's)       resumed the old results); the same code under
                                          another file name resumes (a lambda could not)
checkpoint that is not one (e.g. a CSV)   CheckpointError: "is not a sweep checkpoint"; kept
checkpoint with a damaged line            CheckpointError: "line N ... is damaged"
checkpoint with a half-written last line  that point is dropped and run again
checkpoint held by a running sweep        CheckpointError: "in use by another running sweep"
interrupted or failed sweep               finished points kept; same call resumes, bitwise
a fit that raises                         the error, with a note naming the point, once
                                          the points training at once are saved (they
                                          were abandoned)
plot: not a DataFrame / empty / columns   TypeError / ValueError naming df
plot: ax and axes together, wrong axes    ValueError; ax not an Axes: TypeError
plot: ax with several data sets           ValueError: select one
plot_noise_sweep of several n_train       ValueError: select one, or plot_sample_size_study
study plot with one noise level           ValueError (ax=... draws the left panel only)
study plot with a stable rank of 0 (all-   growth NaN, left out, one RuntimeWarning naming
zero filters) at the first or last noise  a row (was numpy's "divide by zero encountered")
plot of fits that did not train           their filter ranks (and accuracies) crossed out in
(training_warning set)                    red, counted in the legend, left out of the means
                                          and bands (were in them; before, unmarked)
study n_samples empty / repeated / < 1    ValueError naming n_samples
========================================  ====================================================
"""

import copy
import functools
import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklrank.exceptions import TrainingDivergedError  # noqa: E402
from sklrank.experiments import (  # noqa: E402
    CLASSIFIER_DEFAULTS,
    SYNTHETIC_DEFAULTS,
    _sweep,
    noise_sweep,
    plot_noise_sweep,
    plot_sample_size_study,
    sample_size_study,
)
from sklrank.experiments._checkpoint import CheckpointError, SweepCheckpoint  # noqa: E402

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
LEVELS = [0.0, 1.0, 0.5]
ALONE = {**TINY, "batched": False}

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# the point preparation as it is, before a test replaces it
PREPARE = _sweep._prepare
# batched against one-by-one sweeps: what tests/test_batched.py states for the fits
RANK_RTOL = 1e-5


def _numbers(df):
    """The numbers of a sweep: without the timings and how many points trained together."""
    return df.drop(columns=["fit_time", "n_batched"]).reset_index(drop=True)


def _two_class_images(n=80, side=6, seed=0):
    """Two classes of ``side x side`` images around two different templates."""
    rng = np.random.default_rng(seed)
    y = np.repeat([3, 7], n // 2)
    templates = rng.standard_normal((2, side * side)).astype(np.float32)
    noise = 0.1 * rng.standard_normal((n, side * side)).astype(np.float32)
    return templates[(y == 7).astype(int)] + noise, y, (1, side, side)


@pytest.fixture(scope="module")
def tiny_sweep():
    return noise_sweep(noise_levels=LEVELS, n_seeds=2, **TINY)


@pytest.fixture(scope="module")
def tiny_sweep_alone():
    """The same sweep, one point at a time."""
    return noise_sweep(noise_levels=LEVELS, n_seeds=2, batched=False, **TINY)


@pytest.fixture
def no_fit(monkeypatch):
    """Make any sweep point fail the test: the error must come before the first fit."""

    def fail(*args, **kwargs):
        raise AssertionError("a point ran although the input is invalid")

    monkeypatch.setattr(_sweep, "_prepare", fail)


def _interrupt_after(monkeypatch, k, exception=KeyboardInterrupt):
    """Point preparation raising ``exception`` when point k + 1 starts (in a batch, the
    whole batch then stops before it trains)."""
    calls = []

    def prepare(*args, **kwargs):
        if len(calls) == k:
            raise exception("stopped")
        calls.append(args[1:3])
        return PREPARE(*args, **kwargs)

    monkeypatch.setattr(_sweep, "_prepare", prepare)
    return calls


# --------------------------------------------------------------------------- the sweep


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
    assert config["noise_levels"] == LEVELS and config["seeds"] == [0, 1]
    assert config["data"]["n_features"] == 16 and config["data"]["signal_position"] == 0
    assert config["data"]["n_samples"] == 60
    assert config["classifier_params"]["max_epochs"] == 40
    assert config["classifier_params"]["lr"] == CLASSIFIER_DEFAULTS["lr"]
    assert config["device"] == "cpu" and config["threads_per_point"] == 1
    json.dumps(config)  # the CLI writes it as JSON


def test_data_rank_grows_with_noise(tiny_sweep):
    means = tiny_sweep.groupby("noise_std")["data_stable_rank"].mean()
    assert means.is_monotonic_increasing
    assert means[1.0] > 2 * means[0.0]
    # at zero noise the data matrix is the clean matrix
    clean = tiny_sweep[tiny_sweep["noise_std"] == 0]
    np.testing.assert_allclose(clean["data_stable_rank"], clean["clean_stable_rank"])


def test_same_seeds_same_numbers(tiny_sweep):
    again = noise_sweep(noise_levels=LEVELS, n_seeds=2, **TINY)
    pd.testing.assert_frame_equal(_numbers(again), _numbers(tiny_sweep))
    other = noise_sweep(noise_levels=[1.0], seeds=[7], **TINY)
    assert other["data_stable_rank"].iloc[0] != tiny_sweep["data_stable_rank"].iloc[-1]


@pytest.mark.slow
def test_n_jobs_gives_identical_numbers(tiny_sweep, tiny_sweep_alone):
    # batched: one batch in two threads; with loky, two batches in two worker processes
    parallel = noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2, **TINY)
    pd.testing.assert_frame_equal(_numbers(parallel), _numbers(tiny_sweep), check_exact=True)
    assert (parallel["n_batched"] == 6).all()
    workers = noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2, backend="loky", **TINY)
    pd.testing.assert_frame_equal(_numbers(workers), _numbers(tiny_sweep), check_exact=True)
    assert (workers["n_batched"] == 3).all()
    alone = noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2, **ALONE)
    pd.testing.assert_frame_equal(_numbers(alone), _numbers(tiny_sweep_alone), check_exact=True)


@pytest.mark.slow
def test_n_jobs_gives_identical_numbers_on_images():
    # Images large enough for the BLAS library to split its products between two threads in
    # the main process (the PCA's SVD, the rank computations), while a joblib worker has one:
    # before each point fixed its BLAS threads, the stable ranks differed in the last bits.
    X, y, shape = _two_class_images(n=400, side=16)
    X = X + 0.5 * np.random.default_rng(1).standard_normal(X.shape).astype(np.float32)
    kwargs = {"noise_levels": [0.0, 1.0], "seeds": [0], "rank": 5, "verbose": 0,
              "classifier_params": {"max_epochs": 5, "n_filters": 2, "rank_every": None}}
    one = noise_sweep((X, y, shape), **kwargs)
    two = noise_sweep((X, y, shape), n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(_numbers(two), _numbers(one), check_exact=True)


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
    pd.testing.assert_frame_equal(_numbers(df), _numbers(expected), check_exact=True)
    assert df.attrs["config"]["backend"] == "dask"
    expected = tiny_sweep.query("seed == 0 and noise_std == 1.0")
    pd.testing.assert_frame_equal(_numbers(by_address), _numbers(expected), check_exact=True)


def test_dask_backend_without_a_client_is_refused_before_the_data(monkeypatch, no_fit):
    # joblib's own error came after the data were loaded (and every point planned)
    distributed = pytest.importorskip("dask.distributed")
    loaded = []
    monkeypatch.setattr(_sweep, "_plan", lambda *a, **k: loaded.append(1))

    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    with pytest.raises(ValueError, match=r"backend='dask' with dask_client=None uses the "
                                         r"running dask.distributed Client, and there is none"):
        noise_sweep(backend="dask", **TINY)
    assert not loaded


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


def test_clean_ranks_of_rank_k_images_are_those_of_their_canvas():
    # The sweep measures the clean canvases of a fixed tile through the rank-K images alone
    # (no canvas is built): zero tiles and a permutation of the columns keep the spectrum.
    from sklrank import BackgroundNoise, PCARankReducer

    X, _, shape = _two_class_images(n=60, side=6)
    low_rank = PCARankReducer(3, random_state=0).fit_transform(X)
    for position in (0, 3):
        canvas = BackgroundNoise(0.0, shape, grid=(2, 2), position=position).fit_transform(
            low_rank
        )
        rank, stable = _sweep._compute_clean_ranks(canvas, 1e-4)
        assert (rank, pytest.approx(stable, rel=1e-12)) == _sweep._compute_clean_ranks(
            low_rank, 1e-4
        )
        assert rank == 3


def test_patch_stable_rank_fills_the_patch_matrix_by_blocks(monkeypatch):
    from sklrank import RankCNNClassifier, patch_matrix, stable_rank

    X, y, _ = _two_class_images(n=40, side=6)
    clf = RankCNNClassifier(input_shape=(1, 6, 6), kernel_size=(3, 3), stride=(1, 2),
                            max_epochs=2, random_state=0).fit(X, y)
    expected = stable_rank(patch_matrix(X, (1, 6, 6), (3, 3), (1, 2)))
    monkeypatch.setattr(_sweep, "_PATCH_BLOCK_ENTRIES", 7 * 36)  # blocks of 7 samples
    assert _sweep._patch_stable_rank(X, clf) == expected


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
    X, y, shape = _two_class_images()
    kwargs = {"noise_levels": [0.0, 1.0], "seeds": [0], "rank": 3, "verbose": 0,
              "classifier_params": {"max_epochs": 30, "n_filters": 2}}
    df = noise_sweep((X, y, shape), **kwargs)
    assert df["dataset"].tolist() == ["custom", "custom"]
    assert (df["clean_rank"] == 3).all()  # PCA to rank 3, image in a fixed tile
    assert df["n_train"].iloc[0] == 60 and df["n_test"].iloc[0] == 20
    assert df["data_stable_rank"].iloc[1] > df["data_stable_rank"].iloc[0]
    # a random tile per sample: the clean canvases span K directions in each of the 4 tiles
    randomly = noise_sweep((X, y, shape), data_params={"position": "random"}, **kwargs)
    assert (randomly["clean_rank"] == 3 * 4).all()


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


def test_mnist_bad_requests(shared_data_dir, mnist_dir, no_fit):
    common = {"data_home": shared_data_dir, "download_if_missing": False, "verbose": 0}
    with pytest.raises(ValueError, match=r"classes holds \[11\].*choose among"):
        noise_sweep("mnist", classes=[0, 11], **common)
    with pytest.raises(ValueError, match=r"n_samples=20000 exceeds the 12665 training images"):
        noise_sweep("mnist", classes=[0, 1], n_samples=20000, **common)
    with pytest.raises(ValueError, match=r"rank=900 exceeds min\(n_samples, n_features\)=784"):
        noise_sweep("mnist", rank=900, n_samples=1000, **common)


# --------------------------------------------------------------------------- bad input


def _custom(**kwargs):
    X, y, shape = _two_class_images()
    return {"dataset": (X, y, shape), "rank": 2, **kwargs}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise_levels": [0.0, -1.0]}, ValueError, "non-empty list of finite values >= 0"),
        ({"noise_levels": [0.0, float("nan")]}, ValueError, "finite values >= 0"),
        ({"noise_levels": [0.0, float("inf")]}, ValueError, "finite values >= 0"),
        ({"noise_levels": []}, ValueError, "noise_levels must be a non-empty list"),
        ({"noise_levels": [0.0, 1e38]}, ValueError, "overflows the float32 data"),
        # a level in float32's subnormal range, refused before any fit: the synthetic data
        # checked the largest level only (the point at 1e-44 failed after others trained),
        # the images took it (noise rounded to a few multiples of 1.4e-45)
        ({"noise_levels": [0.0, 1e-44, 1.0]}, ValueError,
         r"noise_levels holds \[1e-44\]: noise that small underflows the float32 data "
         r"\(smallest normal value 1.18e-38; .*use 0 or levels >= 1.18e-38\."),
        (_custom(noise_levels=[1e-40]), ValueError, r"noise_levels holds \[1e-40\]: noise "
         "that small underflows"),
        ({"noise_levels": ["low"]}, ValueError, "noise_levels must be a list of numbers"),
        ({"noise_levels": [0.5, 0.0, 0.5]}, ValueError, r"holds \[0.5\] more than once"),
        ({"noise_levels": [0.0, -0.0]}, ValueError, r"holds \[0.0\] more than once"),
        ({"seeds": [0, 1, 0]}, ValueError, "the same fits twice"),
        ({"seeds": [-1]}, ValueError, r"integers in \[0, 2\*\*32 - 1\]"),
        ({"seeds": [1.5]}, ValueError, r"integers in \[0, 2\*\*32 - 1\]"),
        ({"seeds": [2**32]}, ValueError, r"integers in \[0, 2\*\*32 - 1\]"),
        ({"seeds": []}, ValueError, "non-empty list of integers"),
        ({"n_seeds": True}, ValueError,
         r"The 'n_seeds' parameter of noise_sweep .* Got True instead \(a bool is not taken"),
        ({"n_samples": True}, ValueError,
         r"The 'n_samples' parameter of noise_sweep .* Got True instead \(a bool is not"),
        ({"n_jobs": True}, ValueError, r"The 'n_jobs' parameter .* \(a bool is not taken"),
        ({"rank": np.True_}, ValueError, r"The 'rank' parameter .* \(a bool is not taken"),
        # (the command line's limit: 2000000000 seeds filled the memory with the list of fits
        # until the process was killed)
        ({"n_seeds": 100_001}, ValueError,
         r"The 'n_seeds' parameter of noise_sweep must be an int in the range \[1, 100000\]"),
        ({"n_seeds": 2_000_000_000}, ValueError, r"n_seeds.*\[1, 100000\]"),
        # (the command line's limit: 10**9 epochs ran for months a fit)
        ({"classifier_params": {"max_epochs": 10**9}}, ValueError,
         r"classifier_params\['max_epochs'\]=1000000000 is more than a sweep trains: pass at "
         r"most 1000000"),
        ({"seeds": np.arange(100_001)}, ValueError,
         "seeds holds 100001 seeds; give at most 100000"),
        ({"n_seeds": 0}, ValueError, "n_seeds"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be a positive number"),
        ({"backend": "multiprocessing"}, ValueError, "backend"),
        ({"dataset": "imagenet"}, ValueError, "dataset"),
        ({"classes": [0, 1]}, ValueError, "classes applies to image data sets only"),
        ({"data_params": {"n_pixels": 3}}, ValueError, r"unknown keys \['n_pixels'\]"),
        ({"rank": 40}, ValueError, "do not fit in n_features=64"),
        ({"data_params": {"signal_position": 8}}, ValueError, "not a patch index"),
        # (the generator's own validation: skipped in the sweep, these failed in numpy or
        # with another check's message, e.g. "underflows float32" for signal_norm=-1)
        ({"data_params": {"n_features": 64.0}}, ValueError,
         r"data_params: The 'n_features' parameter of make_low_rank_patches must be an int"),
        ({"data_params": {"signal_norm": -1.0}}, ValueError,
         r"data_params: The 'signal_norm' parameter .* range \(0.0, inf\)"),
        ({"data_params": {"n_patches": 0}}, ValueError, r"data_params: The 'n_patches'"),
        ({"data_params": {"orthogonal_noise": "yes"}}, ValueError,
         r"data_params: The 'orthogonal_noise' parameter of make_low_rank_patches"),
        ({"classifier_params": {"kernel_size": 3}}, ValueError, "must not set"),
        ({"classifier_params": {"device": "cpu"}}, ValueError, "must not set"),
        ({"classifier_params": {"n_filter": 3}}, ValueError, "classifier_params: .*n_filter"),
        ({"classifier_params": {"n_filters": 0}}, ValueError, "classifier_params: .*n_filters"),
        ({"device": "tpu"}, ValueError, "not a torch device"),
        ({"device": "cuda", "n_jobs": 2, "batched": False}, ValueError, "one after another"),
        ({"dataset": (np.zeros((4, 5)), np.zeros(4), (1, 2, 2))}, ValueError,
         "does not hold flattened"),
        ({"dataset": (np.zeros((4, 4)), np.zeros(4))}, ValueError, r"\(X, y, image_shape\)"),
        (_custom(dataset=(np.zeros((4, 4)), np.zeros(4), (1, 2, 2.5))), ValueError,
         "image_shape must be"),
        (_custom(classes=[3]), ValueError, "keeps one class only"),
        (_custom(classes=[3, 3]), ValueError, "more than once"),
        (_custom(classes=[3, 5]), ValueError, r"classes holds \[5\]"),
        (_custom(rank=100), ValueError, r"rank=100 exceeds min\(n_samples, n_features\)=36"),
        (_custom(n_samples=500), ValueError, "n_samples=500 exceeds the 60 training images"),
        (_custom(n_test=500), ValueError, "n_test=500 exceeds the 20 test images"),
        (_custom(data_params={"canvas": (0, 2)}), ValueError, "canvas must be"),
        (_custom(data_params={"canvas": (2,)}), ValueError, "canvas must be"),
        (_custom(data_params={"canvas": (2.5, 2)}), ValueError, "canvas must be"),
        (_custom(data_params={"canvas": 0}), ValueError, "canvas must be .* got 0"),
        (_custom(data_params={"canvas": True}), ValueError, "canvas must be .* got True"),
        (_custom(data_params={"canvas": (1, 1)}), ValueError, "leaves no tile for the noise"),
        # (additive noise has no canvas and no tile: both were ignored, and recorded as used)
        (_custom(data_params={"noise_mode": "additive", "canvas": (3, 3)}), ValueError,
         r"data_params sets \['canvas'\], which noise_mode='additive' does not use"),
        (_custom(data_params={"noise_mode": "additive", "position": 1}), ValueError,
         r"sets \['position'\], which noise_mode='additive' does not use"),
        # (every noise level trained on the same noiseless data)
        ({"data_params": {"n_patches": 1}}, ValueError,
         "with n_patches=1 leaves no patch for the noise"),
        (_custom(data_params={"position": 4}), ValueError, "position=4 is not a tile"),
        (_custom(data_params={"position": "x"}), ValueError,
         r"^data_params: The 'position' parameter of BackgroundNoise"),  # not classifier_params
        (_custom(data_params={"noise_mode": "multiply"}), ValueError, "noise_mode must be"),
        # the sweep's own parameters went around their checks (rank=None: a TypeError
        # "'>' not supported between 'NoneType' and 'int'")
        (_custom(data_params={"rank": None}), ValueError, r"data_params sets \['rank'\].*rank="),
        ({"data_params": {"n_samples": 0}}, ValueError, r"data_params sets \['n_samples'\]"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match, no_fit):
    with pytest.raises(error, match=match):
        noise_sweep(**{"verbose": 0, **kwargs})


@pytest.mark.parametrize("canvas", [3, np.int64(3)])
def test_canvas_int_is_square(canvas):
    # BackgroundNoise(grid=3) and --canvas 3 are a 3 x 3 canvas; noise_sweep refused
    # canvas=3 ("canvas must be (rows, columns) of tiles")
    X, y, shape = _two_class_images(n=40)
    kwargs = {"noise_levels": [0.5], "seeds": [0], "rank": 2, "verbose": 0, "batched": False,
              "classifier_params": {"max_epochs": 2, "n_filters": 2, "rank_every": None}}
    square = noise_sweep((X, y, shape), data_params={"canvas": (3, 3)}, **kwargs)
    df = noise_sweep((X, y, shape), data_params={"canvas": canvas}, **kwargs)
    assert df.attrs["config"]["data"]["canvas"] == square.attrs["config"]["data"]["canvas"]
    assert tuple(df.attrs["config"]["data"]["canvas"]) == (3, 3)
    pd.testing.assert_frame_equal(_numbers(df), _numbers(square), check_exact=True)


def test_additive_configuration_records_no_canvas_and_no_tile(tmp_path):
    # the configuration (attrs, the CLI's JSON, a checkpoint's header) recorded the default
    # canvas (2, 2) and tile 0 of an additive run, which used neither
    import json

    X, y, shape = _two_class_images(n=40)
    kwargs = {"noise_levels": [0.5], "seeds": [0], "rank": 2, "verbose": 0, "batched": False,
              "classifier_params": {"max_epochs": 2, "n_filters": 2, "rank_every": None}}
    path = tmp_path / "additive.ckpt"
    df = noise_sweep((X, y, shape), data_params={"noise_mode": "additive"},
                     checkpoint=path, **kwargs)
    data = df.attrs["config"]["data"]
    assert data["noise_mode"] == "additive" and not {"canvas", "position"} & set(data), data
    assert df["data_stable_rank"].notna().all()
    header = json.loads(path.read_text().splitlines()[0])
    assert not {"canvas", "position"} & set(header["config"]["data"]), header
    pad = noise_sweep((X, y, shape), **kwargs).attrs["config"]["data"]
    assert tuple(pad["canvas"]) == (2, 2) and pad["position"] == 0


def test_bad_custom_images(no_fit):
    X, y, shape = _two_class_images()
    with pytest.raises(ValueError, match="holds one class only"):
        noise_sweep((X, np.zeros_like(y), shape), verbose=0)
    X_nan = X.copy()
    X_nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="dataset's X contains NaN"):
        noise_sweep((X_nan, y, shape), verbose=0)
    with pytest.raises(ValueError, match="needs at least 2 of each class"):
        noise_sweep((X[:41], y[:41], shape), rank=2, verbose=0)
    with pytest.raises(ValueError, match="one label per row of X"):
        noise_sweep((X, y[:-1], shape), verbose=0)


@pytest.mark.parametrize(
    ("run", "match"),
    [
        (lambda: noise_sweep(**{**TINY, "n_samples": 1}),
         r"n_samples=1 is too few: .* at least 2 samples .*pass n_samples >= 2"),
        # 0 and below got validate_params' "an int in the range [1, inf)": the same limit and
        # reason now as 1
        (lambda: noise_sweep(**{**TINY, "n_samples": 0}),
         r"n_samples=0 is too few: a training set needs at least 2 samples \(one of each of "
         r"two classes\); pass n_samples >= 2"),
        (lambda: noise_sweep(**{**TINY, "n_samples": -5}),
         r"n_samples=-5 is too few: .*pass n_samples >= 2"),
        (lambda: sample_size_study("synthetic", n_samples=[0, 60], **_without(TINY, "n_samples")),
         r"n_samples=\[0\] is too few: .*pass n_samples >= 2"),
        (lambda: sample_size_study("synthetic", n_samples=[1, 60], **_without(TINY, "n_samples")),
         r"n_samples=\[1\] is too few: .*pass n_samples >= 2"),
        (lambda: noise_sweep(**_custom(n_samples=1, rank=1), verbose=0),
         r"n_samples=1 is too few: .*pass n_samples >= 2"),
        # a seed whose few samples are of one class: the fewest that hold both are named
        (lambda: noise_sweep(seeds=[0], **{**TINY, "n_samples": 2}),
         r"n_samples=2 is too few for seed 0: the 2 training samples drawn for it hold one "
         r"class only; pass n_samples >= 3"),
        (lambda: sample_size_study("synthetic", n_samples=[3, 60], seeds=[0, 1, 2],
                                   **_without(TINY, "n_samples")),
         r"n_samples=3 is too few for seed 2: .*pass n_samples >= 4"),
        (lambda: noise_sweep(**_custom(n_samples=4, rank=1), seeds=[0, 1], verbose=0),
         r"n_samples=4 is too few for seed 1: the 4 training images .*pass n_samples >= 5"),
    ],
    ids=["synthetic-1", "synthetic-0", "synthetic-negative", "study-0", "study-1", "images-1",
         "synthetic-seed", "study-seed", "images-seed"],
)
def test_too_few_samples_are_refused_before_any_point(run, match, no_fit):
    # (the synthetic ones failed when their point was prepared, after other points trained)
    with pytest.raises(ValueError, match=match):
        run()


def test_the_named_fewest_samples_do_train():
    # what the messages above name: seed 0 of the synthetic data at 3 samples, seed 1 of the
    # custom images at 5, train
    kwargs = {**TINY, "classifier_params": {"max_epochs": 2, "n_filters": 2, "rank_every": 1}}
    df = noise_sweep(noise_levels=[0.0], seeds=[0], **{**kwargs, "n_samples": 3})
    assert df["n_train"].tolist() == [3]
    df = noise_sweep(**_custom(n_samples=5, rank=1), noise_levels=[0.0], seeds=[1], verbose=0,
                     classifier_params={"max_epochs": 2})
    assert df["n_train"].tolist() == [5]


def _without(kwargs, *keys):
    return {k: v for k, v in kwargs.items() if k not in keys}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_cuda_without_a_device_is_a_clear_error(no_fit):
    with pytest.raises(ValueError, match="torch finds no CUDA device here.*device='cpu'"):
        noise_sweep(device="cuda", verbose=0)


def test_a_failing_point_names_itself(monkeypatch):
    def diverge(*args, **kwargs):
        raise RuntimeError("the loss is NaN")

    monkeypatch.setattr(_sweep, "_prepare", diverge)
    for batched in ("auto", False):
        with pytest.raises(RuntimeError, match="the loss is NaN") as info:
            noise_sweep(noise_levels=[0.5, 1.0], seeds=[4], batched=batched, **TINY)
        if hasattr(info.value, "add_note"):
            assert "n_samples=60, noise_std=0.5, seed=4" in " ".join(info.value.__notes__)


# --------------------------------------------------------------------------- checkpoints


def test_interrupted_sweep_resumes_to_identical_numbers(tiny_sweep_alone, tmp_path,
                                                        monkeypatch):
    # one point at a time: each finished point is in the file
    path = tmp_path / "sweep.jsonl"
    done = _interrupt_after(monkeypatch, 2, RuntimeError)
    with pytest.raises(RuntimeError, match="stopped"):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert len(done) == 2
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 2  # the header and the two finished points
    # interrupted by Ctrl-C this time, after one more point
    done = _interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert len(path.read_text().splitlines()) == 1 + 3
    # the resumed sweep trains only the missing points and gives the uninterrupted numbers
    done = _interrupt_after(monkeypatch, 100)
    resumed = noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert len(done) == 6 - 3
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(tiny_sweep_alone), check_exact=True)
    assert resumed["fit_time"].notna().all()
    # everything is in the file now: the same call trains nothing
    done = _interrupt_after(monkeypatch, 0, AssertionError)
    again = noise_sweep(noise_levels=[0.5, 1.0, 0.0], n_seeds=2, checkpoint=path, **ALONE)
    pd.testing.assert_frame_equal(again, resumed, check_exact=True)


def _ctrl_c_at_epoch(monkeypatch, epoch):
    """A real SIGINT (Ctrl-C) at the end of each fit's ``epoch``-th epoch, once a fit."""
    import signal

    from sklrank._base import _BaseNet

    on_epoch_end = _BaseNet.on_epoch_end

    def interrupting(self, net, **kwargs):
        on_epoch_end(self, net, **kwargs)
        if len(self.history) == epoch:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(_BaseNet, "on_epoch_end", interrupting)


def test_ctrl_c_during_a_fit_is_an_interrupt_not_a_shorter_fit(tiny_sweep_alone, tmp_path,
                                                               monkeypatch):
    # skorch catches the KeyboardInterrupt of a Ctrl-C and ends the fit early: the sweep
    # saved that fit of 5 epochs (instead of 40) as a finished point, and went on
    path = tmp_path / "sweep.jsonl"
    _ctrl_c_at_epoch(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert len(path.read_text().splitlines()) == 1  # the header: no point finished
    monkeypatch.undo()
    resumed = noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(tiny_sweep_alone), check_exact=True)


def test_ctrl_c_during_a_batched_fit_in_threads_stops_the_threads_first(monkeypatch):
    # the calling thread got the KeyboardInterrupt while the training threads ran on: the
    # interpreter then exited under them ("terminate called without an active exception")
    import threading

    from sklrank import _batched
    from sklrank._batched import _Batch

    train, join = _Batch.train, threading.Thread.join
    started, both_running, interrupted = threading.Barrier(2, timeout=30), threading.Event(), []

    def train_when_both_run(self, rows, bar, *stop):
        if started.wait() == 0:
            both_running.set()
        return train(self, rows, bar, *stop)

    def join_then_ctrl_c(thread, timeout=None):
        # Ctrl-C while the calling thread waits for the training threads (a real SIGINT
        # reaches that wait only when the kernel hands it to the calling thread)
        if "(train)" in thread.name and not interrupted:
            interrupted.append(thread)
            both_running.wait(30)
            raise KeyboardInterrupt
        return join(thread, timeout)

    monkeypatch.setattr(_Batch, "train", train_when_both_run)
    monkeypatch.setattr(threading.Thread, "join", join_then_ctrl_c)
    monkeypatch.setattr(_batched, "_THREAD_PREACTIVATIONS", 1)  # two threads for tiny fits
    params = {**TINY["classifier_params"], "max_epochs": 100_000}
    with pytest.raises(KeyboardInterrupt):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2,
                    **{**TINY, "classifier_params": params})
    assert interrupted and both_running.is_set()
    running = [t for t in threading.enumerate() if "(train)" in t.name]
    assert running == []  # every training thread has ended


def test_a_checkpoint_deleted_between_its_open_and_its_lock_is_opened_again(tmp_path,
                                                                            monkeypatch):
    # a run that deleted a 0-fit checkpoint (discard_if_empty) while another opened it: the
    # other wrote its points into a file no longer in the folder
    from sklrank.experiments import _checkpoint

    path = tmp_path / "sweep.jsonl"
    lock, deleted = _checkpoint.SweepCheckpoint._lock, []

    def delete_then_lock(handle, where):
        if not deleted:
            deleted.append(_checkpoint.discard_if_empty(where))
        return lock(handle, where)

    monkeypatch.setattr(_checkpoint.SweepCheckpoint, "_lock", staticmethod(delete_then_lock))
    with _checkpoint.SweepCheckpoint.open(path, {"a": 1}, ("seed",)) as store:
        store.add({"seed": 0, "value": 1.0})
    assert deleted == [True]  # the empty file the first open created
    assert _checkpoint.count_points(path) == 1  # the point is in the file at the path


def test_a_finished_runs_checkpoint_is_not_deleted_under_another_run(tmp_path):
    # the command deleted its checkpoint after writing the results, whoever held it by then
    # (a run started with --overwrite in that moment lost its points)
    from sklrank.experiments import _checkpoint

    path = tmp_path / "sweep.jsonl"
    with _checkpoint.SweepCheckpoint.open(path, {"a": 1}, ("seed",)) as store:
        store.add({"seed": 0, "value": 1.0})
        assert not _checkpoint.remove_checkpoint(path)  # held: left alone
    assert path.exists() and _checkpoint.remove_checkpoint(path) and not path.exists()
    assert not _checkpoint.remove_checkpoint(path)


def test_ctrl_c_stops_the_fits_of_the_threading_backend_first(monkeypatch):
    # the main thread got the KeyboardInterrupt while joblib's worker threads trained on
    # (the process then aborted at exit: "terminate called without an active exception")
    import os
    import signal
    import threading

    from sklrank import RankCNNClassifier

    fit, in_fit = RankCNNClassifier.fit, []
    started = threading.Barrier(2, timeout=60)

    def counted_fit(self, X, y, **fit_params):
        in_fit.append(1)
        try:
            if started.wait() == 0:  # both fits are training: Ctrl-C, to the process
                os.kill(os.getpid(), signal.SIGINT)
            return fit(self, X, y, **fit_params)
        finally:
            in_fit.pop()

    monkeypatch.setattr(RankCNNClassifier, "fit", counted_fit)
    params = {**TINY["classifier_params"], "max_epochs": 100_000}
    with pytest.raises(KeyboardInterrupt):
        noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], n_jobs=2, backend="threading",
                    **{**ALONE, "classifier_params": params})
    assert in_fit == []  # both fits ended before the interrupt went on


def test_resuming_with_another_configuration_is_refused(tmp_path, no_fit):
    path = tmp_path / "sweep.jsonl"
    header = {"format": "sklrank-sweep-checkpoint", "version": 1, "config": {}}
    path.write_text(json.dumps(header) + "\n")  # an empty sweep of another configuration
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="another configuration .*noise_levels"):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert path.read_bytes() == before


def test_checkpoint_lists_the_differences(tmp_path, monkeypatch):
    path = tmp_path / "sweep.jsonl"
    _interrupt_after(monkeypatch, 1, RuntimeError)
    with pytest.raises(RuntimeError):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    other = {**ALONE, "classifier_params": {**TINY["classifier_params"], "max_epochs": 41}}
    with pytest.raises(CheckpointError) as info:
        noise_sweep(noise_levels=[0.0, 1.0], n_seeds=2, checkpoint=path, **other)
    message = str(info.value)
    assert "noise_levels: [0.0, 0.5, 1.0] there, [0.0, 1.0] here" in message
    assert "classifier_params.max_epochs: 40 there, 41 here" in message


class _Scaled(torch.nn.Module):
    """An activation module of one's own: its repr, "_Scaled()", shows no setting."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, z):
        return self.scale * torch.relu(z)


@pytest.mark.parametrize(("first", "second"), [
    (torch.nn.PReLU(init=0.1), torch.nn.PReLU(init=0.5)),  # its weight
    (_Scaled(1.0), _Scaled(2.0)),  # its setting
])
def test_resuming_with_another_activation_module_is_refused(first, second, tmp_path,
                                                            monkeypatch):
    # (a module was described by its repr, the same for both: the resume mixed them)
    path = tmp_path / "sweep.jsonl"
    _interrupt_after(monkeypatch, 1, RuntimeError)
    kwargs = {**ALONE, "noise_levels": [0.0, 1.0], "seeds": [0], "checkpoint": path}
    params = kwargs.pop("classifier_params")
    with pytest.raises(RuntimeError):
        noise_sweep(**kwargs, classifier_params={**params, "activation": first})
    monkeypatch.setattr(_sweep, "_prepare", PREPARE)
    with pytest.raises(CheckpointError, match="another configuration .*activation"):
        noise_sweep(**kwargs, classifier_params={**params, "activation": second})
    # an equal module (another object) resumes
    df = noise_sweep(**kwargs, classifier_params={**params, "activation": copy.deepcopy(first)})
    assert len(df) == 2


def test_half_written_last_point_is_run_again(tiny_sweep_alone, tmp_path, monkeypatch):
    path = tmp_path / "sweep.jsonl"
    _interrupt_after(monkeypatch, 3, RuntimeError)
    with pytest.raises(RuntimeError):
        noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last point cut mid-line, as by a crash
    done = _interrupt_after(monkeypatch, 100)
    resumed = noise_sweep(noise_levels=LEVELS, n_seeds=2, checkpoint=path, **ALONE)
    assert len(done) == 6 - 2
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(tiny_sweep_alone), check_exact=True)
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_interrupted_batched_sweep_resumes_to_identical_numbers(tiny_sweep, tmp_path,
                                                                monkeypatch):
    # Batches of two points: the points of a batch are saved when it finishes; a batch
    # stopped while preparing its data keeps nothing, and the resumed sweep trains the
    # missing points in batches of its own, to the numbers of an uninterrupted run.
    path = tmp_path / "sweep.jsonl"
    kwargs = {**TINY, "noise_levels": LEVELS, "n_seeds": 2, "checkpoint": path, "batched": 2}
    done = _interrupt_after(monkeypatch, 5, RuntimeError)
    with pytest.raises(RuntimeError, match="stopped"):
        noise_sweep(**kwargs)
    assert len(done) == 5  # the third batch had prepared one point when it stopped
    assert len(path.read_text().splitlines()) == 1 + 4
    done = _interrupt_after(monkeypatch, 100)
    resumed = noise_sweep(**{**kwargs, "n_jobs": 2})
    assert len(done) == 2
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(tiny_sweep), check_exact=True)
    assert resumed["n_batched"].tolist() == [2] * 6


def test_data_and_patch_ranks_do_not_depend_on_the_costs_a_process_measures(monkeypatch):
    # stable_rank's method="auto" picks its path (Lanczos passes or the Gram matrix) by
    # costs measured once a process, and the paths differ in the last bits: a resumed sweep,
    # a joblib or Dask worker measured other costs and reported a data stable rank 2e-13
    # off the uninterrupted run's (1000 x 512 synthetic data at noise 1). The sweep's ranks
    # now take a path fixed by the matrix's shape.
    from sklrank import _rank

    class Measured(dict):  # every geometry measured at these costs (Gram, bookkeeping)
        def __init__(self, costs):
            super().__init__()
            self.costs = costs

        def get(self, key, default=None):
            return self.costs

        def setdefault(self, key, default=None):
            return self.costs

    kwargs = {"noise_levels": [1.0], "seeds": [2], "n_samples": 1000, "n_test": 10,
              "classifier_params": {"max_epochs": 1}, "verbose": 0}
    frames = []
    for costs in [(1e-9, 0.0), (1e9, 0.0)]:  # the Gram matrix free, or out of reach
        monkeypatch.setattr(_rank, "_MEASURED_COSTS", Measured(costs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one step trains nothing
            frames.append(noise_sweep("synthetic", **kwargs))
    for column in ("data_stable_rank", "patch_stable_rank"):
        assert frames[0][column].tolist() == frames[1][column].tolist(), column


def test_unusable_checkpoints(tmp_path, no_fit):
    kwargs = {"noise_levels": [0.0], "seeds": [0], **TINY}
    with pytest.raises(CheckpointError, match="the folder .* does not exist"):
        noise_sweep(checkpoint=tmp_path / "missing" / "sweep.jsonl", **kwargs)
    with pytest.raises(CheckpointError, match="is a folder"):
        noise_sweep(checkpoint=tmp_path, **kwargs)
    for content in ("noise_std,seed\n0.0,0\n", "noise_std,seed\n0.0,0", "notes"):
        # someone's file, with or without a last newline, is left as it is
        table = tmp_path / "sweep.csv"
        table.write_text(content)
        with pytest.raises(CheckpointError, match="is not a sweep checkpoint"):
            noise_sweep(checkpoint=table, **kwargs)
        assert table.read_text() == content
    damaged = tmp_path / "damaged.jsonl"
    header = {"format": "sklrank-sweep-checkpoint", "version": 1, "config": {}}
    damaged.write_text(json.dumps(header) + "\n{not json\n{}\n")
    with pytest.raises(CheckpointError, match="line 2 of checkpoint .* damaged"):
        SweepCheckpoint.open(damaged, {}, ("seed",))


def test_a_checkpoint_stopped_while_its_header_was_written_starts_afresh(tmp_path):
    path = tmp_path / "sweep.jsonl"
    path.write_bytes(b'{"format": "sklrank-sw')
    df = noise_sweep(noise_levels=[0.0], seeds=[0], checkpoint=path, **TINY)
    lines = path.read_text().splitlines()
    assert len(df) == 1 and len(lines) == 2
    assert json.loads(lines[0])["format"] == "sklrank-sweep-checkpoint"


def test_a_checkpoint_in_use_is_refused(tmp_path, no_fit):
    path = tmp_path / "sweep.jsonl"
    with (
        SweepCheckpoint.open(path, {"a": 1}, ("seed",)),
        pytest.raises(CheckpointError, match="in use by another running sweep"),
    ):
        noise_sweep(noise_levels=[0.0], seeds=[0], checkpoint=path, **TINY)


# --------------------------------------------------------------------------- device


@pytest.mark.cuda
@needs_cuda
def test_noise_sweep_on_cuda(tiny_sweep):
    on_gpu = noise_sweep(noise_levels=LEVELS, n_seeds=2, device="cuda", **TINY)
    assert list(on_gpu.columns) == list(tiny_sweep.columns)
    assert on_gpu.attrs["config"]["device"] == "cuda"
    # the data and their ranks are computed on the CPU: identical; the networks close
    for column in ("data_stable_rank", "patch_stable_rank", "clean_rank", "clean_stable_rank"):
        np.testing.assert_array_equal(on_gpu[column], tiny_sweep[column])
    np.testing.assert_allclose(
        on_gpu["filter_stable_rank"], tiny_sweep["filter_stable_rank"], rtol=1e-3
    )
    np.testing.assert_allclose(on_gpu["train_accuracy"], tiny_sweep["train_accuracy"],
                               atol=0.05)


# --------------------------------------------------------------------------- sample sizes


def test_sample_size_study_is_the_sweep_at_each_size(tiny_sweep):
    study = sample_size_study(
        "synthetic", n_samples=[60, 30], noise_levels=[0.0, 1.0], n_seeds=2,
        **{k: v for k, v in TINY.items() if k != "n_samples"},
    )
    assert study["n_train"].tolist() == [30] * 4 + [60] * 4  # sorted by size
    assert study.attrs["config"]["data"]["n_samples"] == [30, 60]
    at_60 = study[study["n_train"] == 60].reset_index(drop=True)
    expected = tiny_sweep[tiny_sweep["noise_std"] != 0.5].reset_index(drop=True)
    pd.testing.assert_frame_equal(_numbers(at_60), _numbers(expected), check_exact=True)


def test_image_subsets_are_nested_across_sizes():
    X, y, shape = _two_class_images(n=200)
    data = (X, y, X[::-1], y[::-1], shape)
    small = _sweep._subsample(data, 5, 40, 10)
    large = _sweep._subsample(data, 5, 120, 10)
    whole = _sweep._subsample(data, 5, 200, 10)
    rows = {row.tobytes() for row in large[0]}
    assert all(row.tobytes() in rows for row in small[0])
    np.testing.assert_array_equal(whole[0], X)
    # the same test images at every size, all training images included (they differed there)
    np.testing.assert_array_equal(small[2], large[2])
    np.testing.assert_array_equal(small[2], whole[2])


def test_sample_size_study_on_images_resumes(tmp_path, monkeypatch):
    X, y, shape = _two_class_images(n=120)
    kwargs = {"n_samples": [30, 60], "noise_levels": [0.0, 1.0], "seeds": [0], "rank": 2,
              "classifier_params": {"max_epochs": 10, "n_filters": 2}, "verbose": 0}
    full = sample_size_study((X, y, shape), **kwargs)
    assert full["n_train"].tolist() == [30, 30, 60, 60]
    # one batch a size: stopped while the second prepares its second point
    assert full["n_batched"].tolist() == [2, 2, 2, 2]
    path = tmp_path / "study.jsonl"
    done = _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        sample_size_study((X, y, shape), checkpoint=path, **kwargs)
    assert len(path.read_text().splitlines()) == 1 + 2
    done = _interrupt_after(monkeypatch, 100)
    resumed = sample_size_study((X, y, shape), checkpoint=path, **kwargs)
    assert len(done) == 2
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(full), check_exact=True)
    # the same file cannot resume the plain sweep: another experiment
    with pytest.raises(CheckpointError, match="experiment"):
        noise_sweep((X, y, shape), checkpoint=path, n_samples=30,
                    **{k: v for k, v in kwargs.items() if k != "n_samples"})


@pytest.mark.parametrize(
    ("n_samples", "match"),
    [([], "non-empty list"), ([100, 100], "more than once"), ([0, 10], "at least 2 samples"),
     ([10.5], "integers >= 2"), ([10, 5000], r"n_samples=\[5000\] exceeds the 60 training")],
)
def test_sample_size_study_bad_sizes(n_samples, match, no_fit):
    X, y, shape = _two_class_images()
    with pytest.raises(ValueError, match=match):
        sample_size_study((X, y, shape), n_samples=n_samples, rank=2, verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_seeds": True}, r"The 'n_seeds' parameter of sample_size_study .* Got True instead "
                         r"\(a bool is not taken for a number\)"),
     ({"n_jobs": True}, r"The 'n_jobs' parameter of sample_size_study .* \(a bool is not"),
     ({"n_seeds": 100_001}, r"The 'n_seeds' parameter of sample_size_study .*\[1, 100000\]"),
     ({"seeds": list(range(100_001))}, "seeds holds 100001 seeds; give at most 100000")],
)
def test_sample_size_study_bad_counts(kwargs, match, no_fit):
    # the estimators' message for a bool; the command line's limit on the seeds (2000000000
    # seeds filled the memory with the list of fits)
    X, y, shape = _two_class_images()
    with pytest.raises(ValueError, match=match):
        sample_size_study((X, y, shape), n_samples=[10, 20], rank=2, verbose=0, **kwargs)


def test_the_seed_limit_is_the_command_line_s():
    from sklrank import _cli, _params
    from sklrank.gradients import _studies

    assert _cli.MAX_SEEDS is _params.MAX_SEEDS == 100_000
    for constraints in (_sweep._COMMON_CONSTRAINTS, _studies._COMMON):
        assert constraints["n_seeds"][0].right == _params.MAX_SEEDS


def test_the_epoch_limit_is_the_command_line_s(no_fit):
    from sklrank import _cli, _params
    from sklrank.gradients import _studies

    assert _cli.MAX_EPOCHS is _params.MAX_EPOCHS == 1_000_000
    assert _studies._TRAINING["max_epochs"][0].right == _params.MAX_EPOCHS
    X, y, shape = _two_class_images()
    with pytest.raises(ValueError, match=r"classifier_params\['max_epochs'\]=1000001 is more"):
        sample_size_study((X, y, shape), n_samples=[10, 20], rank=2, verbose=0,
                          classifier_params={"max_epochs": 1_000_001})
    # the limit itself is taken (no fit runs here)
    _cli.epoch_count_option(str(_params.MAX_EPOCHS))


# --------------------------------------------------------------------------- batched sweeps


def _assert_sweeps_agree(batched, alone):
    """Batched and one-by-one sweeps: the same data and measurements of the data, the same
    predictions (so the same accuracies), filter ranks within RANK_RTOL."""
    assert len(batched) == len(alone)
    exact = ["noise_std", "seed", "data_stable_rank", "patch_stable_rank", "clean_rank",
             "clean_stable_rank", "n_epochs", "train_accuracy", "test_accuracy", "n_train",
             "n_test", "training_warning"]
    pd.testing.assert_frame_equal(batched[exact], alone[exact], check_exact=True)
    np.testing.assert_allclose(batched["filter_stable_rank"], alone["filter_stable_rank"],
                               rtol=RANK_RTOL, atol=0)
    assert (alone["n_batched"] == 1).all()


def test_batched_and_one_by_one_sweeps_agree(tiny_sweep, tiny_sweep_alone):
    _assert_sweeps_agree(tiny_sweep, tiny_sweep_alone)
    assert (tiny_sweep["n_batched"] == 6).all()  # one geometry, one batch
    assert tiny_sweep.attrs["config"]["batched"] == "auto"
    # measured here: bitwise (the filters are bitwise those of the one-by-one fits)
    pd.testing.assert_frame_equal(_numbers(tiny_sweep), _numbers(tiny_sweep_alone),
                                  check_exact=True)


def test_batched_and_one_by_one_sweeps_agree_on_mnist(shared_data_dir, mnist_dir):
    kwargs = {"data_home": shared_data_dir, "download_if_missing": False, "classes": [3, 5, 8],
              "rank": 5, "n_samples": 90, "n_test": 60, "noise_levels": [0.0, 1.0],
              "seeds": [0, 1], "verbose": 0,
              "classifier_params": {"max_epochs": 20, "n_filters": 2, "rank_every": 10}}
    batched = noise_sweep("mnist", **kwargs)
    alone = noise_sweep("mnist", batched=False, **kwargs)
    _assert_sweeps_agree(batched, alone)
    assert (batched["n_batched"] == 4).all()
    assert batched["test_accuracy"].iloc[0] > 0.5  # three digits, clean: learned


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mixed_geometries_run_as_one_batch_each():
    # Sizes 30 and 60, and at 4 images a seed whose subset lacks one of the three classes
    # (a network with two banks): each shape trains as its own batch.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    X = (np.eye(3, 36)[y] * 3 + 0.1 * rng.standard_normal((120, 36))).astype(np.float32)
    kwargs = {"n_samples": [4, 30, 60], "noise_levels": [0.0, 0.5], "seeds": [0, 1, 2, 3],
              "rank": 2, "verbose": 0, "classifier_params": {"max_epochs": 5, "n_filters": 2}}
    batched = sample_size_study((X, y, (1, 6, 6)), **kwargs)
    alone = sample_size_study((X, y, (1, 6, 6)), batched=False, **kwargs)
    _assert_sweeps_agree(batched, alone)
    split = _sweep._user_images((X, y, (1, 6, 6)), (1, 6, 6), {"classes": None})
    n_classes = {seed: len(np.unique(_sweep._subsample(split, seed, 4, 30)[1]))
                 for seed in range(4)}
    assert sorted(set(n_classes.values())) == [2, 3]  # two shapes at n = 4
    small = batched[batched["n_train"] == 4]
    expected = [2 * sum(n_classes[s] == n_classes[seed] for s in range(4))
                for seed in small["seed"]]
    assert small["n_batched"].tolist() == expected
    assert (batched.loc[batched["n_train"] > 4, "n_batched"] == 8).all()


def test_memory_budget_and_batched_int_split_the_batches(tiny_sweep, monkeypatch):
    one_point = _sweep._point_bytes(60, 2, (64, 4, 4), on_cpu=True)[0]
    monkeypatch.setattr(_sweep, "_CPU_BATCH_BYTES", 4 * one_point)
    split = noise_sweep(noise_levels=LEVELS, n_seeds=2, **TINY)
    assert split["n_batched"].tolist() == [3] * 6  # 6 points, at most 4 a batch: 3 + 3
    pd.testing.assert_frame_equal(_numbers(split), _numbers(tiny_sweep), check_exact=True)
    monkeypatch.setattr(_sweep, "_CPU_BATCH_BYTES", one_point // 2)  # a point alone
    alone = noise_sweep(noise_levels=LEVELS, n_seeds=2, **TINY)
    assert alone["n_batched"].tolist() == [1] * 6
    monkeypatch.undo()
    capped = noise_sweep(noise_levels=LEVELS, n_seeds=2, batched=2, **TINY)
    assert capped["n_batched"].tolist() == [2] * 6
    pd.testing.assert_frame_equal(_numbers(capped), _numbers(tiny_sweep), check_exact=True)


def test_unbatchable_classifier_settings(tiny_sweep_alone, no_fit):
    params = {**TINY["classifier_params"], "optimizer__momentum": 0.9}
    with pytest.raises(ValueError, match=r"batched=True, but .*optimizer__\* parameters"):
        noise_sweep(noise_levels=LEVELS, batched=True, **{**TINY, "classifier_params": params})


def test_unbatchable_settings_train_one_by_one():
    params = {**TINY["classifier_params"], "optimizer__momentum": 0.9}
    df = noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], **{**TINY, "classifier_params": params})
    assert df["n_batched"].tolist() == [1, 1]


def test_settings_the_batch_would_ignore_train_one_by_one():
    # callbacks__filter_rank__every, which a point's own fit refuses, trained batched
    params = {**TINY["classifier_params"], "callbacks__filter_rank__every": 5}
    with pytest.raises(ValueError, match="set rank_every=5 instead"):
        noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], **{**TINY, "classifier_params": params})
    # a PReLU's slope, which the own fit trains, stayed at its initial value in a batch
    params = {**TINY["classifier_params"], "activation": torch.nn.PReLU}
    kwargs = {**TINY, "noise_levels": [0.0, 1.0], "seeds": [0], "classifier_params": params}
    auto, alone = noise_sweep(**kwargs), noise_sweep(**kwargs, batched=False)
    assert auto["n_batched"].tolist() == [1, 1]
    pd.testing.assert_frame_equal(_numbers(auto), _numbers(alone), check_exact=True)


def test_numpy_bools_for_batched_are_the_bools(tiny_sweep, tiny_sweep_alone):
    # (e.g. read from an array of settings: np.False_ divided by zero, np.True_ was the
    # int 1, batches of one point that let unbatchable settings through)
    alone = noise_sweep(noise_levels=LEVELS, n_seeds=2, **{**TINY, "batched": np.False_})
    assert alone["n_batched"].tolist() == [1] * 6
    assert alone.attrs["config"]["batched"] is False
    pd.testing.assert_frame_equal(_numbers(alone), _numbers(tiny_sweep_alone), check_exact=True)
    batched = noise_sweep(noise_levels=LEVELS, n_seeds=2, **{**TINY, "batched": np.True_})
    assert batched["n_batched"].tolist() == [6] * 6
    assert batched.attrs["config"]["batched"] is True
    params = {**TINY["classifier_params"], "optimizer__momentum": 0.9}
    with pytest.raises(ValueError, match=r"batched=True, but .*optimizer__\* parameters"):
        noise_sweep(noise_levels=LEVELS, **{**TINY, "batched": np.True_,
                                            "classifier_params": params})


@pytest.mark.parametrize("batched", ["auto", False])
def test_points_that_did_not_train_are_marked(batched):
    # A weak signal: at noise 0 the loss never moves (ConvergenceWarning), at noise 1 the
    # networks fit the noise.
    kwargs = {**TINY, "data_params": {"n_features": 16, "n_patches": 4, "signal_norm": 0.1}}
    with pytest.warns(ConvergenceWarning, match="2 of the 4 sweep points did not train") as w:
        df = noise_sweep(noise_levels=[0.0, 1.0], seeds=[0, 1], batched=batched, **kwargs)
    assert len([x for x in w if x.category is ConvergenceWarning]) == 1  # one, for the sweep
    marked = df["training_warning"] != ""
    assert marked.tolist() == [True, True, False, False]
    assert df.loc[marked, "training_warning"].str.contains("learned nothing").all()
    assert "learned nothing" in str(w[0].message)


@pytest.mark.parametrize("batched", ["auto", False])
def test_a_point_whose_fit_raised_is_reported_and_the_others_kept(batched, tmp_path):
    # noise of 1e30: that fit diverges (its loss is NaN from the second epoch)
    path = tmp_path / "sweep.jsonl"
    kwargs = {**TINY, "noise_levels": [0.0, 1e30], "seeds": [0], "checkpoint": path,
              "batched": batched}
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 2") as info:
        noise_sweep(**kwargs)
    if hasattr(info.value, "add_note"):
        assert "noise_std=1e+30, seed=0" in " ".join(info.value.__notes__)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 1 and json.loads(lines[1])["noise_std"] == 0.0


def test_a_failure_lets_the_points_training_at_once_finish(tmp_path, monkeypatch):
    # two points in two threads, one of which diverges at once: the other was abandoned
    # (its work lost, not in the checkpoint); now it finishes and is saved, then the error
    path = tmp_path / "sweep.jsonl"
    kwargs = {**ALONE, "noise_levels": [1e30, 0.0], "seeds": [0], "checkpoint": path,
              "n_jobs": 2, "backend": "threading"}
    with pytest.raises(TrainingDivergedError) as info:
        noise_sweep(**kwargs)
    if hasattr(info.value, "add_note"):
        assert "noise_std=1e+30, seed=0" in " ".join(info.value.__notes__)
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert [row["noise_std"] for row in rows] == [0.0]

    # an error a point raises (not a failed fit) lets the others finish too, and the other
    # failures are counted (which of the two comes first is the threads' race)
    path.unlink()

    def prepare(kind, noise_std, seed, *args):
        if noise_std == 1.0:
            raise RuntimeError("bad point")
        return PREPARE(kind, noise_std, seed, *args)

    monkeypatch.setattr(_sweep, "_prepare", prepare)
    with pytest.raises((RuntimeError, TrainingDivergedError)) as info:
        noise_sweep(**{**kwargs, "noise_levels": [1.0, 1e30]})
    assert path.read_text().count("\n") == 1  # the header: both failed
    if hasattr(info.value, "add_note"):
        notes = " ".join(info.value.__notes__)
        other = "TrainingDivergedError" if isinstance(info.value, RuntimeError) else "RuntimeError"
        assert f"1 more sweep point(s) failed: {other} (n_samples=60, " in notes


def test_an_error_of_a_fit_names_its_point():
    # an error of the fit itself (not a TrainingFailedError) named no point
    def explode(z):
        raise ValueError("activation failed")

    kwargs = {**ALONE, "classifier_params": {**TINY["classifier_params"], "activation": explode}}
    with pytest.raises(ValueError, match="activation failed") as info:
        noise_sweep(noise_levels=[0.5], seeds=[3], **kwargs)
    if hasattr(info.value, "add_note"):
        assert "in the sweep point n_samples=60, noise_std=0.5, seed=3" in info.value.__notes__


@pytest.mark.slow
def test_threading_backend_gives_identical_numbers(tiny_sweep_alone):
    # one-by-one fits in threads: their warnings are still recorded point by point
    df = noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2, backend="threading", **ALONE)
    pd.testing.assert_frame_equal(_numbers(df), _numbers(tiny_sweep_alone), check_exact=True)
    kwargs = {**ALONE, "data_params": {"n_features": 16, "n_patches": 4, "signal_norm": 0.1}}
    with pytest.warns(ConvergenceWarning):
        df = noise_sweep(noise_levels=[0.0, 1.0], seeds=[0, 1], n_jobs=2, backend="threading",
                         **kwargs)
    assert (df["training_warning"] != "").tolist() == [True, True, False, False]


def test_one_by_one_fits_in_threads_train_at_once(monkeypatch):
    # each thread records its own fit's ConvergenceWarning (a context variable, not the
    # process-wide warning filters under a lock): the two fits are inside fit together
    import threading

    from sklrank import RankCNNClassifier

    barrier = threading.Barrier(2, timeout=60)
    fit = RankCNNClassifier.fit

    def fit_when_both_are_in(self, X, y, **fit_params):
        barrier.wait()  # times out (BrokenBarrierError) when the fits run one at a time
        return fit(self, X, y, **fit_params)

    monkeypatch.setattr(RankCNNClassifier, "fit", fit_when_both_are_in)
    kwargs = {**ALONE, "data_params": {"n_features": 16, "n_patches": 4, "signal_norm": 0.1}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], n_jobs=2, backend="threading",
                         **kwargs)
    assert (df["training_warning"] != "").tolist() == [True, False]
    assert "learned nothing" in df["training_warning"].iloc[0]
    # one warning for the sweep, naming the point; the fit's own was recorded, not shown
    shown = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(shown) == 1 and "training_warning" in str(shown[0].message)


def test_each_point_has_its_own_callbacks():
    # one callback object for every point: points training at once in threads shared its
    # state (an EarlyStopping's count stopped other points' fits early)
    from skorch.callbacks import EarlyStopping

    params = {"callbacks": [("stop", EarlyStopping(monitor="train_loss", patience=3))],
              "max_epochs": 60}
    a = _sweep._make_classifier(params, 0, (1, 4, 16), (1, 16))
    b = _sweep._make_classifier(params, 1, (1, 4, 16), (1, 16))
    assert a.callbacks[0][1] is not b.callbacks[0][1]
    assert a.callbacks[0][1] is not params["callbacks"][0][1]
    assert a.callbacks[0][1].get_params() == params["callbacks"][0][1].get_params()
    kwargs = {**ALONE, "classifier_params": {**TINY["classifier_params"], **params}}
    alone = noise_sweep(noise_levels=LEVELS, n_seeds=2, **kwargs)
    threads = noise_sweep(noise_levels=LEVELS, n_seeds=2, n_jobs=2, backend="threading",
                          **kwargs)
    pd.testing.assert_frame_equal(_numbers(threads), _numbers(alone), check_exact=True)


def test_a_checkpoint_with_callbacks_resumes_with_equal_new_ones(tmp_path, monkeypatch):
    # the configuration held each callback's repr, "<... object at 0x...>": a new process
    # (a new object) was refused as "another configuration"; now class and parameters
    from skorch.callbacks import EarlyStopping

    def params(patience):
        return {**TINY["classifier_params"],
                "callbacks": [EarlyStopping(monitor="train_loss", patience=patience)]}

    described = _sweep._jsonable(params(5)["callbacks"])
    assert described == _sweep._jsonable(params(5)["callbacks"])
    assert described != _sweep._jsonable(params(6)["callbacks"])
    assert "0x" not in json.dumps(described)
    # what a repr would not tell apart: two lambdas, long arrays differing in the middle
    assert _sweep._jsonable(lambda x: x) != _sweep._jsonable(lambda x: 2 * x)
    namespace = {"GAMMA": 0.97}
    exec("f = lambda e: GAMMA ** e", namespace)  # a global read by a lambda, then changed
    before = _sweep._jsonable(namespace["f"])
    namespace["GAMMA"] = 0.5
    assert _sweep._jsonable(namespace["f"]) != before
    a = np.zeros(2000)
    b = a.copy()
    b[1000] = 1.0
    assert _sweep._jsonable(a) != _sweep._jsonable(b)
    assert _sweep._jsonable(a) == _sweep._jsonable(a.copy())
    path = tmp_path / "sweep.jsonl"
    _interrupt_after(monkeypatch, 1, RuntimeError)
    with pytest.raises(RuntimeError):
        noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], checkpoint=path,
                    **{**ALONE, "classifier_params": params(5)})
    done = _interrupt_after(monkeypatch, 100)
    noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], checkpoint=path,
                **{**ALONE, "classifier_params": params(5)})
    assert len(done) == 1  # resumed: only the missing point trained
    with pytest.raises(CheckpointError, match="'patience': 5.* there, .*'patience': 6"):
        noise_sweep(noise_levels=[0.0, 1.0], seeds=[0], checkpoint=path,
                    **{**ALONE, "classifier_params": params(6)})


# --------------------------------------------------------------------------- memory


_NOTEBOOK_CELL = """
SCALE = 0.5


def helper(z):
    return torch.relu(z)


def act(z, k=1.0):
    leak = lambda t: SCALE * t  # noqa: E731
    return k * helper(z) + leak(z) * 0.1
"""


def _notebook_cell(source, filename, blank_lines=0):
    """The functions of ``source`` as a notebook cell defines them: in ``__main__``, under a
    file name that changes from one kernel session to the next."""
    namespace = {"__name__": "__main__", "torch": torch}
    exec(compile("\n" * blank_lines + source, filename, "exec"), namespace)
    return namespace


def test_functions_are_described_by_their_code():
    # a function in __main__ was described by its name (an edited one resumed the old
    # results); a lambda by its marshalled code, file name and line numbers included (a
    # notebook's lambda could not resume after a kernel restart)
    first = _notebook_cell(_NOTEBOOK_CELL, "<ipython-input-3-1a2b>")
    again = _notebook_cell(_NOTEBOOK_CELL, "<ipython-input-9-ffee>", blank_lines=7)
    for name in ("act", "helper"):
        assert _sweep._jsonable(first[name]) == _sweep._jsonable(again[name])
    same_lambda = [_notebook_cell("f = lambda x: 2 * x", f"<cell {i}>", i)["f"] for i in (1, 2)]
    assert _sweep._jsonable(same_lambda[0]) == _sweep._jsonable(same_lambda[1])
    act = _sweep._jsonable(first["act"])
    for edit in (("0.1", "0.2"),  # its code
                 ("SCALE * t", "SCALE * t * t"),  # a nested lambda's code
                 ("torch.relu", "torch.tanh"),  # a function it calls
                 ("SCALE = 0.5", "SCALE = 0.25"),  # a global it reads
                 ("k=1.0", "k=2.0")):  # a default
        edited = _notebook_cell(_NOTEBOOK_CELL.replace(*edit), "<ipython-input-3-1a2b>")
        assert _sweep._jsonable(edited["act"]) != act, edit
    # closures, partials and classes of one's own too
    def scaled(c):
        return lambda z: c * z

    assert _sweep._jsonable(scaled(1.0)) == _sweep._jsonable(scaled(1.0))
    assert _sweep._jsonable(scaled(1.0)) != _sweep._jsonable(scaled(2.0))
    assert (_sweep._jsonable(functools.partial(first["act"], k=2.0))
            != _sweep._jsonable(functools.partial(first["act"], k=3.0)))
    module = "class M(torch.nn.Module):\n    def forward(self, z):\n        return {}\n"
    classes = [_notebook_cell(module.format(body), f"<cell {i}>", i)["M"]
               for i, body in enumerate(["torch.relu(z)", "torch.relu(z)", "torch.tanh(z)"])]
    described = [_sweep._jsonable(c) for c in classes]
    assert described[0] == described[1] != described[2]
    # a library's functions by their names (their package's version is in the configuration)
    assert _sweep._jsonable(torch.relu) == "torch._VariableFunctionsClass.relu"
    assert _sweep._jsonable(np.mean) == "numpy.mean"


def test_a_notebooks_function_resumes_after_a_restart_and_an_edited_one_does_not(
        tmp_path, monkeypatch):
    path = tmp_path / "sweep.jsonl"
    kwargs = {**ALONE, "noise_levels": [0.0, 1.0], "seeds": [0], "checkpoint": path}
    params = kwargs.pop("classifier_params")

    def sweep(activation):
        return noise_sweep(**kwargs, classifier_params={**params, "activation": activation})

    _interrupt_after(monkeypatch, 1, RuntimeError)
    with pytest.raises(RuntimeError):
        sweep(_notebook_cell(_NOTEBOOK_CELL, "<ipython-input-3-1a2b>")["act"])
    monkeypatch.setattr(_sweep, "_prepare", PREPARE)
    edited = _notebook_cell(_NOTEBOOK_CELL.replace("0.1", "0.2"), "<ipython-input-3-1a2b>")
    with pytest.raises(CheckpointError, match="another configuration .*activation"):
        sweep(edited["act"])
    # the same cell run again after a kernel restart: another file name, other lines
    done = _interrupt_after(monkeypatch, 100)
    resumed = sweep(_notebook_cell(_NOTEBOOK_CELL, "<ipython-input-1-9c8d>", 4)["act"])
    assert len(resumed) == 2 and len(done) == 1


@pytest.mark.parametrize("mode", ["pad", "additive"])
def test_background_noise_scales_in_place_with_the_same_numbers(mode):
    # BackgroundNoise draws the noise and scales it in place: the numbers of
    # std * rng.standard_normal(...), with one canvas-sized array at its peak, not two.
    import tracemalloc

    from sklrank import BackgroundNoise

    X = np.random.default_rng(0).standard_normal((400, 100)).astype(np.float32)
    step = BackgroundNoise(0.37, (1, 10, 10), mode=mode, grid=(2, 2), position=(1, 0),
                           random_state=5).fit(X)
    rng = np.random.default_rng(np.random.RandomState(5).randint(np.iinfo(np.int32).max))
    if mode == "pad":
        shape = (400, 1, 20, 20)
        expected = 0.37 * rng.standard_normal(shape, dtype=np.float32)
        expected[:, :, 10:, :10] = X.reshape(400, 1, 10, 10)
    else:
        expected = X + 0.37 * rng.standard_normal(X.shape, dtype=np.float32)
    tracemalloc.start()
    out = step.transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(out, expected.reshape(400, -1))
    assert peak < 1.5 * out.nbytes


# --------------------------------------------------------------------------- figures


def test_plot_into_a_users_axes(tiny_sweep):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_noise_sweep(tiny_sweep, ax=right, log_y=False) is right
    labels = [text.get_text() for text in right.get_legend().get_texts()]
    assert {"data", "patches", "filters"} <= set(labels)
    assert any(label.startswith("clean data rank (4") for label in labels)
    assert right.get_yscale() == "linear"
    assert not left.lines and not fig.get_suptitle()  # the rest of the user's figure as it was
    plt.close(fig)

    fig, axes = plt.subplots(2, 1)
    drawn = plot_noise_sweep(tiny_sweep, axes=axes, title="mine")
    assert list(drawn) == list(axes)
    assert axes[0].get_title() == "mine" and axes[1].get_ylabel() == "accuracy"
    plt.close(fig)


def test_plot_creates_a_figure(tiny_sweep):
    # "auto": a log scale once the ranks span more than a factor of 5
    spread = tiny_sweep.assign(data_stable_rank=10 * tiny_sweep["data_stable_rank"])
    axes = plot_noise_sweep(spread)
    assert axes.shape == (2,)
    rank_ax, acc_ax = axes
    assert rank_ax.get_yscale() == "log"
    assert acc_ax.get_ylabel() == "accuracy"
    assert rank_ax.figure is acc_ax.figure
    plt.close(rank_ax.figure)

    two = pd.concat([tiny_sweep, tiny_sweep.assign(dataset="other")])
    axes = plot_noise_sweep(two)
    assert axes.shape == (2, 2)
    assert axes[1, 0].get_title().startswith("other")
    plt.close(axes[0, 0].figure)


def test_plot_of_a_sweep_refuses_several_training_set_sizes(tiny_sweep):
    # a sample-size study's frame: one band per noise level over every n, titled "over seeds"
    study = pd.concat([tiny_sweep, tiny_sweep.assign(n_train=2 * tiny_sweep["n_train"])])
    with pytest.raises(ValueError, match=r"several training-set sizes .*plot_sample_size_study"):
        plot_noise_sweep(study)
    one = study[study["n_train"] == tiny_sweep["n_train"].iloc[0]]
    plt.close(plot_noise_sweep(one)[0].figure)


def test_relplot_reads_the_same_frame(tiny_sweep):
    import seaborn as sns

    grid = sns.relplot(data=tiny_sweep, x="noise_std", y="filter_stable_rank", hue="dataset",
                       kind="line")
    assert grid.ax.get_xlabel() == "noise_std"
    plt.close(grid.figure)


def test_plot_round_trip_through_csv(tiny_sweep, tmp_path):
    path = tmp_path / "sweep.csv"
    tiny_sweep.to_csv(path, index=False)
    axes = plot_noise_sweep(pd.read_csv(path))
    axes[0].figure.savefig(tmp_path / "sweep.png")
    plt.close(axes[0].figure)
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def _spread_drawn(ax):
    """The heights of the seeds' spread drawn in ax: error bars' lengths, bands' heights."""
    from matplotlib.collections import LineCollection, PolyCollection

    heights = []
    for collection in ax.collections:
        if isinstance(collection, LineCollection):
            heights += [np.ptp(np.asarray(seg)[:, 1]) for seg in collection.get_segments()]
        elif isinstance(collection, PolyCollection):  # a band: its area over its width
            for path in collection.get_paths():
                x = path.vertices[:, 0]
                heights.append(np.ptp(path.vertices[:, 1]) if np.ptp(x) > 0 else 0.0)
    return heights


def test_plot_shows_the_spread_at_one_x_value(tiny_sweep, tiny_study):
    from matplotlib.collections import LineCollection

    # one noise level (one size): the band over one x value has no width, so the title's
    # "mean ± sd over seeds" had no sd drawn; error bars show it
    one_level = tiny_sweep[tiny_sweep["noise_std"] == 1.0]
    rank, accuracy = plot_noise_sweep(one_level)
    assert "mean ± sd" in rank.get_title()
    for ax in (rank, accuracy):
        assert max(_spread_drawn(ax), default=0.0) > 0
    plt.close(rank.figure)
    left, right = plot_sample_size_study(tiny_study[tiny_study["n_train"] == 400])
    for ax in (left, right):
        assert max(_spread_drawn(ax), default=0.0) > 0
    plt.close(left.figure)
    # several x values: the band, as before
    rank = plot_noise_sweep(tiny_sweep)[0]
    assert not any(isinstance(c, LineCollection) for c in rank.collections)
    plt.close(rank.figure)


def test_plot_bad_input(tiny_sweep):
    with pytest.raises(ValueError, match=r"lacks the columns \['filter_stable_rank'\]"):
        plot_noise_sweep(tiny_sweep.drop(columns="filter_stable_rank"))
    with pytest.raises(ValueError, match="empty"):
        plot_noise_sweep(tiny_sweep.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        plot_noise_sweep(tiny_sweep.to_numpy())
    with pytest.raises(ValueError, match="must be numeric"):
        plot_noise_sweep(tiny_sweep.assign(filter_stable_rank="high"))
    fig, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="not both"):
        plot_noise_sweep(tiny_sweep, ax=axes[0], axes=axes[:2])
    with pytest.raises(ValueError, match="axes must be 2 matplotlib Axes, got 3"):
        plot_noise_sweep(tiny_sweep, axes=axes)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_noise_sweep(tiny_sweep, ax=fig)
    two = pd.concat([tiny_sweep, tiny_sweep.assign(dataset="other")])
    with pytest.raises(ValueError, match="select one"):
        plot_noise_sweep(two, ax=axes[0])
    plt.close(fig)


@pytest.fixture(scope="module")
def tiny_study():
    """A made-up study table: 3 sizes x 2 noise levels x 2 seeds (no fits)."""
    rows = []
    for n in (100, 400, 1600):
        for noise in (0.0, 1.0):
            for seed in (0, 1):
                rows.append({
                    "dataset": "mnist", "n_train": n, "noise_std": noise, "seed": seed,
                    "filter_stable_rank": 6 + (10 * noise * 100 / n) + 0.1 * seed,
                    "data_stable_rank": 1.6 + 60 * noise + 0.2 * seed, "clean_rank": 10,
                })
    return pd.DataFrame(rows)


def test_plot_sample_size_study(tiny_study, tmp_path):
    axes = plot_sample_size_study(tiny_study)
    left, right = axes
    assert left.get_xscale() == "log" and left.get_ylabel() == "filter stable rank"
    assert right.get_yscale() == "log"  # the data grow ~40x, the filters less than 2x
    # the growth panel: the filters' mean ratio over the seeds at each n, from noise 0 to 1
    filters = [line for line in right.get_lines() if len(line.get_xdata()) == 3][0]
    expected = [np.mean([(6 + 0.1 * s + 1000 / n) / (6 + 0.1 * s) for s in (0, 1)])
                for n in (100, 400, 1600)]
    np.testing.assert_allclose(filters.get_ydata(), expected, rtol=1e-12)
    assert "clean data rank (10)" in [t.get_text() for t in left.get_legend().get_texts()]
    left.figure.savefig(tmp_path / "study.png")
    plt.close(left.figure)

    fig, ax = plt.subplots()
    assert plot_sample_size_study(tiny_study, ax=ax, log_x=False) is ax
    assert ax.get_xscale() == "linear"
    plt.close(fig)
    one_level = tiny_study[tiny_study["noise_std"] == 0]
    with pytest.raises(ValueError, match="one noise level"):
        plot_sample_size_study(one_level)
    fig, ax = plt.subplots()
    plot_sample_size_study(one_level, ax=ax)  # the left panel needs one level only
    plt.close(fig)
    with pytest.raises(ValueError, match=r"lacks the columns \['n_train'\]"):
        plot_sample_size_study(tiny_study.drop(columns="n_train"))
    # two data sets in one panel, told apart by the line style
    both = pd.concat([tiny_study, tiny_study.assign(dataset="cifar10")])
    axes = plot_sample_size_study(both)
    assert "cifar10" in [t.get_text() for t in axes[0].get_legend().get_texts()]
    plt.close(axes[0].figure)


def test_study_growth_is_from_the_smallest_to_the_largest_level(tiny_study):
    # seed 0 at n=100 lacks its noise-1 row (e.g. dropped as a fit that did not train): its
    # growth was the ratio of its noise-0 row to itself, 1, averaged into the panel's
    partial = tiny_study.drop(index=tiny_study.index[
        (tiny_study["n_train"] == 100) & (tiny_study["seed"] == 0)
        & (tiny_study["noise_std"] == 1.0)])
    right = plot_sample_size_study(partial)[1]
    filters = [line for line in right.get_lines() if len(line.get_xdata()) == 3][0]
    expected = [np.mean([(6 + 0.1 * s + 1000 / n) / (6 + 0.1 * s) for s in seeds])
                for n, seeds in ((100, [1]), (400, [0, 1]), (1600, [0, 1]))]
    np.testing.assert_allclose(filters.get_ydata(), expected, rtol=1e-12)
    plt.close(right.figure)


def _made_up_sweep():
    """A made-up sweep table: 2 noise levels x 2 seeds (no fits)."""
    return pd.DataFrame([
        {"dataset": "synthetic", "noise_std": noise, "seed": seed, "clean_rank": 4,
         "data_stable_rank": 4 + 100 * noise, "patch_stable_rank": 4 + 50 * noise,
         "filter_stable_rank": 4.0 + seed, "train_accuracy": 1.0, "test_accuracy": 0.9}
        for noise in (0.0, 1.0) for seed in (0, 1)
    ])


def test_sweep_plot_warns_of_ranks_a_log_scale_cannot_draw():
    # matplotlib leaves a value <= 0 off a log axis without a word: all-zero filters (rank
    # 0 at both seeds) at noise 1 vanished from the figure
    df = _made_up_sweep()
    df.loc[df["noise_std"] == 1.0, "filter_stable_rank"] = 0.0
    for log_y in ("auto", True):
        with pytest.warns(RuntimeWarning) as caught:
            ax = plot_noise_sweep(df, log_y=log_y)[0]
        assert len(caught) == 1 and caught[0].filename == __file__
        message = str(caught[0].message)
        assert message.startswith("plot_noise_sweep: 1 point(s) of 'synthetic' with a stable "
                                  "rank of 0 or below are not drawn: the log y scale"), message
        assert "e.g. filters at noise_std=1. Pass log_y=False to draw them" in message
        assert ax.get_yscale() == "log"
        plt.close(ax.figure)
    # a fit crossed out as untrained at rank 0 is a point too
    flagged = df.assign(training_warning=["", "", "", "learned nothing"])
    with pytest.warns(RuntimeWarning, match=r"2 point\(s\) .* not drawn"):
        plt.close(plot_noise_sweep(flagged, log_y=True)[0].figure)
    # on a linear scale they are drawn, without a word; one seed's 0 only lowers a mean
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plt.close(plot_noise_sweep(df, log_y=False)[0].figure)
        df.loc[(df["noise_std"] == 1.0) & (df["seed"] == 0), "filter_stable_rank"] = 0.5
        plt.close(plot_noise_sweep(df, log_y=True)[0].figure)


def test_study_growth_of_a_zero_rank_is_nan_with_a_warning(tiny_study):
    # all-zero filters (a stable rank of 0 in the table) at noise 0: the growth was
    # rank / 0 = inf with numpy's "divide by zero encountered in scalar divide", and 0 / 0
    # NaN with its "invalid value encountered"
    zero = tiny_study.copy()
    at = (zero["n_train"] == 400) & (zero["seed"] == 0)
    zero.loc[at & (zero["noise_std"] == 0.0), "filter_stable_rank"] = 0.0
    zero.loc[(zero["n_train"] == 1600) & (zero["seed"] == 1), "filter_stable_rank"] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        right = plot_sample_size_study(zero)[1]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and caught[0].category is RuntimeWarning, messages
    assert messages[0].startswith("2 growth ratio(s) are undefined, set to NaN and left out "
                                  "of the growth panel"), messages
    assert ("e.g. filter_stable_rank=0 at noise_std=0 (dataset='mnist', n_train=400, "
            "seed=0)") in messages[0]
    assert caught[0].filename == __file__  # the caller's line
    # the filters' mean growth at n=400 and n=1600 is over the other seed alone
    filters = [line for line in right.get_lines() if len(line.get_xdata()) == 3][0]
    expected = [np.mean([(6 + 0.1 * s + 1000 / n) / (6 + 0.1 * s) for s in seeds])
                for n, seeds in ((100, [0, 1]), (400, [1]), (1600, [0]))]
    np.testing.assert_allclose(filters.get_ydata(), expected, rtol=1e-12)
    plt.close(right.figure)
    # a NaN rank (a fit that failed) is NaN growth, as before, without a word
    failed = tiny_study.copy()
    failed.loc[at & (failed["noise_std"] == 0.0), "filter_stable_rank"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plt.close(plot_sample_size_study(failed)[0].figure)


@pytest.mark.parametrize("study", [False, True])
def test_plots_cross_out_the_fits_that_did_not_train(tiny_study, study, tmp_path):
    # a fit whose loss never moved keeps its row, and its filters' rank (the initial
    # filters') went into the mean and band drawn as the learned filters' rank, with nothing
    # on the figure (the CLI's PNG) saying so
    df = tiny_study.assign(training_warning="")
    if not study:
        df = df[df.n_train == 100].drop(columns="n_train")
    untrained = df.index[(df.noise_std == 1.0) & (df.seed == 1)][:1]
    df.loc[untrained, "training_warning"] = "RankCNNClassifier learned nothing: ..."
    df = df.assign(train_accuracy=0.9, test_accuracy=0.8)
    # its rank, the initial filters', far from the learned ones: the mean drawn at that
    # point was pulled towards it (it was in the mean and band)
    df.loc[untrained, "filter_stable_rank"] = 1000.0
    x_name = "n_train" if study else "noise_std"
    x = df.loc[untrained, x_name].iloc[0]
    at = (df[x_name] == x) & (df.noise_std == 1.0)
    learned = df.loc[at & (df.training_warning == ""), "filter_stable_rank"].mean()
    plot = plot_sample_size_study if study else plot_noise_sweep
    path = tmp_path / "untrained.csv"  # (read back, the empty messages are NaN)
    df.to_csv(path, index=False)
    for frame in (df, pd.read_csv(path)):
        axes = plot(frame)
        ax = axes[0]
        label = f"did not train: 1 of {len(df)} fits (training_warning; not in the mean)"
        assert label in [t.get_text() for t in ax.get_legend().get_texts()]
        crosses = [c for c in ax.collections if c.get_label() == label][0]
        np.testing.assert_array_equal(
            crosses.get_offsets(), [[x, df.loc[untrained, "filter_stable_rank"].iloc[0]]])
        # a line passes through the mean of the fits that trained there, none near 1000
        points = [(px, py) for line in ax.get_lines()
                  for px, py in zip(line.get_xdata(), line.get_ydata())]
        assert any(px == x and np.isclose(py, learned) for px, py in points), learned
        assert max(py for _, py in points) < 100
        if not study:  # the accuracy panel: crossed out too, left out of the means
            texts = [t.get_text() for t in axes[1].get_legend().get_texts()]
            assert label in texts
        plt.close(ax.figure)
    # a frame whose fits all trained has no such entry
    axes = plot(df.assign(training_warning=""))
    assert not any("did not train" in t.get_text()
                   for t in axes[0].get_legend().get_texts())
    plt.close(axes[0].figure)


def test_study_plot_draws_each_data_sets_clean_rank(tiny_study):
    # (one line at the median of all the rows: 7, the clean rank of neither data set)
    both = pd.concat([tiny_study, tiny_study.assign(dataset="synthetic", clean_rank=4)])
    left = plot_sample_size_study(both)[0]
    clean = {line.get_label(): line.get_ydata()[0] for line in left.get_lines()
             if line.get_label().startswith("clean")}
    assert clean == {"clean data rank, mnist (10)": 10, "clean data rank, synthetic (4)": 4}
    plt.close(left.figure)


def test_study_plot_clean_rank_lines_take_their_data_sets_line_style(tiny_study):
    # every clean-rank line was black and "--": with several data sets the lines (and their
    # legend entries) could not be told apart
    three = pd.concat([tiny_study.assign(dataset="synthetic", clean_rank=4), tiny_study,
                       tiny_study.assign(dataset="cifar10", clean_rank=20)])
    left = plot_sample_size_study(three)[0]
    legend = dict(zip((t.get_text() for t in left.get_legend().get_texts()),
                      left.get_legend().legend_handles))
    clean = {line.get_label(): line for line in left.get_lines()
             if line.get_label().startswith("clean")}
    assert len(clean) == 3
    patterns = set()
    for name, rank in (("synthetic", 4), ("mnist", 10), ("cifar10", 20)):
        line = clean[f"clean data rank, {name} ({rank})"]
        # the data set's own line style (its legend entry), in black
        assert line.get_linestyle() == legend[name].get_linestyle()
        assert line._unscaled_dash_pattern == legend[name]._unscaled_dash_pattern
        assert line.get_color() == "black"
        patterns.add(str(line._unscaled_dash_pattern))
    assert len(patterns) == 3 and clean["clean data rank, synthetic (4)"].get_linestyle() == "-"
    plt.close(left.figure)
    # data sets of one clean rank share a line, whose label names them
    left = plot_sample_size_study(pd.concat([tiny_study, tiny_study.assign(dataset="cifar10")]))[0]
    assert [line.get_label() for line in left.get_lines()
            if line.get_label().startswith("clean")] == ["clean data rank, mnist, cifar10 (10)"]
    plt.close(left.figure)
    # one data set: one dashed line, as before
    left = plot_sample_size_study(tiny_study)[0]
    line, = (line for line in left.get_lines() if line.get_label().startswith("clean"))
    assert line.get_linestyle() == "--" and line.get_label() == "clean data rank (10)"
    plt.close(left.figure)


def test_study_plot_dashes_without_seaborns_private_api(tiny_study, monkeypatch):
    # the dashes came from seaborn._base.unique_dashes, private: its removal or change in a
    # seaborn release would break (ImportError) or change every figure of several data sets
    import seaborn as sns
    import seaborn._base

    from sklrank.experiments._plot import _DASHES

    names = [f"set{i}" for i in range(len(_DASHES))]
    many = pd.concat([tiny_study.assign(dataset=name) for name in names])
    # the look is seaborn's own default line styles (style=..., dashes=True), in order
    fig, ax = plt.subplots()
    sns.lineplot(data=many, x="n_train", y="filter_stable_rank", style="dataset",
                 style_order=names, ax=ax)
    legend = dict(zip((t.get_text() for t in ax.get_legend().get_texts()),
                      ax.get_legend().legend_handles))
    seaborns = [legend[name]._unscaled_dash_pattern for name in names]
    plt.close(fig)
    # (seaborn itself calls it for its defaults, which the figure's own dashes replace)
    monkeypatch.setattr(seaborn._base, "unique_dashes", lambda n: [""] * n)
    left = plot_sample_size_study(many)[0]
    legend = dict(zip((t.get_text() for t in left.get_legend().get_texts()),
                      left.get_legend().legend_handles))
    assert [legend[name]._unscaled_dash_pattern for name in names] == seaborns
    plt.close(left.figure)
    with pytest.raises(ValueError, match=f"holds {len(_DASHES) + 1} data sets, more than"):
        plot_sample_size_study(pd.concat([many, tiny_study.assign(dataset="one more")]))


def test_study_growth_panel_per_data_set_noise_levels(tiny_study):
    # a data set with one noise level: its growth was its row over itself, 1 at every n
    # (the claim "the filters do not grow" drawn for a data set without noise)
    clean_only = tiny_study[tiny_study["noise_std"] == 0].assign(dataset="cifar10")
    with pytest.raises(ValueError, match=r"\['cifar10'\] of df hold one noise level"):
        plot_sample_size_study(pd.concat([tiny_study, clean_only]))
    fig, ax = plt.subplots()
    plot_sample_size_study(pd.concat([tiny_study, clean_only]), ax=ax)  # the left panel
    plt.close(fig)
    # other extremes per data set: the labels named those of all the rows ("noise 2 / at
    # noise 0" for a data set that went up to noise 1 only)
    other = tiny_study.assign(dataset="cifar10", noise_std=2 * tiny_study["noise_std"])
    right = plot_sample_size_study(pd.concat([tiny_study, other]))[1]
    assert "noise 2" not in right.get_ylabel() and "each data set" in right.get_title()
    plt.close(right.figure)
    right = plot_sample_size_study(pd.concat([tiny_study, tiny_study.assign(dataset="x")]))[1]
    assert right.get_ylabel() == "stable rank at noise 1 / at noise 0"
    plt.close(right.figure)


def test_study_plot_gives_each_data_set_one_line_style(tiny_study):
    # the growth panel's table is sorted by data set, the left panel's rows are not: with
    # "synthetic" first, it was solid on the left and dashed on the right (and "mnist" the
    # other way round)
    both = pd.concat([tiny_study.assign(dataset="synthetic"), tiny_study])
    left, right = plot_sample_size_study(both)
    styles = [{text.get_text(): handle.get_linestyle() for text, handle in
               zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
               if text.get_text() in ("mnist", "synthetic")} for ax in (left, right)]
    assert styles[0] == styles[1] == {"synthetic": "-", "mnist": "--"}
    # one heading for the noise levels (the legend said "noise std", then "noise")
    texts = [t.get_text() for t in left.get_legend().get_texts()]
    assert "noise" not in texts and left.get_legend().get_title().get_text() == ""
    plt.close(left.figure)


# --------------------------------------------------------------------------- benchmark


def test_batched_benchmark_rows(tmp_path, monkeypatch):
    # benchmarks/bench_sweep.py's rows for RESULTS.md (tiny sizes, nothing timed here)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_sweep
    import run as benchmarks_run

    tiny = {k: v for k, v in TINY.items() if k != "verbose"}
    monkeypatch.setattr(bench_sweep, "README_SWEEP", {**tiny, "dataset": "synthetic",
                                                      "noise_levels": [0.0, 1.0], "n_seeds": 2})
    rows, notes = bench_sweep.batched_against_one_by_one(repeats=1, data_home=tmp_path)
    assert [r["case"] for r in rows] == ["README sweep (synthetic)"]
    assert notes and notes[0].startswith("MNIST, 500 images, 2 x 2 canvas left out: MNIST files")
    row = rows[0]
    assert row["points"] == 4 and row["epochs"] == 40 and row["same_predictions"]
    assert row["max_filter_rank_rel_diff"] <= RANK_RTOL
    assert row["ratio"] > 0 and row["ratio_2_threads"] > 0
    text = "\n".join(benchmarks_run.sweep_section(
        [{"varies": "n_jobs", "n_samples": 60, "n_jobs": 1, "seconds": 1.0, "fits": 6,
          "seconds_per_fit": 0.2}],
        {"seconds_per_1000_samples": 1.0, "fixed_seconds": 0.1,
         "max_relative_deviation_from_line": 0.01}, rows, notes))
    assert "README sweep (synthetic)" in text and "left out" in text


@pytest.mark.parametrize("batched", [True, False])
def test_a_fits_other_warnings_are_shown_once(batched, monkeypatch):
    # a warning that is not a ConvergenceWarning is shown as the estimator's own fit shows
    # it: once a point, batched or not
    import warnings

    import sklrank._base as base

    check = base._BaseNet._check_training_outcome

    def warn_then_check(self, *args, **kwargs):
        warnings.warn("a fit's own warning", UserWarning, stacklevel=2)
        return check(self, *args, **kwargs)

    monkeypatch.setattr(base._BaseNet, "_check_training_outcome", warn_then_check)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        noise_sweep(noise_levels=[0.0, 1.0], n_seeds=1, **{**TINY, "batched": batched})
    assert sum("a fit's own warning" in str(w.message) for w in caught) == 2


def test_a_ctrl_c_while_the_handler_is_restored_leaves_pythons_handler(monkeypatch):
    # a Ctrl-C landing in interrupts_raised's restore raised out of it and left its handler
    # installed; every later sweep or study then let skorch swallow a Ctrl-C (a fit ended
    # early, kept as a result)
    import signal

    from sklrank._interrupts import interrupts_raised

    real_signal, calls = signal.signal, []

    def signal_with_a_ctrl_c_at_the_restore(signum, handler):
        calls.append(handler)
        if handler is signal.default_int_handler and calls.count(handler) == 1:
            raise KeyboardInterrupt  # as the note-and-interrupt handler would, right here
        return real_signal(signum, handler)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(signal, "signal", signal_with_a_ctrl_c_at_the_restore)
    with pytest.raises(KeyboardInterrupt), interrupts_raised():
        pass
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_plot_wraps_a_long_title_to_the_figure(tiny_sweep, tiny_study):
    # a title wider than the figure was cut off at both sides (sklrank sweep's titles name
    # the classes and every training-set size)
    title = "mnist: classes " + ", ".join(str(c) for c in range(10)) + ", PCA rank K = 10, " \
        + "n = " + ", ".join(str(100 * 2**k) for k in range(12)) + " training images"
    for axes in (plot_noise_sweep(tiny_sweep, title=title),
                 plot_sample_size_study(tiny_study, title=title)):
        fig = np.ravel(axes)[0].figure
        fig.canvas.draw()
        drawn = fig._suptitle
        with drawn._cm_set(text=drawn._get_wrapped_text()):
            box = drawn.get_window_extent(fig.canvas.get_renderer())
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (box, fig.bbox)
        plt.close(fig)


def test_plot_of_one_noise_level_ticks_that_level_only(tiny_sweep):
    # matplotlib centred the axis on the one level: a sweep at noise 0 showed noise standard
    # deviations from -0.04, which no sweep has
    zero = tiny_sweep[tiny_sweep["noise_std"] == tiny_sweep["noise_std"].min()]
    assert zero["noise_std"].nunique() == 1
    for ax in plot_noise_sweep(zero):
        ax.figure.canvas.draw()
        assert list(ax.get_xticks()) == [zero["noise_std"].iloc[0]]
        assert all(float(t.get_text().replace("−", "-")) >= 0 for t in ax.get_xticklabels())
    plt.close(ax.figure)
