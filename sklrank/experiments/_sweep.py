"""The noise sweep of Zhang, Gao, Zou and Cao (2025), and the same sweep across sample sizes.

A sweep is a grid of points (training-set size, noise level, seed); each point trains one
network and measures it. The grid is built and every input checked before the first fit
(:func:`_plan`); the points that share a network shape are cut into batches that each train
as one batched model (:func:`_tasks`, :func:`sklrank._batched.fit_batched`), or each point
trains alone; the tasks run through joblib (:func:`_execute`), each finished point goes to
the checkpoint file as its task finishes, and the rows become one tidy DataFrame.
"""

import contextlib
import copy
import functools
import hashlib
import inspect
import os
import re
import threading
import time
import traceback
import types
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs, parallel_config
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import warn_untrained
from .._interrupts import StopSignal
from .._memory import check_fits_in_memory
from .._params import MAX_EPOCHS, MAX_SEEDS, validate_params
from .._threads import thread_limits as _thread_limits
from ..preprocessing._noise import _is_int
from ._checkpoint import SweepCheckpoint
from ._defaults import (
    CLASSIFIER_DEFAULTS,
    IMAGE_CLASSIFIER_DEFAULTS,
    IMAGE_DEFAULTS,
    SAMPLE_SIZE_DEFAULTS,
    SYNTHETIC_DEFAULTS,
)

__all__ = [
    "noise_sweep",
    "sample_size_study",
    "SYNTHETIC_DEFAULTS",
    "IMAGE_DEFAULTS",
    "CLASSIFIER_DEFAULTS",
    "IMAGE_CLASSIFIER_DEFAULTS",
    "SAMPLE_SIZE_DEFAULTS",
]

_DATASETS = ("synthetic", "mnist", "cifar10")
# Settings of the data that data_params may change (the others have their own parameter).
_OWN_PARAMETERS = ("n_samples", "n_test", "rank", "classes")
# Classifier parameters the sweep sets itself.
_SET_BY_SWEEP = ("input_shape", "kernel_size", "random_state", "device")
# The data are float32: Gaussian noise of a larger standard deviation overflows to infinity
# (draws reach ~6 standard deviations, float32 stops at 3.4e38).
_MAX_NOISE_STD = 1e37
# ... and of a smaller one than float32's smallest normal value is subnormal: rounded to a
# few multiples of 1.4e-45 (BackgroundNoise and make_low_rank_patches refuse it).
_MIN_NOISE_STD = float(np.finfo(np.float32).tiny)
# A seed is a numpy RandomState seed.
_MAX_SEED = 2**32 - 1
# The fields that identify a point (a row) of a sweep.
_POINT_KEY = ("n_train", "noise_std", "seed")
# The fewest training samples of a point: one of each of two classes.
_MIN_TRAIN = 2
# Samples a block when the patch matrix is filled in (bounds the temporary copies).
_PATCH_BLOCK_ENTRIES = 8_000_000


# --------------------------------------------------------------------------- helpers


# Clean ranks by content: every noise level of a seed has the same clean matrix, whose full
# spectrum costs ~0.4 s at 1000 canvases of 56 x 56; hashing it costs ~20 ms. Bounded.
_CLEAN_RANKS_CACHE = {}
_CLEAN_RANKS_CACHE_SIZE = 32
_CLEAN_RANKS_LOCK = threading.Lock()  # points may run in threads (joblib's threading backend)


def _digest(*arrays):
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.data)
    return h.hexdigest()


def _clean_ranks(X_clean, rtol=1e-4):
    """Numerical rank (singular values above ``rtol`` times the largest; the data are
    float32) and stable rank of the clean matrix, from one spectrum; computed once per
    distinct matrix in a process."""
    key = (_digest(X_clean), rtol)
    with _CLEAN_RANKS_LOCK:
        if key in _CLEAN_RANKS_CACHE:
            return _CLEAN_RANKS_CACHE[key]
    ranks = _compute_clean_ranks(X_clean, rtol)
    with _CLEAN_RANKS_LOCK:
        if len(_CLEAN_RANKS_CACHE) >= _CLEAN_RANKS_CACHE_SIZE:
            _CLEAN_RANKS_CACHE.pop(next(iter(_CLEAN_RANKS_CACHE)))  # the oldest entry
        _CLEAN_RANKS_CACHE[key] = ranks
    return ranks


def _compute_clean_ranks(X_clean, rtol):
    from sklrank import squared_singular_values

    s2 = np.clip(np.asarray(squared_singular_values(X_clean), dtype=np.float64), 0, None)
    if s2.max() <= 0:
        raise ValueError("the clean data matrix is zero: it has no stable rank.")
    rank = int(np.sum(np.sqrt(s2 / s2.max()) > rtol))
    return rank, float(s2.sum() / s2.max())


def _reproducible_stable_rank(A):
    """:func:`~sklrank.stable_rank` by a path that depends on the shape of ``A`` only.

    ``method="auto"`` chooses between its Lanczos passes and the Gram matrix by costs it
    measures once a process, and the two paths differ in the last bits (about 1e-13
    relative), so a resumed sweep, a joblib worker or a Dask worker could report other bits
    than an uninterrupted local run. The Gram matrix of the smaller side (what "auto" uses
    for small matrices) is deterministic; above its size limit "auto" iterates Lanczos to
    the end, which is too.
    """
    from sklrank import stable_rank
    from sklrank._rank import _GRAM_MAX_SIDE

    method = "gram" if min(A.shape) <= _GRAM_MAX_SIDE else "auto"
    return float(stable_rank(A, method=method))


def _patch_stable_rank(X_seen, clf):
    """Stable rank of every patch the filters see, one a row.

    The patch matrix is as large as the data (larger with overlapping patches); it is filled
    in by blocks of samples, so that no second full-size temporary exists besides it
    (``patch_matrix`` of the whole matrix holds two: the unfolded tensor and its transpose).
    """
    from sklrank import patch_matrix

    geometry = (clf.input_shape_, clf.kernel_size_, clf.stride_, clf.padding)
    first = patch_matrix(X_seen[:1], *geometry)
    per_sample = len(first)
    patches = np.empty((len(X_seen) * per_sample, first.shape[1]), dtype=first.dtype)
    block = max(1, _PATCH_BLOCK_ENTRIES // X_seen.shape[1])
    for start in range(0, len(X_seen), block):
        rows = slice(start * per_sample, (start + block) * per_sample)
        patches[rows] = patch_matrix(X_seen[start : start + block], *geometry)
    return _reproducible_stable_rank(patches)


def _measured(X_seen, clf, clean_ranks):
    """Data, patch, clean and filter ranks of one fitted sweep point."""
    clean_rank, clean_stable_rank = clean_ranks
    return {
        "data_stable_rank": _reproducible_stable_rank(X_seen),
        "patch_stable_rank": _patch_stable_rank(X_seen, clf),
        "filter_stable_rank": float(clf.filter_stable_rank_),
        "clean_rank": clean_rank,
        "clean_stable_rank": clean_stable_rank,
        "n_epochs": len(clf.history),
    }


def _synthetic_generator_params(config):
    keys = ("n_features", "n_patches", "rank", "signal_norm", "signal_position",
            "orthogonal_noise")
    return {k: config[k] for k in keys}


def _own_params(params):
    """A point's own copy of the classifier parameters (as ``sklearn.base.clone`` copies
    them, else a deep copy): a callback object is stateful, and points training at once in
    threads would share it (an EarlyStopping's count, a RankHistory's snapshots). What can be
    copied neither way (e.g. a callback holding a lock) is shared, with a warning."""
    own = {}
    for key, value in params.items():
        try:
            own[key] = clone(value, safe=False)
        except Exception:  # e.g. a callback whose get_params does not rebuild it
            try:
                own[key] = copy.deepcopy(value)
            except Exception as exc:
                warnings.warn(
                    f"classifier_params[{key!r}] cannot be copied for each sweep point "
                    f"({type(exc).__name__}: {exc}); the points share it, which is right "
                    "only when they train one after another (not with threads).",
                    UserWarning, stacklevel=4,
                )
                own[key] = value
    return own


def _make_classifier(params, seed, input_shape, kernel_size):
    from sklrank import RankCNNClassifier

    return RankCNNClassifier(
        input_shape=input_shape, kernel_size=kernel_size, random_state=seed,
        **_own_params(params),
    )


def _make_image_pipeline(config, image_shape, noise_std, seed, params):
    from sklrank import make_rank_pipeline

    return make_rank_pipeline(
        image_shape,
        n_components=config["rank"],
        noise_std=noise_std,
        mode=config["noise_mode"],
        # (an additive configuration holds no canvas and no tile: see _check_image_settings)
        **({"grid": config["canvas"], "position": config["position"]}
           if config["noise_mode"] == "pad" else {}),
        random_state=seed,
        **_own_params(params),
    )


# --------------------------------------------------------------------------- one sweep point
#
# A point is data -> fit -> measurements. The data and the measurements are per point; the
# fit is per point too (one-by-one) or shared by the points of a batch (one batched model).


@dataclass
class _Point:
    """A sweep point ready to train: its classifier, the matrix it is trained on, and what
    its measurements need."""

    noise_std: float
    seed: int
    clf: object
    X_train: np.ndarray  # as the classifier receives it
    y_train: np.ndarray
    clean_ranks: tuple
    test_data: object  # () -> (X_test as the classifier receives it, y_test)
    preprocessing_time: float = 0.0

    def describe(self):
        return (f"in the sweep point n_samples={len(self.y_train)}, "
                f"noise_std={self.noise_std:g}, seed={self.seed}")


class _SeedWork:
    """Work the points of one seed share within a batch (the clean matrix's ranks, the rank-K
    reduction of the images), done once however many threads ask for it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}

    def get(self, key, compute):
        with self._lock:
            entry = self._entries.setdefault(key, [threading.Lock(), None])
        with entry[0]:
            if entry[1] is None:
                entry[1] = (compute(),)
            return entry[1][0]

    def clear(self):
        with self._lock:
            self._entries.clear()


def _prepare_synthetic(noise_std, seed, config, params, shared):
    from sklrank.datasets import make_low_rank_patches

    n_train, n_test = config["n_samples"], config["n_test"]
    gen = _synthetic_generator_params(config)
    # Train and test come from one call so they share the signal basis. The noise is drawn
    # as noise_std * N(0, 1) from the same stream for every noise level, so noise_std=0 with
    # the same seed is exactly the clean version of the same samples.
    X, y = make_low_rank_patches(n_train + n_test, noise_std=noise_std, random_state=seed, **gen)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"the n_samples={n_train} training samples drawn for seed {seed} hold one class "
            "only; raise n_samples."
        )
    def clean_ranks_of_seed():
        X_clean, _ = make_low_rank_patches(n_train + n_test, noise_std=0.0, random_state=seed,
                                           **gen)
        return _clean_ranks(X_clean[:n_train])

    clean_ranks = shared.get(("clean", seed), clean_ranks_of_seed)
    input_shape = (1, config["n_patches"], config["n_features"])
    clf = _make_classifier(params, seed, input_shape, (1, config["n_features"]))
    return _Point(noise_std, seed, clf, X_train, y_train, clean_ranks,
                  lambda: (X_test, y_test))


def _prepare_images(noise_std, seed, config, params, subset, shared):
    """The point's canvases. Within a batch (``shared``), the rank-K reduction of a seed's
    images is fitted once for all its noise levels: the same fit as each point's own (same
    images, same random_state), so the same numbers."""
    X_train, y_train, X_test, y_test, image_shape = subset
    pipe = _make_image_pipeline(config, image_shape, noise_std, seed, params)
    noise_step, clf = pipe["noise"], pipe["cnn"]
    # The steps of Pipeline.fit, unrolled to keep the exact matrix the classifier is trained
    # on (the noise is drawn at transform time, so a second transform differs) and to free
    # each intermediate matrix as soon as it is used: at n = 60000 on a 2 x 2 canvas the
    # canvases take 750 MB, the rank-K images 190 MB.
    start = time.perf_counter()
    rank_step, X_low_rank = shared.get(
        ("rank", seed), lambda: (pipe["rank"], pipe["rank"].fit_transform(X_train))
    )
    X_seen = noise_step.fit_transform(X_low_rank)
    preprocessing_time = time.perf_counter() - start
    def clean_ranks_of_seed(X_low_rank):  # the same for every noise level of the seed
        if config["noise_mode"] == "additive" or config["position"] != "random":
            # The clean canvases are the rank-K images on a zero canvas, always in the same
            # tile: zero columns and a permutation of the columns leave the singular values
            # alone, so the clean canvases have the rank-K images' spectrum (a matrix as many
            # times narrower as the canvas has tiles, and no canvas to build).
            return _clean_ranks(X_low_rank)
        # A random tile per sample: the same tiles as the noisy draw (a clone with the same
        # random_state draws the tiles first, as the noisy step did), on a zero canvas.
        clean_step = clone(noise_step).set_params(noise_std=0.0)
        return _clean_ranks(clean_step.fit_transform(X_low_rank))

    clean_ranks = shared.get(("clean", seed), functools.partial(clean_ranks_of_seed, X_low_rank))
    del X_low_rank

    def test_data():
        # drawn after the training canvases, from the same generator, as the Pipeline does
        return noise_step.transform(rank_step.transform(X_test)), y_test

    return _Point(noise_std, seed, clf, X_seen, y_train, clean_ranks, test_data,
                  preprocessing_time)


def _prepare(kind, noise_std, seed, config, params, subset, shared):
    if kind == "synthetic":
        return _prepare_synthetic(noise_std, seed, config, params, shared)
    return _prepare_images(noise_std, seed, config, params, subset, shared)


def _fit_alone(point, stop=None):
    """The point's own fit: its ConvergenceWarnings recorded (others shown), and the error
    of a fit that did not train returned."""
    from sklrank._base import recorded_convergence_warnings
    from sklrank._interrupts import interrupts_raised
    from sklrank.exceptions import TrainingFailedError

    # recorded per thread: fits in threads (joblib's threading backend, a Dask worker's
    # threads) run at once and each row gets its own warning
    fitting = contextlib.nullcontext() if stop is None else stop.fitting()
    with recorded_convergence_warnings() as caught, interrupts_raised(), fitting:
        try:
            point.clf.fit(point.X_train, point.y_train)
            error = None
        except TrainingFailedError as exc:
            error = exc
    return error, _training_warning(caught)


def _training_warning(caught):
    """The messages of the ConvergenceWarnings in ``caught``, one string."""
    return " ".join(str(warning) for warning in caught)


def _measure(point, fit_time, training_warning, n_batched):
    """The row of a trained point. Its training matrix is released once measured."""
    clf = point.clf
    row = {
        **_measured(point.X_train, clf, point.clean_ranks),
        "train_accuracy": float(clf.score(point.X_train, point.y_train)),
    }
    n_train = len(point.y_train)
    point.X_train = None  # the largest matrix of the point: freed before the test set is made
    X_test, y_test = point.test_data()
    row["test_accuracy"] = float(clf.score(X_test, y_test))
    row.update(fit_time=fit_time, n_train=n_train, n_test=len(y_test),
               training_warning=training_warning, n_batched=n_batched)
    return {"noise_std": float(point.noise_std), "seed": int(point.seed), **row}


def _add_note(exc, note):
    if hasattr(exc, "add_note"):  # Python >= 3.11: the traceback names the point
        exc.add_note(note)
    return exc


def _run_points(kind, points, config, params, threads, subsets, n_threads=1, progress=False,
                stop=None):
    """Train the points ``[(noise_std, seed), ...]`` (of one size) and measure them.

    One point is fitted on its own; several train as one batched model
    (:func:`sklrank._batched.fit_batched`), prepared and measured in ``n_threads`` threads
    (numpy and torch release the GIL in their heavy work) and, on the CPU, trained in as many.
    Runs in a joblib worker or in the calling process. Returns ``(rows, failures)``: the rows
    of the points that trained, and ``(note, error)`` for each point whose fit raised (the
    others are unaffected).
    """
    import torch

    from sklrank._base import recorded_convergence_warnings
    from sklrank._batched import fit_batched

    shared = _SeedWork()

    def prepare(point):
        noise_std, seed = point
        try:
            return _prepare(kind, noise_std, seed, config, params, subsets.get(seed), shared)
        except Exception as exc:
            _add_note(exc, f"in the sweep point n_samples={config['n_samples']}, "
                      f"noise_std={noise_std:g}, seed={seed}")
            raise

    with contextlib.ExitStack() as stack:
        stack.enter_context(_thread_limits(threads))
        # OpenMP's thread count is a setting of each thread: the pool's get this one's
        pool = stack.enter_context(ThreadPoolExecutor(
            n_threads, initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)
        ))
        prepared = list(pool.map(prepare, points))
        shared.clear()  # the rank-K images: freed before the training
        start = time.perf_counter()
        if len(prepared) == 1:
            outcomes = [_fit_alone(prepared[0], stop)]
        else:
            on_gpu = str(params.get("device", "cpu")).startswith("cuda")
            # fit_batched returns each fit's warnings, which the rows record
            with recorded_convergence_warnings():
                fits = fit_batched([p.clf for p in prepared],
                                   [(p.X_train, p.y_train) for p in prepared],
                                   n_threads=1 if on_gpu else n_threads, progress=progress)
            outcomes = [(fit.error, _training_warning(fit.warnings)) for fit in fits]
        # the batch's training time, shared equally by its points
        train_time = (time.perf_counter() - start) / len(prepared)
        failures = []
        trained = []
        for point, (error, training_warning) in zip(prepared, outcomes):
            if error is None:
                trained.append((point, training_warning))
            else:
                failures.append((point.describe(), error))
                point.X_train = None

        def measure(item):
            point, training_warning = item
            try:
                return _measure(point, point.preprocessing_time + train_time,
                                training_warning, len(prepared))
            except Exception as exc:
                _add_note(exc, point.describe())
                raise

        rows = list(pool.map(measure, trained))
    return rows, failures


# --------------------------------------------------------------------------- data


def _load_images(dataset, config, data_home, download_if_missing):
    from sklrank.datasets import fetch_cifar10, fetch_mnist

    loader = fetch_mnist if dataset == "mnist" else fetch_cifar10
    common = {
        "classes": config["classes"],
        "return_X_y": True,
        "data_home": data_home,
        "download_if_missing": download_if_missing,
    }
    X_train, y_train = loader(subset="train", **common)
    X_test, y_test = loader(subset="test", **common)
    image_shape = (1, 28, 28) if dataset == "mnist" else (3, 32, 32)
    return X_train, y_train, X_test, y_test, image_shape


def _user_images(dataset, image_shape, config):
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_array

    X, y, _ = dataset
    try:
        X = check_array(X, dtype=np.float32, input_name="dataset's X")
    except ValueError as exc:
        raise ValueError(f"dataset: {exc}") from None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"dataset: y must be one label per row of X ({len(X)}), got shape {y.shape}."
        )
    if X.shape[1] != int(np.prod(image_shape)):
        raise ValueError(
            f"dataset: X of shape {X.shape} does not hold flattened images of image_shape="
            f"{image_shape} ({int(np.prod(image_shape))} features); pass X as "
            "(n_samples, C*H*W)."
        )
    if config["classes"] is not None:
        unknown = sorted(set(config["classes"]) - set(y.tolist()))
        if unknown:
            raise ValueError(
                f"classes holds {unknown}, which are not labels of dataset's y; choose among "
                f"{sorted(set(y.tolist()))}."
            )
        mask = np.isin(y, config["classes"])
        X, y = X[mask], y[mask]
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError(
            f"dataset: y holds one class only ({labels.tolist()}); a classifier needs two or "
            "more."
        )
    if counts.min() < 2:
        raise ValueError(
            f"dataset: class {labels[counts.argmin()]!r} has {counts.min()} sample; the "
            "stratified 75/25 train/test split needs at least 2 of each class."
        )
    # A fixed split: the seeds vary the subsample, the noise and the initialisation.
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    return X_train, y_train, X_test, y_test, image_shape


def _subsample(data, seed, n_samples, n_test):
    """The seed's random subset of the training and test images (drawn without replacement,
    kept in file order); done before dispatch so that each task only ships its subset. The
    subsets of one seed are nested: the first n of one permutation, whatever n is."""
    X_train, y_train, X_test, y_test, image_shape = data
    rng = np.random.RandomState(seed)
    # The first n of one permutation (what rng.choice(..., replace=False) draws), drawn at
    # every n, the whole set included: the test subset drawn after it is then the same at
    # every n (it changed at n = all images, where no draw was made).
    order = rng.permutation(len(y_train))
    if n_samples < len(y_train):
        keep = np.sort(order[:n_samples])
        X_train, y_train = X_train[keep], y_train[keep]
    if n_test < len(y_test):
        keep = np.sort(rng.choice(len(y_test), n_test, replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    if len(np.unique(y_train)) < 2:
        # the first n of the permutation: its labels in that order say how many would do
        raise _one_class_error(n_samples, seed, data[1][order], "images")
    return X_train, y_train, X_test, y_test, image_shape


# --------------------------------------------------------------------------- validation


def _check_enough_samples(sizes):
    """Every training-set size holds at least one sample of each of two classes."""
    too_few = [n for n in sizes if n < _MIN_TRAIN]
    if too_few:
        value = too_few[0] if len(sizes) == 1 else too_few
        raise ValueError(
            f"n_samples={value} is too few: a training set needs at least {_MIN_TRAIN} samples "
            f"(one of each of two classes); pass n_samples >= {_MIN_TRAIN}."
        )


def _check_fits_in_memory(kind, config, params, sizes, image_shape=None, remote=False):
    """One point's data and training fit in this machine's memory, before any array is made
    (huge sizes failed with numpy's "Maximum allowed dimension exceeded", a MemoryError or
    torch's allocator message, none naming the parameter at fault). With a Dask client the
    points run on the workers, whose memory this machine does not know: no check."""
    if remote:
        return
    n_filters = params.get("n_filters")
    if not isinstance(n_filters, Integral) or n_filters < 1:
        n_filters = 1  # (the classifier's own checks name a bad value)
    n, n_test = max(sizes), config["n_test"]
    if kind == "synthetic":
        if not all(isinstance(config[k], Integral) and config[k] >= 1
                   for k in ("n_patches", "n_features")):
            return  # (the generator's own checks name a bad value)
        n_patches, n_classes = config["n_patches"], 2
        n_features = n_patches * config["n_features"]
        what = (f"n_samples={n} training and n_test={n_test} test samples of "
                f"n_patches={n_patches} patches of n_features={config['n_features']} values")
        fix = "n_samples, n_test, n_patches, n_features or n_filters"
    else:
        pad = config["noise_mode"] == "pad"
        n_patches = int(np.prod(config["canvas"])) if pad else 1
        n_features = n_patches * int(np.prod(image_shape))
        n_classes = 10 if config.get("classes") is None else len(config["classes"])
        what = f"n_samples={n} training and n_test={n_test} test images"
        if pad:
            what += f" on a canvas={tuple(config['canvas'])} of tiles"
        fix = f"n_samples, n_test{', canvas' if pad else ''} or n_filters"
    need = _point_bytes(n, n_classes, (n_features, n_patches, n_filters), True)[0]
    need += 4 * n_test * n_features
    check_fits_in_memory(need, "one fit", f"{what}, n_filters={n_filters} filters a class", fix)


def _one_class_error(n_samples, seed, drawn, what):
    """The error for a seed whose ``n_samples`` training samples hold one class: ``drawn``
    holds the labels in the order they are drawn (the first n make a training set of n), so
    the fewest samples that hold two classes for this seed can be named."""
    drawn = np.asarray(drawn)
    other = np.flatnonzero(drawn != drawn[0])
    fix = (f"pass n_samples >= {other[0] + 1} (the fewest that hold two classes for this "
           "seed) or other seeds" if other.size else "raise n_samples or pass other seeds")
    return ValueError(
        f"n_samples={n_samples} is too few for seed {seed}: the {n_samples} training {what} "
        f"drawn for it hold one class only; {fix}."
    )


def _int_tuple(value, length, name, what):
    """``value`` as a tuple of ``length`` ints >= 1, or a ValueError naming ``name``."""
    try:
        out = tuple(value)
    except TypeError:
        out = None
    if out is None or len(out) != length or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in out
    ):
        raise ValueError(f"{name} must be {what}: {length} integers >= 1, got {value!r}.")
    return tuple(int(v) for v in out)


def _check_noise_levels(noise_levels):
    try:
        levels = np.asarray(noise_levels, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(
            f"noise_levels must be a list of numbers >= 0, got {noise_levels!r}."
        ) from None
    if levels.size == 0 or not np.all(np.isfinite(levels)) or np.any(levels < 0):
        raise ValueError(
            f"noise_levels must be a non-empty list of finite values >= 0, got {levels.tolist()}."
        )
    too_large = levels[levels > _MAX_NOISE_STD].tolist()
    if too_large:
        raise ValueError(
            f"noise_levels holds {too_large}: noise that large overflows the float32 data; "
            f"use levels <= {_MAX_NOISE_STD:g}."
        )
    # every level, before any fit (only the largest was checked, against the synthetic data:
    # a smaller level that underflows failed when its point was prepared, after others
    # trained; the images' took it)
    too_small = levels[(levels > 0) & (levels < _MIN_NOISE_STD)].tolist()
    if too_small:
        raise ValueError(
            f"noise_levels holds {too_small}: noise that small underflows the float32 data "
            f"(smallest normal value {_MIN_NOISE_STD:.3g}; it would be rounded to a few "
            f"subnormal values instead of Gaussian); use 0 or levels >= {_MIN_NOISE_STD:.3g}."
        )
    levels = levels + 0.0  # -0.0 is 0.0
    repeated = sorted({v for v in levels.tolist() if levels.tolist().count(v) > 1})
    if repeated:
        raise ValueError(
            f"noise_levels holds {repeated} more than once; give each level once."
        )
    return [float(v) for v in levels]


def _check_seeds(seeds, n_seeds):
    if seeds is None:
        return list(range(n_seeds))
    values = list(np.ravel(np.asarray(seeds, dtype=object)))
    bad = [
        s for s in values
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (Integral, np.integer))
        or not 0 <= s <= _MAX_SEED
    ]
    if not values or bad:
        raise ValueError(
            f"seeds must be a non-empty list of integers in [0, 2**32 - 1], got {seeds!r}."
        )
    if len(values) > MAX_SEEDS:
        # (as n_seeds: every fit of every seed is listed before the first one runs)
        raise ValueError(
            f"seeds holds {len(values)} seeds; give at most {MAX_SEEDS}: every fit of every "
            f"seed is listed before the first one runs, and {MAX_SEEDS} seeds a setting is far "
            "more than a mean over seeds needs."
        )
    values = [int(s) for s in values]
    repeated = sorted({s for s in values if values.count(s) > 1})
    if repeated:
        raise ValueError(
            f"seeds holds {repeated} more than once (the same fits twice); give each seed once."
        )
    return values


def _check_sizes(values, name):
    """A list of distinct ints >= 2 (the sample-size study's n_samples)."""
    try:
        values = list(np.ravel(np.asarray(values, dtype=object)))
    except TypeError:
        values = None
    if not values or not all(
        isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))
        for v in values
    ):
        raise ValueError(
            f"{name} must be a non-empty list of integers >= {_MIN_TRAIN}, got {values!r}."
        )
    values = [int(v) for v in values]
    _check_enough_samples(values)  # (0 and 1 with the same reason)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} holds a value more than once: {values}; give each once.")
    return sorted(values)


def _check_device(device, remote):
    """The device as a string; a CUDA device must exist here unless the points run remotely."""
    from sklrank._device import check_device

    return check_device(device, types=("cpu", "cuda"), on_this_machine=not remote)


def _check_image_settings(config, image_shape, given=()):
    """Canvas, noise mode and position, before any data is transformed; ``given``: the keys
    the caller set in data_params."""
    from sklrank import BackgroundNoise

    canvas = config["canvas"]
    if _is_int(canvas) and canvas >= 1:
        # BackgroundNoise's rule for its grid, and --canvas N: an int g is (g, g) (it was
        # refused here)
        canvas = (canvas, canvas)
    config["canvas"] = _int_tuple(
        canvas, 2, "canvas", "(rows, columns) of tiles, or an int g for (g, g)")
    if config["noise_mode"] not in ("pad", "additive"):
        raise ValueError(
            f"noise_mode must be 'pad' or 'additive', got {config['noise_mode']!r}."
        )
    if config["noise_mode"] == "pad" and config["canvas"] == (1, 1):
        raise ValueError(
            "canvas=(1, 1) leaves no tile for the noise in noise_mode='pad'; use at least two "
            "tiles, e.g. canvas=(2, 2), or noise_mode='additive'."
        )
    if config["noise_mode"] == "additive":
        given = sorted({"canvas", "position"} & set(given))
        if given:
            raise ValueError(
                f"data_params sets {given}, which noise_mode='additive' does not use (the "
                "noise is added to the image itself); drop them, or use noise_mode='pad'."
            )
    # BackgroundNoise checks the position against the canvas, with its own message.
    _checked_data(lambda: BackgroundNoise(
        0.0, image_shape, mode=config["noise_mode"], grid=config["canvas"],
        position=config["position"],
    ).fit(np.zeros((1, int(np.prod(image_shape))), dtype=np.float32)))
    if config["noise_mode"] == "additive":
        # the configuration (df.attrs["config"], the JSON of sklrank sweep, a checkpoint's
        # header) records what the run used: additive noise has no canvas and no tile (the
        # defaults, (2, 2) and 0, were recorded as if used)
        del config["canvas"], config["position"]


def _checked_data(check):
    """Run ``check()``, a check of the data settings, with the parameter validation of what
    it calls: the public functions' decorator skips it in nested calls, and a data_params
    value of the wrong type or range then failed later with another check's message
    (signal_norm=-1: "underflows float32") or in numpy (n_features=64.0), after the data
    were loaded."""
    from sklearn import config_context
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        with config_context(skip_parameter_validation=False):
            return check()
    except InvalidParameterError as exc:
        # a plain ValueError: the decorator would rename the function to noise_sweep
        raise ValueError(f"data_params: {exc}") from None


def _jsonable(value, depth=0, seen=()):
    """``value`` as JSON, describing what an object is so that equal settings compare equal
    across processes and different ones differ (the sweep's configuration, which decides
    whether a checkpoint can be resumed)."""
    import torch

    if depth > 20:  # an object that holds itself
        return "<nested too deep>"
    inner = functools.partial(_jsonable, depth=depth + 1, seen=seen)
    if isinstance(value, dict):
        return {str(k): inner(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inner(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, bool, type(None), Real)):
        return value
    # Not by repr: its "at 0x..." differs from process to process (a checkpoint with a
    # callback could never be resumed), and numpy abbreviates long arrays with "...".
    if isinstance(value, (np.ndarray, torch.Tensor)):
        array = np.ascontiguousarray(np.asarray(
            value.detach().cpu() if isinstance(value, torch.Tensor) else value))
        return {"array": list(array.shape), "dtype": array.dtype.str, "sha256":
                hashlib.sha256(array.tobytes()).hexdigest()}
    if isinstance(value, np.random.RandomState):
        return {"RandomState": _digest(*(np.asarray(v) for v in value.get_state()[1:3]))}
    if isinstance(value, functools.partial):
        return {"partial": inner(value.func), "args": inner(value.args),
                "keywords": inner(value.keywords)}
    if isinstance(value, type) or inspect.isroutine(value):
        name = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"
        if not _by_code(value, name):
            # importable by name: the packages' versions in the configuration stand for
            # their code
            return name
        if id(value) in seen:  # a function that calls itself, a method using super()
            return {"recursive": name}
        inner = functools.partial(_jsonable, depth=depth + 1, seen=(*seen, id(value)))
        if isinstance(value, type):
            # a class of one's own: by its bases and the code of its methods
            methods = {
                key: inner(getattr(attr, "__func__", attr))
                for key, attr in sorted(vars(value).items())
                if inspect.isfunction(getattr(attr, "__func__", attr))
            }
            return {"class": name, "bases": inner(value.__bases__), "methods": methods}
        return _function_description(value, name, inner)
    if isinstance(value, torch.nn.Module):
        # by its settings and weights: its repr often shows neither (PReLU(init=0.1) and
        # PReLU(init=0.5) both print "PReLU(num_parameters=1)"; a module of one's own prints
        # its class name), and a resume would mix two activations
        settings = {k: v for k, v in vars(value).items()
                    if not k.startswith("_") and k != "training"}
        return {"module": inner(type(value)), "settings": inner(settings),
                "children": inner(dict(value.named_children())),
                "state": inner(dict(value.state_dict()))}
    if hasattr(value, "get_params"):
        try:
            params = value.get_params(deep=False)
        except Exception:  # not a scikit-learn-style get_params
            params = None
        if isinstance(params, dict):
            described = inner(params)
            if isinstance(described, dict):
                return {"class": inner(type(value)), **described}
            return {"class": inner(type(value)), "params": described}
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _by_code(value, name):
    """Whether the function or class ``value`` (named ``name``) is described by its code: one
    defined in ``__main__`` (a script, a notebook), a lambda or a local one. Its name alone
    would let an edited function resume the results of the old one."""
    if isinstance(value, type):
        return value.__module__ == "__main__" or "<locals>" in name
    return getattr(value, "__code__", None) is not None and (
        getattr(value, "__module__", None) in ("__main__", None)
        or "<lambda>" in name or "<locals>" in name
    )


def _function_description(function, name, inner):
    """A Python function by what it computes: its code (bytecode, constants, names; nested
    code objects alike; not its file name or line numbers, which change from one notebook
    session or one edit above it to the next), its defaults, its closure and the values of
    the globals it reads that are plain values or functions."""
    code = function.__code__
    cells = []
    for cell in function.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled
            cells.append("<empty cell>")
    names = getattr(function, "__globals__", {})
    read = {n: names[n] for n in sorted(_global_names(code)) if n in names and (
        isinstance(names[n], (str, bool, type(None), Real, tuple, np.ndarray, type,
                              functools.partial))
        or inspect.isroutine(names[n]))}
    out = {"function": name, "code": _code_digest(code),
           "defaults": inner(function.__defaults__), "kwdefaults": inner(function.__kwdefaults__),
           "closure": inner(cells), "globals": inner(read)}
    if inspect.ismethod(function):
        out["self"] = inner(function.__self__)
    return out


def _global_names(code):
    """The names a code object and the code objects nested in it read (globals among them)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _code_digest(code):
    """A digest of what a code object computes, the same wherever and at whatever line it
    was compiled: bytecode, argument counts, flags, names, constants (nested code objects
    recursively), not its file name, first line or line table."""
    h = hashlib.sha256()

    def constant(value):
        if isinstance(value, types.CodeType):
            feed(value)
            return "<code>"
        if isinstance(value, frozenset):  # its repr's order varies with the hash seed
            return "frozenset(" + ",".join(sorted(constant(v) for v in value)) + ")"
        if isinstance(value, tuple):
            return "(" + ",".join(constant(v) for v in value) + ")"
        return f"{type(value).__name__}:{value!r}"

    def feed(code):
        parts = (code.co_code, code.co_argcount, code.co_posonlyargcount,
                 code.co_kwonlyargcount, code.co_flags & 0xFFFF,  # not the __future__ flags
                 code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
                 getattr(code, "co_exceptiontable", b""))
        for part in parts:
            h.update(repr(part).encode())
            h.update(b"\0")
        h.update(b"[")
        for value in code.co_consts:
            h.update(constant(value).encode())
            h.update(b"\0")
        h.update(b"]")

    feed(code)
    return h.hexdigest()


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("sklrank", "numpy", "scipy", "scikit-learn", "torch", "skorch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = None
    return out


# --------------------------------------------------------------------------- plan and run


@dataclass
class _Plan:
    """A checked sweep: its points and everything each point needs."""

    kind: str  # "synthetic" or "images"
    name: str
    config: dict  # data settings; n_samples is a list of sizes
    levels: list
    seeds: list
    params: dict  # the classifier's parameters, device included
    threads: object
    batched: object = "auto"  # noise_sweep's batched
    batching: bool = False  # whether points of one shape train as batches
    remote: bool = False  # the points run on a Dask cluster
    shape: tuple = None  # the network's (features a sample, patches a sample, filters a class)
    data: tuple = None
    data_digest: str = None
    subsets: dict = field(default_factory=dict)  # (n, seed) -> the images of that point

    @property
    def points(self):
        return [
            (n, noise, seed)
            for n in self.config["n_samples"]
            for noise in self.levels
            for seed in self.seeds
        ]

    def point_config(self, n):
        return {**self.config, "n_samples": n}

    def identity(self, study):
        """Everything that decides the numbers (the checkpoint's header)."""
        return _jsonable({
            "experiment": "sample_size_study" if study else "noise_sweep",
            "dataset": self.name,
            "data": self.config,
            "data_digest": self.data_digest,
            "noise_levels": sorted(self.levels),
            "seeds": sorted(self.seeds),
            "classifier_params": {k: v for k, v in self.params.items() if k != "verbose"},
            "threads_per_point": self.threads,
            "batched": self.batched,
            "versions": _versions(),
        })


# the named image data sets, whose labels are the digits 0..9 (MNIST) or the ten classes of
# CIFAR-10, known before their files are read
_LABELS_0_TO_9 = ("mnist", "cifar10")


def _plan(dataset, *, noise_levels, default_levels, n_seeds, seeds, sizes, explicit_sizes,
          n_test, rank, classes, data_home, download_if_missing, data_params, classifier_params,
          device, remote, threads, batched, verbose):
    """Check every input and load the data; no fit runs here."""
    kind = dataset if isinstance(dataset, str) else "images"
    kind = "images" if kind in ("mnist", "cifar10") else kind
    name = dataset if isinstance(dataset, str) else "custom"
    defaults = SYNTHETIC_DEFAULTS if kind == "synthetic" else IMAGE_DEFAULTS
    config = {k: v for k, v in defaults.items() if k != "noise_levels"}
    for key, value in (("n_test", n_test), ("rank", rank), ("classes", classes)):
        if value is not None:
            config[key] = value
    if kind == "synthetic" and classes is not None:
        raise ValueError("classes applies to image data sets only; drop it for 'synthetic'.")
    own = sorted(set(data_params or {}) & set(_OWN_PARAMETERS))
    if own:
        # (through data_params they would go around the checks of their own parameter)
        raise ValueError(
            f"data_params sets {own}, which have their own parameters; pass "
            f"{', '.join(f'{k}=...' for k in own)} to the function instead."
        )
    unknown = sorted(set(data_params or {}) - set(config))
    if unknown:
        raise ValueError(
            f"data_params has unknown keys {unknown} for dataset={name!r}; valid keys are "
            f"{sorted(k for k in config if k not in _OWN_PARAMETERS)}."
        )
    config.update(data_params or {})
    if config.get("classes") is not None:
        values = list(np.ravel(np.asarray(config["classes"], dtype=object)))
        if not values:
            raise ValueError("classes must hold two or more labels, got an empty list.")
        values = [v.item() if hasattr(v, "item") else v for v in values]
        if len(set(values)) != len(values):
            raise ValueError(f"classes holds a label more than once: {values}.")
        unknown = [v for v in values if v not in range(10)] if name in _LABELS_0_TO_9 else []
        if unknown:
            # before counting them: classes=[11] said "keeps one class only", and its fix
            # (a second label) then met the loader's "not labels of this data set"
            raise ValueError(
                f"classes holds {unknown}, which are not labels of this data set; choose "
                f"among {list(range(10))}."
            )
        if len(values) < 2:
            raise ValueError(
                f"classes={values} keeps one class only; a classifier needs two or more."
            )
        config["classes"] = values

    levels = _check_noise_levels(default_levels if noise_levels is None else noise_levels)
    seed_list = _check_seeds(seeds, n_seeds)
    sizes = [config["n_samples"]] if sizes is None else sizes
    _check_enough_samples(sizes)

    user_params = dict(classifier_params or {})
    fixed = sorted(set(_SET_BY_SWEEP) & set(user_params))
    if fixed:
        raise ValueError(
            f"classifier_params must not set {fixed}: the sweep sets them (the kernel is one "
            "patch / image tile, random_state is the seed, device is noise_sweep's device)."
        )
    params = {
        **(CLASSIFIER_DEFAULTS if kind == "synthetic" else IMAGE_CLASSIFIER_DEFAULTS),
        **user_params,
        "device": _check_device(device, remote),
    }
    params.setdefault("verbose", 1 if verbose and verbose >= 2 else 0)
    epochs = params.get("max_epochs")
    if isinstance(epochs, Integral) and not isinstance(epochs, bool) and epochs > MAX_EPOCHS:
        # (the classifier takes any number; 10**9 epochs ran for months: see MAX_EPOCHS)
        raise ValueError(
            f"classifier_params['max_epochs']={epochs} is more than a sweep trains: pass at "
            f"most {MAX_EPOCHS} (a thousand times the default; at the 5 ms an epoch of the "
            "default synthetic fit on one thread, that is 80 minutes a fit)."
        )

    plan = _Plan(kind, name, config, levels, seed_list, params, threads, batched,
                 remote=remote)
    # The probe (the classifier's own checks of its parameters, the network's shape) is
    # built here on the CPU: the device was checked above, and with a Dask client it is the
    # workers' (this machine may have no GPU).
    probe_params = {**params, "device": "cpu"}
    if kind == "synthetic":
        from sklrank.datasets import make_low_rank_patches
        from sklrank.datasets._synthetic import _low_rank_patch_labels

        _check_fits_in_memory(kind, config, params, sizes, remote=remote)
        # the generator's own checks (rank against n_features, signal_position, ...), at the
        # largest noise level (the noise needs a patch of its own)
        _checked_data(lambda: make_low_rank_patches(
            2, random_state=0, noise_std=max(levels), **_synthetic_generator_params(config)))
        # every seed's training set holds both classes (its labels, without its patches;
        # those of n samples are the first n of a larger draw: one draw a seed)
        for seed in seed_list:
            drawn = _low_rank_patch_labels(
                max(sizes) + config["n_test"], n_features=config["n_features"],
                rank=config["rank"], random_state=seed)
            for n in sizes:
                if (drawn[:n] == drawn[0]).all():
                    raise _one_class_error(n, seed, drawn, "samples")
        config["n_samples"] = sizes
        input_shape = (1, config["n_patches"], config["n_features"])
        probe = _checked_classifier(
            lambda: _make_classifier(probe_params, 0, input_shape, (1, config["n_features"]))
        )
    else:
        if isinstance(dataset, str):
            image_shape = (1, 28, 28) if dataset == "mnist" else (3, 32, 32)
        elif len(dataset) != 3:
            raise ValueError(
                "dataset given as a tuple must be (X, y, image_shape), got a tuple of "
                f"{len(dataset)} items."
            )
        else:
            image_shape = _int_tuple(
                dataset[2], 3, "dataset's image_shape", "(channels, height, width)"
            )
        # before the data are loaded
        _check_image_settings(config, image_shape, given=set(data_params or {}))
        _check_fits_in_memory(kind, config, params, sizes, image_shape, remote)
        # (the classifier does not depend on the rank step, whose rank is checked below
        # against the data, with the sweep's own message)
        probe = _checked_classifier(
            lambda: _make_image_pipeline(
                {**config, "rank": None}, image_shape, 0.0, 0, probe_params
            )["cnn"]
        )
        if isinstance(dataset, str):
            data = _load_images(dataset, config, data_home, download_if_missing)
        else:
            data = _user_images(dataset, image_shape, config)
        X_train, y_train, X_test, y_test, _ = data
        if len(np.unique(y_train)) < 2:
            raise ValueError(
                f"the training data of dataset={name!r} hold one class only; pass two or more "
                "classes."
            )
        selection = "" if config["classes"] is None else f" of classes {config['classes']}"
        for what, part, requested, available, explicit in (
            ("n_samples", "training", sizes, len(y_train), explicit_sizes),
            ("n_test", "test", [config["n_test"]], len(y_test), n_test is not None),
        ):
            too_many = [v for v in requested if v > available]
            if too_many and explicit:
                raise ValueError(
                    f"{what}={too_many if len(requested) > 1 else too_many[0]} exceeds the "
                    f"{available} {part} images{selection} of dataset={name!r}; pass "
                    f"{what} <= {available}."
                )
        # the default sizes take every image when there are fewer
        sizes = [min(v, len(y_train)) for v in sizes]
        config["n_samples"] = sizes
        config["n_test"] = min(config["n_test"], len(y_test))
        max_rank = min(min(sizes), int(np.prod(image_shape)))
        if config["rank"] > max_rank:
            raise ValueError(
                f"rank={config['rank']} exceeds min(n_samples, n_features)={max_rank}; lower "
                "rank or use more samples."
            )
        plan.data = data
        plan.data_digest = _digest(X_train, y_train, X_test, y_test)
        plan.subsets = {
            (n, seed): _subsample(data, seed, n, config["n_test"])
            for n in sizes for seed in seed_list
        }
    _check_batching(plan, probe)
    return plan


def _check_batching(plan, probe):
    """Whether the plan's points train as batches (``batched=True`` insists, with the
    reason when they cannot), and the network's size for the memory budget."""
    from sklrank._batched import unbatchable_reason

    if plan.batched is False:
        return
    reason = unbatchable_reason(probe)
    if reason is not None:
        if plan.batched is True:
            raise ValueError(
                f"batched=True, but these classifier settings cannot train as a batch: "
                f"{reason}; use batched='auto' (one point at a time for such settings) or "
                "batched=False."
            )
        return
    module = probe.module_
    plan.shape = (int(np.prod(module.input_shape)), module.n_patches, module.n_filters)
    plan.batching = True


def _checked_classifier(build):
    """The classifier ``build()`` makes, initialised: its own checks of its parameters
    (unknown names, bad module settings) run before the first fit."""
    try:
        return build().initialize()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"classifier_params: {exc}") from exc


# --------------------------------------------------------------------------- batches
#
# The points of one training-set size (and, for images, one set of classes in the subset)
# share a network shape; with batching they train as batched models of as many points as the
# memory budget allows. A point's numbers do not depend on which points share its batch
# (tests/test_batched.py), so grouping, n_jobs and a resume leave them bitwise unchanged.

# Budget of one batch's training memory on the CPU: a batch of the README's sweep takes 16 MB,
# one ten-digit MNIST point of 1000 images on a 2 x 2 canvas 22 MB, of 60000 images 1.3 GB
# (which then trains alone, as it would one-by-one).
_CPU_BATCH_BYTES = 2**30
# On a GPU: half of what is free on the device (and in host memory, where the canvases wait
# for their measurements) when the sweep starts; on a Dask worker's GPU, which cannot be
# asked from here, this much.
_REMOTE_GPU_BATCH_BYTES = 8 * 2**30
# float32 arrays of the size of the pre-activations alive at once in a training step (the
# pre-activations, the activation's slope and output, their gradients), with a margin.
_ACTIVATION_COPIES = 6


def _available_host_bytes():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 * 2**30


def _batch_budget(device, remote):
    """``(device bytes, host bytes)`` one batch may take."""
    import torch

    if str(device).startswith("cuda"):
        if remote:
            return _REMOTE_GPU_BATCH_BYTES, _available_host_bytes() // 2
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free // 2, _available_host_bytes() // 2
    return _CPU_BATCH_BYTES, _CPU_BATCH_BYTES


def _point_bytes(n_samples, n_classes, shape, on_cpu):
    """``(device bytes, host bytes)`` of one point's training: its float32 training matrix
    (kept on the host for the measurements, copied into the batch's stack) and the
    pre-activations of every patch and filter."""
    n_features, n_patches, n_filters = shape
    activations = _ACTIVATION_COPIES * n_patches * n_classes * n_filters
    data = 4 * n_samples * n_features
    device = 4 * n_samples * activations + data
    return (device + data, data + data) if on_cpu else (device, data)


def _group_key(plan, n, seed):
    """Points of one group share the network's shape: the size and the classes present."""
    if plan.kind == "synthetic":
        return n, 2
    return n, len(np.unique(plan.subsets[(n, seed)][1]))


def _tasks(plan, pending, *, n_workers, spread):
    """The pending points as tasks ``(n, [(noise_std, seed), ...])``, in the plan's order.

    Without batching every point is a task. With it, each group (see :func:`_group_key`) is
    cut into as few batches as the memory budget (and an int ``batched``) allow, and into at
    least ``n_workers`` batches when ``spread`` (the batches then run in parallel workers).
    """
    if not plan.batching:
        return [(n, [(noise, seed)]) for n, noise, seed in pending]
    device_budget, host_budget = _batch_budget(plan.params["device"], plan.remote)
    on_cpu = str(plan.params["device"]) == "cpu"
    groups = {}
    for n, noise, seed in pending:
        groups.setdefault(_group_key(plan, n, seed), []).append((noise, seed))
    tasks = []
    for (n, n_classes), points in groups.items():
        device, host = _point_bytes(n, n_classes, plan.shape, on_cpu)
        largest = max(1, min(device_budget // device, host_budget // host))
        if not isinstance(plan.batched, (bool, str)):  # an int: the most points a batch
            largest = min(largest, int(plan.batched))
        count = -(-len(points) // largest)
        if spread:
            count = max(count, min(len(points), n_workers))
        for chunk in np.array_split(np.arange(len(points)), count):
            tasks.append((n, [points[i] for i in chunk]))
    return tasks


def _execute(plan, *, study, n_jobs, backend, dask_client, checkpoint, verbose):
    """Run the plan's points (those not in the checkpoint yet); return every row.

    Batches train in threads of this process (``n_jobs`` of them, each point on
    ``threads_per_point`` torch threads: measured fastest on 2 cores, with no worker to
    start and no oversubscription when the machine is busy), or, with ``backend="loky"`` or
    a Dask client, are spread over the workers. Points that train alone run through joblib
    as they always did. Every finished point is saved as its task finishes.
    """
    store = None
    if checkpoint is not None:
        store = SweepCheckpoint.open(checkpoint, plan.identity(study), _POINT_KEY)
    client, own_client = dask_client, False
    try:
        done = dict(store.rows) if store is not None else {}
        pending = [p for p in plan.points if (p[0], p[1], p[2]) not in done]
        rows = list(done.values())
        if not pending:
            return rows
        if isinstance(client, str):
            from dask.distributed import Client

            try:
                client, own_client = Client(client), True
            except (OSError, ValueError) as exc:
                # (dask's "Timed out trying to connect to ..." named no parameter, and
                # sklrank sweep printed it without --scheduler)
                raise type(exc)(
                    f"cannot reach the Dask scheduler of dask_client={client!r}: {exc}; check "
                    "the address, and that the scheduler runs."
                ) from exc
        if client is not None:
            workers = n_jobs if n_jobs not in (None, -1) else sum(client.nthreads().values())
        else:
            with parallel_config(backend=backend or "loky"):
                workers = effective_n_jobs(n_jobs)
        in_threads = client is None and backend in (None, "threading")
        tasks = _tasks(plan, pending, n_workers=workers, spread=not in_threads)

        # fits in this process's threads stop when the main thread gets a Ctrl-C
        stop = StopSignal() if backend == "threading" and client is None else None

        def run(task, threads, n_threads=1, progress=False):
            n, points = task
            return delayed(_run_task)(
                plan.kind, points, plan.point_config(n), plan.params, threads,
                {seed: plan.subsets.get((n, seed)) for _, seed in points}, n_threads, progress,
                stop,
            )

        jobs = n_jobs if n_jobs is not None else (-1 if client is not None else None)
        # Threads of one process share torch's and BLAS's settings: set once around them.
        shared_limits = backend == "threading" and client is None
        on_gpu = str(plan.params["device"]).startswith("cuda") and client is None
        alone = {
            "n_jobs": 1 if on_gpu else jobs, "backend": backend,
            "limits": plan.threads if shared_limits else None,
        }
        task_threads = None if shared_limits else plan.threads
        if in_threads:
            phases = [
                ([run(t, plan.threads, workers, bool(verbose)) for t in tasks if len(t[1]) > 1],
                 {"n_jobs": 1}),
                ([run(t, task_threads) for t in tasks if len(t[1]) == 1], alone),
            ]
        else:
            phases = [([run(t, task_threads) for t in tasks], alone)]
        try:
            rows += _run_tasks(phases, len(plan.points), len(done), plan.name, store,
                               verbose=verbose)
        except KeyboardInterrupt:
            if stop is not None:
                stop.stop_and_wait()  # the threads' fits end before the interrupt goes on
            raise
    finally:
        if own_client:
            client.close()
        if store is not None:
            store.close()
    return rows


class _WorkerTraceback(Exception):
    """The traceback of an error raised in a worker process (shown as its cause)."""


def _run_task(*args):
    """:func:`_run_points`, with an error it raises returned among the task's failures
    (with its traceback as text: a traceback does not cross processes), so that the sweep
    lets the other running tasks finish, and saves their points, before it raises."""
    try:
        return _run_points(*args)
    except Exception as exc:
        notes = getattr(exc, "__notes__", [])
        if not any(note.startswith("in the sweep point") for note in notes):
            # (an error of a fit: those of the data and the measurements name their point)
            _, points, config = args[:3]
            where = ", ".join(f"noise_std={noise:g}, seed={seed}" for noise, seed in points)
            _add_note(exc, f"in the sweep point{'s' if len(points) > 1 else ''} "
                      f"n_samples={config['n_samples']}, {where}")
        return [], [(None, exc, traceback.format_exc())]


def _raise_failure(failures):
    """Raise the first of the failures ``[(note, error[, traceback text])]``, noting the
    others."""
    note, error, *text = failures[0]
    if note is not None:
        _add_note(error, note)
    if text and text[0] and error.__traceback__ is None and error.__cause__ is None:
        error.__cause__ = _WorkerTraceback("\n" + text[0])  # it came from another process
    if len(failures) > 1:
        others = [type(f[1]).__name__ + (f" ({f[0].removeprefix('in the sweep point ')})"
                                         if f[0] else "") for f in failures[1:]]
        _add_note(error, f"{len(others)} more sweep point(s) failed: {', '.join(others)}")
    raise error


def _run_tasks(phases, total, n_done, name, store, *, verbose):
    """Run the phases' tasks (each phase through one joblib Parallel); save every finished
    point. After a task reports a failed point (a fit that raised, or an error of the task),
    no further task starts, the running ones finish and their points are saved, and the
    first failure is raised (on every backend: before, the other workers' running tasks were
    abandoned)."""
    from tqdm.auto import tqdm

    rows = []
    failures = []

    def until_a_failure(tasks):
        # read by joblib as workers become free: no task starts once a failure is in
        for task in tasks:
            if failures:
                return
            yield task

    desc = f"noise sweep ({name})" + (f", {n_done} resumed" if n_done else "")
    with tqdm(total=total, initial=n_done, desc=desc, unit="fit", disable=not verbose) as bar:
        for tasks, options in phases:
            if not tasks or failures:
                continue
            options = dict(options)
            backend, limits = options.pop("backend", None), options.pop("limits", None)
            with contextlib.ExitStack() as stack:
                stack.enter_context(_thread_limits(limits))
                if backend is not None:
                    stack.enter_context(parallel_config(backend=backend))
                # One task a batch, results in the order they finish: each is saved at once.
                # A task is sent only when a worker is free ("n_jobs"), so that after a
                # failure none waits in a queue (a queued task would run to the end).
                parallel = Parallel(batch_size=1, pre_dispatch="n_jobs",
                                    return_as="generator_unordered", **options)
                for finished, failed in parallel(until_a_failure(tasks)):
                    for row in finished:
                        if store is not None:
                            store.add(row)
                        rows.append(row)
                        bar.set_postfix(noise=row["noise_std"], seed=row["seed"],
                                        refresh=False)
                    bar.update(len(finished))
                    failures.extend(failed)
    if failures:
        _raise_failure(failures)
    return rows


def _frame(rows, plan, *, study, n_jobs, backend):
    df = pd.DataFrame(rows)
    df.insert(0, "dataset", plan.name)
    order = ["n_train", "noise_std", "seed"] if study else ["noise_std", "seed"]
    df = df.sort_values(order, kind="stable").reset_index(drop=True)
    data = dict(plan.config)
    if not study:
        data["n_samples"] = data["n_samples"][0]
    df.attrs["config"] = _jsonable({
        "dataset": plan.name,
        "noise_levels": plan.levels,
        "seeds": plan.seeds,
        "data": data,
        "data_digest": plan.data_digest,
        "classifier_params": _effective_classifier_params(plan.params),
        "device": plan.params["device"],
        "threads_per_point": plan.threads,
        "batched": plan.batched,
        "n_jobs": n_jobs,
        "backend": backend,
    })
    warn_untrained(df["training_warning"], "sweep points", stacklevel=3)
    return df


def _effective_classifier_params(params):
    """The classifier's parameters as the sweep uses them (its defaults included)."""
    from sklrank import RankCNNClassifier

    out = {
        k: v
        for k, v in RankCNNClassifier().get_params(deep=False).items()
        if isinstance(v, (str, Real, bool, tuple, list, type(None)))
    }
    out.update(params)
    for key in ("input_shape", "kernel_size", "random_state", "device"):
        out.pop(key, None)
    return out


def _check_batched(batched):
    """``batched`` as "auto", a Python bool or a Python int: numpy's bools and ints (e.g. read
    from an array of settings) pass the validation, but ``np.False_ is False`` is false and
    ``np.True_`` counts as the int 1 (a batch of one point)."""
    if isinstance(batched, np.bool_):
        return bool(batched)
    if isinstance(batched, np.integer):
        return int(batched)
    return batched


def _check_parallel(backend, dask_client, n_jobs, device, batched=True):
    """The backend; the combinations that cannot run are refused. Call again with the plan's
    ``batching`` once the classifier is known."""
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of jobs or -1 (all cores), got 0.")
    if dask_client is not None:
        backend = "dask" if backend is None else backend
        if backend != "dask":
            raise ValueError(f"dask_client needs backend='dask' or None, got {backend!r}.")
    elif backend == "dask":
        # joblib's Dask backend takes the process's running Client: checked now, not after
        # the data are loaded
        try:
            from dask.distributed import get_client
        except ImportError:
            raise ValueError(
                "backend='dask' needs dask.distributed: pip install 'sklrank[dask]'."
            ) from None
        try:
            get_client()
        except ValueError:
            raise ValueError(
                "backend='dask' with dask_client=None uses the running dask.distributed "
                "Client, and there is none: create one (dask.distributed.Client(...)) or "
                "pass dask_client=<a Client or a scheduler address>."
            ) from None
    if (
        str(device).startswith("cuda") and dask_client is None
        and n_jobs is not None and n_jobs != 1 and batched is False
    ):
        raise ValueError(
            f"n_jobs={n_jobs} with device={device!r}: trained one at a time, the points on one "
            "GPU run one after another in this process; pass n_jobs=1 (or None), batched "
            "training (batched='auto', where n_jobs threads prepare and measure the points), "
            "or a dask_client with one worker per GPU."
        )
    return backend


# --------------------------------------------------------------------------- public

_COMMON_CONSTRAINTS = {
    "dataset": [StrOptions(set(_DATASETS)), tuple],
    "noise_levels": ["array-like", None],
    # seeds 0..n_seeds-1 (2000000000 seeds filled the memory with the list of fits)
    "n_seeds": [Interval(Integral, 1, MAX_SEEDS, closed="both")],
    "seeds": ["array-like", None],
    "n_test": [Interval(Integral, 1, None, closed="left"), None],
    "rank": [Interval(Integral, 1, None, closed="left"), None],
    "classes": ["array-like", None],
    "data_home": [str, os.PathLike, None],
    "download_if_missing": ["boolean"],
    "data_params": [dict, None],
    "classifier_params": [dict, None],
    "device": [str, object],
    "n_jobs": [Integral, None],
    "backend": [StrOptions({"loky", "threading", "dask"}), None],
    "dask_client": [None, str, object],
    "threads_per_point": [Interval(Integral, 1, None, closed="left"), None],
    "batched": [StrOptions({"auto"}), "boolean", Interval(Integral, 1, None, closed="left")],
    "checkpoint": [str, os.PathLike, None],
    "verbose": ["verbose"],
}


@validate_params(
    # any int: _check_enough_samples says why fewer than 2 do not do (n_samples=0 got
    # validate_params' "[1, inf)", n_samples=1 "at least 2")
    {**_COMMON_CONSTRAINTS, "n_samples": [Interval(Integral, None, None, closed="neither"),
                                          None]},
    prefer_skip_nested_validation=True,
)
def noise_sweep(
    dataset="synthetic",
    *,
    noise_levels=None,
    n_seeds=3,
    seeds=None,
    n_samples=None,
    n_test=None,
    rank=None,
    classes=None,
    data_home=None,
    download_if_missing=True,
    data_params=None,
    classifier_params=None,
    device="cpu",
    n_jobs=None,
    backend=None,
    dask_client=None,
    threads_per_point=1,
    batched="auto",
    checkpoint=None,
    verbose=1,
):
    """Train the rank CNN at every (noise level, seed) and tabulate data and filter ranks.

    This is the experiment of section A of ``docs/science.md`` (Zhang, Gao, Zou and Cao,
    2025): as background noise grows, the stable rank of the data explodes while the stable
    rank of the trained first-layer filters stays near the rank of the clean data.

    - ``"synthetic"``: :func:`~sklrank.datasets.make_low_rank_patches` with the signal in a
      fixed patch (``signal_position=0``, see ``data_params``), so the clean data matrix has
      rank exactly 2K; the classifier's kernel is one patch.
    - ``"mnist"``, ``"cifar10"`` or ``(X, y, image_shape)``: images loaded with
      :func:`~sklrank.datasets.fetch_mnist` / :func:`~sklrank.datasets.fetch_cifar10`
      (optionally two or more ``classes``), reduced to rank K by
      :class:`~sklrank.PCARankReducer` (fitted on the training images, no centring, so the
      clean images have rank exactly K), placed by :class:`~sklrank.BackgroundNoise` in a
      canvas of image-sized tiles whose other tiles are Gaussian noise, and classified by
      :class:`~sklrank.RankCNNClassifier` with kernel = stride = one image tile; the
      Pipeline comes from :func:`~sklrank.make_rank_pipeline`.

    Every input is checked, and the data loaded, before the first fit. Every point trains one
    network. **Batched:** the points that share a network shape (one training-set size; for
    images, the same classes in the subset) train as one batched model (the filters of all
    points stacked, batched matrix products), each point with its own data, initialisation and
    noise, exactly as alone; the data and the measurements stay per point. On 2 CPU cores the
    README's sweep trains about twice as fast (``benchmarks/RESULTS.md``). ``batched=False``
    trains one point at a time. **Parallel:** a batch trains in ``n_jobs`` threads of this
    process (no workers to start, measured fastest on 2 cores); points trained alone, or batches
    with ``backend="loky"``, run in joblib's workers, and on a Dask cluster (``dask_client``)
    the batches are spread over its workers.

    **Reproducibility:** on one machine and device, the same settings give bitwise identical
    numbers whatever ``n_jobs``, the backend, how the points are batched, or a resume from a
    checkpoint: each point runs with ``threads_per_point`` torch and BLAS threads, every
    random draw (data, subsample, noise, initialisation) is seeded by the point's seed, and
    a point's numbers do not depend on the other points of its batch (measured with torch's
    MKL build, ``tests/test_batched.py``; there batched and one-by-one fits are bitwise
    equal too). (Other machines, BLAS libraries or torch versions may differ in the last
    bits, and batched fits may then differ from one-by-one ones at float32 rounding, filter
    ranks to 1e-5 relative; CUDA kernels are not guaranteed to be bitwise reproducible from
    run to run.)

    **Fits that did not train** are never silent: a point whose fit raised (a diverged or
    dead network, :class:`~sklrank.exceptions.TrainingFailedError`) stops the sweep with that
    error, naming the point: no further point starts, and the points training at that moment
    (in other workers, threads or Dask workers) finish and are saved first; a point whose fit
    issued a :class:`~sklearn.exceptions.ConvergenceWarning` (its loss never moved (or rose)) keeps
    its row, with the message in the column ``training_warning``, and the sweep issues one
    ConvergenceWarning counting those points.

    **Never losing work:** with ``checkpoint``, every finished point is appended to that file
    (and flushed to disk) as soon as it finishes (the points of a batch when the batch
    finishes). Calling ``noise_sweep`` again with the same
    ``checkpoint`` and the same settings runs only the missing points and returns the same
    numbers as an uninterrupted run; other settings are refused with a message listing the
    differences (delete the file, or pass another path, to start over).

    Parameters
    ----------
    dataset : {"synthetic", "mnist", "cifar10"} or tuple (X, y, image_shape), \
            default="synthetic"
        The data. A tuple gives your own flattened images (rows of ``C*H*W`` values) and
        their shape; they are split 75/25 into train and test (stratified, fixed split).
    noise_levels : array-like of float, default=None
        Standard deviations of the background noise: distinct, finite, >= 0. None uses
        ``SYNTHETIC_DEFAULTS["noise_levels"]`` or ``IMAGE_DEFAULTS["noise_levels"]``.
    n_seeds : int, default=3
        Number of seeds (0, 1, ..., n_seeds - 1) when ``seeds`` is None, at most 100000.
    seeds : array-like of int, default=None
        Explicit seeds, distinct integers in [0, 2**32 - 1] (at most 100000 of them);
        overrides ``n_seeds``.
    n_samples : int, default=None
        Training samples per point. Synthetic: 200 by default. Images: drawn per seed from
        the training set, 1000 by default (all of them if there are fewer); a larger number
        than the training set holds is an error. At least 2, and every seed's training set
        must hold two classes: a seed whose draw holds one is refused before the first fit,
        naming the fewest samples that hold two for it.
    n_test : int, default=None
        Test samples per point (1000 by default, all of them if there are fewer).
    rank : int, default=None
        K: signal directions per class (synthetic, default 2) or the PCA rank of the clean
        images (default 10).
    classes : array-like, default=None
        Images only: keep these classes (two or more labels of the data); None keeps all.
    data_home : str or path-like, default=None
        Where the MNIST / CIFAR-10 files are (see :func:`~sklrank.datasets.get_data_home`).
    download_if_missing : bool, default=True
        Download missing MNIST / CIFAR-10 files (checked against their published checksums);
        False raises at once, saying which files to put where.
    data_params : dict, default=None
        Further data settings. Synthetic: ``n_features`` (64), ``n_patches`` (8),
        ``signal_norm`` (5.0), ``signal_position`` (0; ``"random"`` for a random patch),
        ``orthogonal_noise`` (False). Images: ``canvas`` (tiles, default (2, 2); an int
        ``g`` is ``(g, g)``, as the ``grid`` of :class:`~sklrank.BackgroundNoise`),
        ``noise_mode`` (``"pad"``; ``"additive"`` adds the noise to the image itself) and
        ``position`` (the canvas tile of the image: 0, the top-left one, so the clean
        canvases have rank K; ``"random"`` for a random tile per sample). ``canvas`` and
        ``position`` apply to ``"pad"`` only (set with ``"additive"``, they are refused, and
        ``results.attrs["config"]["data"]`` holds neither); ``n_patches`` is at least 2
        when a noise level is above 0; ``rank``, ``n_samples``, ``n_test`` and ``classes``
        are parameters of their own, refused here; a value of the wrong type or range is
        refused before the data are loaded.
    classifier_params : dict, default=None
        Parameters of :class:`~sklrank.RankCNNClassifier` (``n_filters``, ``lr``,
        ``max_epochs``, ``q``, ...) on top of ``CLASSIFIER_DEFAULTS`` (synthetic) or
        ``IMAGE_CLASSIFIER_DEFAULTS`` (images); ``input_shape``, ``kernel_size``,
        ``random_state`` and ``device`` are set by the sweep. ``max_epochs`` is at most
        1000000 (a thousand times the default: 80 minutes a fit at the default synthetic
        fit's 5 ms an epoch on one thread).
    device : str or torch.device, default="cpu"
        Where the networks train: "cpu", "cuda" or "cuda:N" (the data, the PCA and the data
        ranks stay on the CPU). A CUDA device must exist (else a ValueError says so, before
        any work). The points on one GPU train in this process, as batches that share the
        device (one model a batch, ``n_jobs`` CPU threads preparing and measuring its points),
        or one after another, so with ``batched=False`` ``n_jobs`` must be 1 or None; for
        several GPUs, run a Dask cluster with one worker per GPU and pass its
        ``dask_client`` (each worker then trains on its own "cuda" device).
    n_jobs : int, default=None
        Cores to use (None means 1, -1 all cores): the threads in which a batch's points are
        prepared, trained (on the CPU) and measured, or the points trained alone at once by
        joblib's workers. With ``dask_client``, the workers used (None: all of the
        cluster's).
    backend : {"loky", "threading", "dask"}, default=None
        joblib backend; None is joblib's default (loky), or "dask" with ``dask_client``.
        "dask" without ``dask_client`` uses the running ``dask.distributed`` Client, and is
        refused, before the data are loaded, when there is none.
    dask_client : dask.distributed.Client or str, default=None
        Run the points on this Dask cluster (a client, or a scheduler address such as
        ``"tcp://10.0.0.5:8786"`` to connect to and close afterwards). Needs
        ``dask[distributed]`` (``pip install sklrank[dask]``).
    threads_per_point : int or None, default=1
        Torch and BLAS threads of each point, or of each thread of a batch (None leaves both
        libraries' settings alone, at the price of bitwise reproducibility across
        ``n_jobs``).
    batched : "auto", bool or int, default="auto"
        Train the points of one network shape as batched models. "auto": batches of as many
        points as a memory budget allows (the estimated training memory of a batch: 1 GiB
        on the CPU; on a GPU, half of the device's and of the host's free memory when the
        sweep starts, or 8 GiB on a Dask worker), and one point at a time for classifier
        settings that cannot be batched (callbacks or ``callbacks__*`` parameters, another
        optimizer, mini-batches, ``compile=True``, an activation with weights such as
        ``torch.nn.PReLU``). True: the same, but such settings are an error. An int: at most
        that many points a batch. False: one point at a time.
    checkpoint : str or path-like, default=None
        A file (in an existing, writable folder) where every finished point is saved as it
        finishes; if it exists, its points are reused (see above). It is locked while the
        sweep runs, so two sweeps cannot write one file.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar with one step per sweep point, and one over the
        epochs of the batch that trains; 2 also shows the training log of the points trained
        alone.

    Returns
    -------
    results : pandas.DataFrame
        A tidy table, one row per fit (noise level, seed), sorted by both, with columns
        ``dataset``, ``noise_std``, ``seed``, ``data_stable_rank`` (the training matrix as the
        classifier receives it, one sample a row), ``patch_stable_rank`` (every patch the
        filters see, one a row), ``filter_stable_rank`` (all first-layer filters, one a row),
        ``clean_rank`` (numerical rank of the noise-free training matrix of the same seed:
        2K for the synthetic data, K for the PCA-reduced images), ``clean_stable_rank``,
        ``n_epochs``, ``train_accuracy``, ``test_accuracy``, ``fit_time`` (seconds of
        preprocessing and training), ``n_train`` and ``n_test``. ``results.attrs["config"]``
        holds the full configuration. Plot it with :func:`plot_noise_sweep`, or directly with
        seaborn, e.g. ``sns.relplot(data=results, x="noise_std", y="filter_stable_rank",
        kind="line")``. Two more columns describe how each point trained:
        ``training_warning`` (the message of the ConvergenceWarning its fit issued, else an
        empty string) and ``n_batched`` (the points trained together with it, itself
        included; 1 for one trained alone); ``fit_time`` then holds its preprocessing and
        its share of the batch's training time.

    See Also
    --------
    plot_noise_sweep : The figure of a sweep.
    sample_size_study : The same sweep at several training-set sizes.

    Examples
    --------
    The synthetic model at two noise levels, with 300 gradient steps instead of the
    default 1000 (far fewer leave the filters near their initialisation, and the sweep
    warns that they did not train): the data's stable rank grows 14-fold, the filters'
    stays under the clean data's rank 2K = 4.

    >>> from sklrank.experiments import noise_sweep
    >>> df = noise_sweep(noise_levels=[0.0, 1.0], n_seeds=1, verbose=0,
    ...                  classifier_params={"max_epochs": 300})
    >>> df[["noise_std", "data_stable_rank", "filter_stable_rank"]].round(1)
       noise_std  data_stable_rank  filter_stable_rank
    0        0.0               3.7                 2.5
    1        1.0              50.7                 3.4

    Keep every finished point in a file, and continue from it after an interruption:

    >>> df = noise_sweep("mnist", checkpoint="mnist-sweep.jsonl")  # doctest: +SKIP
    """
    batched = _check_batched(batched)
    backend = _check_parallel(backend, dask_client, n_jobs, device, batched)
    plan = _plan(
        dataset, noise_levels=noise_levels,
        default_levels=(SYNTHETIC_DEFAULTS if dataset == "synthetic" else IMAGE_DEFAULTS)[
            "noise_levels"],
        n_seeds=n_seeds, seeds=seeds, sizes=None if n_samples is None else [n_samples],
        explicit_sizes=n_samples is not None, n_test=n_test, rank=rank, classes=classes,
        data_home=data_home, download_if_missing=download_if_missing, data_params=data_params,
        classifier_params=classifier_params, device=device, remote=dask_client is not None,
        threads=threads_per_point, batched=batched, verbose=verbose,
    )
    _check_parallel(backend, dask_client, n_jobs, device, plan.batching)
    rows = _execute(plan, study=False, n_jobs=n_jobs, backend=backend, dask_client=dask_client,
                    checkpoint=checkpoint, verbose=verbose)
    return _frame(rows, plan, study=False, n_jobs=n_jobs, backend=backend)


@validate_params(
    {**_COMMON_CONSTRAINTS, "n_samples": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def sample_size_study(
    dataset="mnist",
    *,
    n_samples=None,
    noise_levels=None,
    n_seeds=3,
    seeds=None,
    n_test=None,
    rank=None,
    classes=None,
    data_home=None,
    download_if_missing=True,
    data_params=None,
    classifier_params=None,
    device="cpu",
    n_jobs=None,
    backend=None,
    dask_client=None,
    threads_per_point=1,
    batched="auto",
    checkpoint=None,
    verbose=1,
):
    """The noise sweep at several training-set sizes: does the filter rank's growth vanish?

    On ten-digit MNIST the filter stable rank grows with the noise at n = 1000 samples
    (about 6 to 17 on a 2 x 2 canvas) but hardly at n = 60000 (issue 13): whether a network
    keeps its filters low-rank under noise depends on how many samples it has to fit the
    noise with. This runs :func:`noise_sweep` at every size in ``n_samples`` (same seeds,
    noise levels, data and classifier settings) and returns one table; plot it with
    :func:`plot_sample_size_study`.

    For images, the training subset of a seed at a smaller size is part of its subset at a
    larger size (the first n images of one random permutation), and the test subset is the
    same at every size. The rows at one size are bitwise those of ``noise_sweep`` with that
    ``n_samples``. Every input is checked and the data loaded before the first fit;
    ``checkpoint`` keeps every finished point, as in :func:`noise_sweep`.

    The full default study trains 36 networks, 9 of them on all 60000 images: one by one
    about 12 s each on an H200 GPU (``device="cuda"``; issue 13 measured 46 s for four), tens
    of minutes each on a CPU (300 full-batch steps over 60000 canvases of 56 x 56 pixels),
    with a peak of about 2.9 GB of memory a point. On a GPU the points of a size train as
    one batch (about 1.3 GB of device memory a point at n = 60000, within half the free
    memory); on a CPU a point of 60000 images exceeds the 1 GiB batch budget and trains
    alone, as before.

    Parameters
    ----------
    dataset : {"synthetic", "mnist", "cifar10"} or tuple (X, y, image_shape), default="mnist"
        The data, as in :func:`noise_sweep`.
    n_samples : array-like of int, default=None
        The training-set sizes, distinct integers >= 2, each at most the number of training
        images (and each holding two classes at every seed, as in :func:`noise_sweep`).
        None is ``SAMPLE_SIZE_DEFAULTS["n_samples"]``: (1000, 4000, 16000, 60000).
    noise_levels : array-like of float, default=None
        As in :func:`noise_sweep`; None is ``SAMPLE_SIZE_DEFAULTS["noise_levels"]``:
        (0.0, 0.3, 1.0).
    n_seeds : int, default=3
        Number of seeds (0, 1, ..., n_seeds - 1) when ``seeds`` is None, at most 100000;
        every size runs every seed.
    seeds : array-like of int, default=None
        Explicit seeds, as in :func:`noise_sweep`.
    n_test : int, default=None
        Test samples per point, the same at every size (1000 by default, all of them if
        there are fewer).
    rank : int, default=None
        K, as in :func:`noise_sweep`.
    classes : array-like, default=None
        Images only: keep these classes, as in :func:`noise_sweep`.
    data_home : str or path-like, default=None
        Where the MNIST / CIFAR-10 files are.
    download_if_missing : bool, default=True
        Download missing MNIST / CIFAR-10 files; False raises at once.
    data_params : dict, default=None
        Further data settings, as in :func:`noise_sweep`.
    classifier_params : dict, default=None
        Classifier settings, as in :func:`noise_sweep`.
    device : str or torch.device, default="cpu"
        Where the networks train, as in :func:`noise_sweep`.
    n_jobs : int, default=None
        Cores to use, as in :func:`noise_sweep`.
    backend : {"loky", "threading", "dask"}, default=None
        joblib backend, as in :func:`noise_sweep`.
    dask_client : dask.distributed.Client or str, default=None
        Run the points on this Dask cluster, as in :func:`noise_sweep`.
    threads_per_point : int or None, default=1
        Torch and BLAS threads of each point, as in :func:`noise_sweep`.
    batched : "auto", bool or int, default="auto"
        Batched training, as in :func:`noise_sweep`; the points of one training-set size
        train as their own batches.
    checkpoint : str or path-like, default=None
        A file where every finished point is saved, as in :func:`noise_sweep`.
    verbose : int, default=1
        Progress output, as in :func:`noise_sweep`.

    Returns
    -------
    results : pandas.DataFrame
        The columns of :func:`noise_sweep`, one row per (size, noise level, seed), sorted by
        ``n_train`` (the training-set size), ``noise_std`` and ``seed``.
        ``results.attrs["config"]["data"]["n_samples"]`` lists the sizes.

    See Also
    --------
    plot_sample_size_study : Its figure.
    noise_sweep : One size.

    Examples
    --------
    >>> from sklrank.experiments import sample_size_study, plot_sample_size_study
    >>> df = sample_size_study("mnist", n_samples=[1000, 4000], noise_levels=[0.0, 1.0],
    ...                        n_seeds=1, device="cuda")  # doctest: +SKIP
    >>> plot_sample_size_study(df)  # doctest: +SKIP
    """
    batched = _check_batched(batched)
    backend = _check_parallel(backend, dask_client, n_jobs, device, batched)
    sizes = _check_sizes(
        SAMPLE_SIZE_DEFAULTS["n_samples"] if n_samples is None else n_samples, "n_samples"
    )
    plan = _plan(
        dataset, noise_levels=noise_levels, default_levels=SAMPLE_SIZE_DEFAULTS["noise_levels"],
        n_seeds=n_seeds, seeds=seeds, sizes=sizes, explicit_sizes=True, n_test=n_test,
        rank=rank, classes=classes, data_home=data_home, download_if_missing=download_if_missing,
        data_params=data_params, classifier_params=classifier_params, device=device,
        remote=dask_client is not None, threads=threads_per_point, batched=batched,
        verbose=verbose,
    )
    _check_parallel(backend, dask_client, n_jobs, device, plan.batching)
    rows = _execute(plan, study=True, n_jobs=n_jobs, backend=backend, dask_client=dask_client,
                    checkpoint=checkpoint, verbose=verbose)
    return _frame(rows, plan, study=True, n_jobs=n_jobs, backend=backend)
