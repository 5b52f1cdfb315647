"""The noise sweep of Zhang, Gao, Zou and Cao (2025): data rank and filter rank against noise."""

import contextlib
import hashlib
import os
import threading
import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = [
    "noise_sweep",
    "SYNTHETIC_DEFAULTS",
    "IMAGE_DEFAULTS",
    "CLASSIFIER_DEFAULTS",
    "IMAGE_CLASSIFIER_DEFAULTS",
]

# Defaults of the synthetic sweep (the README's main command). The signal sits in a FIXED patch
# (signal_position=0) so that the clean data matrix has rank exactly 2K, as in the paper; with a
# random position it has rank 2K * n_patches (the clean *patch* matrix keeps rank 2K).
SYNTHETIC_DEFAULTS = {
    "n_samples": 200,
    "n_test": 1000,
    "n_features": 64,
    "n_patches": 8,
    "rank": 2,
    "signal_norm": 5.0,
    "signal_position": 0,
    "orthogonal_noise": False,
    # the largest level is where the data stable rank is > 10x its clean value while the
    # filters of 200 samples are not yet memorising the noise (measured: docs/results.md)
    "noise_levels": (0.0, 0.25, 0.5, 0.75, 1.0),
}
# Defaults of the MNIST / CIFAR-10 sweeps: PCA rank K, then noise padding on a canvas of
# image-sized tiles, then the CNN with kernel = stride = one tile.
IMAGE_DEFAULTS = {
    "n_samples": 1000,
    "n_test": 1000,
    "rank": 10,
    "classes": None,
    "canvas": (2, 2),
    "noise_mode": "pad",
    # the image sits in the top-left tile of every canvas, so the clean canvases have rank K
    # ("random": a random tile per sample, clean rank up to K * number of tiles)
    "position": 0,
    "noise_levels": (0.0, 0.1, 0.3, 1.0),
}
# Classifier settings of the sweep, pinned so that a change of RankCNNClassifier's defaults does
# not silently change the experiment. 1000 full-batch steps: the filters grow along the signal
# far beyond their random initialisation (fewer steps leave part of the init in the filters).
CLASSIFIER_DEFAULTS = {
    "n_filters": 10,
    "activation": "huberized",
    "q": 3,
    "kappa": 1.0,
    "init_std": 0.1,
    "lr": 1.0,
    "max_epochs": 1000,
    "rank_every": 100,
}
# Images (tiles of 784 or 3072 pixels): fewer, larger steps keep a fit at a few seconds per
# thousand images on one CPU core.
IMAGE_CLASSIFIER_DEFAULTS = {**CLASSIFIER_DEFAULTS, "lr": 5.0, "max_epochs": 300, "rank_every": 50}

_DATASETS = ("synthetic", "mnist", "cifar10")


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _torch_threads(n_threads):
    """Run torch with ``n_threads`` intra-op threads, then restore the previous setting.

    Float reductions depend on how the work is split between threads; a fixed count makes a
    fit give the same numbers whether it runs in the main process or in a joblib worker.
    """
    import torch

    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# Clean ranks by content: every noise level of a seed has the same clean matrix, whose full
# spectrum costs ~0.4 s at 1000 canvases of 56 x 56; hashing it costs ~20 ms. Bounded.
_CLEAN_RANKS_CACHE = {}
_CLEAN_RANKS_CACHE_SIZE = 32
_CLEAN_RANKS_LOCK = threading.Lock()  # points may run in threads (joblib's threading backend)


def _clean_ranks(X_clean, rtol=1e-4):
    """Numerical rank (singular values above ``rtol`` times the largest; the data are
    float32) and stable rank of the clean matrix, from one spectrum; computed once per
    distinct matrix in a process."""
    X_clean = np.ascontiguousarray(X_clean)
    digest = hashlib.blake2b(X_clean.data, digest_size=16).hexdigest()
    key = (X_clean.shape, X_clean.dtype.str, digest, rtol)
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


def _rank_columns(X_seen, X_clean, clf):
    """Data, patch, clean and filter ranks of one fitted sweep point."""
    from sklrank import patch_matrix, stable_rank

    patches = patch_matrix(X_seen, clf.input_shape_, clf.kernel_size_, clf.stride_, clf.padding)
    clean_rank, clean_stable_rank = _clean_ranks(X_clean)
    return {
        "data_stable_rank": float(stable_rank(X_seen)),
        "patch_stable_rank": float(stable_rank(patches)),
        "filter_stable_rank": float(clf.filter_stable_rank_),
        "clean_rank": clean_rank,
        "clean_stable_rank": clean_stable_rank,
        "n_epochs": len(clf.history),
    }


def _make_classifier(classifier_params, seed, input_shape, kernel_size):
    from sklrank import RankCNNClassifier

    params = {**CLASSIFIER_DEFAULTS, **(classifier_params or {})}
    params.setdefault("verbose", 0)
    return RankCNNClassifier(
        input_shape=input_shape, kernel_size=kernel_size, random_state=seed, **params
    )


# --------------------------------------------------------------------------- one sweep point


def _synthetic_point(noise_std, seed, config, classifier_params, n_threads):
    from sklrank.datasets import make_low_rank_patches

    n_train, n_test = config["n_samples"], config["n_test"]
    gen = {
        k: config[k]
        for k in (
            "n_features",
            "n_patches",
            "rank",
            "signal_norm",
            "signal_position",
            "orthogonal_noise",
        )
    }
    # Train and test come from one call so they share the signal basis. The noise is drawn
    # as noise_std * N(0, 1) from the same stream for every noise level, so noise_std=0 with
    # the same seed is exactly the clean version of the same samples.
    X, y = make_low_rank_patches(n_train + n_test, noise_std=noise_std, random_state=seed, **gen)
    X_clean, _ = make_low_rank_patches(n_train + n_test, noise_std=0.0, random_state=seed, **gen)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    input_shape = (1, config["n_patches"], config["n_features"])
    clf = _make_classifier(classifier_params, seed, input_shape, (1, config["n_features"]))
    with _torch_threads(n_threads):
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        row = {
            **_rank_columns(X_train, X_clean[:n_train], clf),
            "train_accuracy": float(clf.score(X_train, y_train)),
            "test_accuracy": float(clf.score(X_test, y_test)),
        }
    row["fit_time"] = fit_time
    row["n_train"], row["n_test"] = len(y_train), len(y_test)
    return row


def _image_point(noise_std, seed, config, classifier_params, n_threads, data):
    from sklrank import make_rank_pipeline

    X_train, y_train, X_test, y_test, image_shape = data
    params = {**IMAGE_CLASSIFIER_DEFAULTS, **(classifier_params or {})}
    params.setdefault("verbose", 0)
    pipe = make_rank_pipeline(
        image_shape,
        n_components=config["rank"],
        noise_std=noise_std,
        mode=config["noise_mode"],
        grid=config["canvas"],
        position=config["position"],
        random_state=seed,
        **params,
    )
    with _torch_threads(n_threads):
        start = time.perf_counter()
        # The steps of Pipeline.fit, unrolled to keep the exact matrix the classifier was
        # trained on (the noise is drawn at transform time, so a second transform differs).
        transforms, clf = pipe[:-1], pipe[-1]
        X_seen = transforms.fit_transform(X_train, y_train)
        clf.fit(X_seen, y_train)
        fit_time = time.perf_counter() - start
        # The clean matrix: the same rank-K images on a noise-free canvas.
        X_low_rank = pipe["rank"].transform(X_train)
        clean_step = clone(pipe["noise"]).set_params(noise_std=0.0)
        X_clean = clean_step.fit_transform(X_low_rank)
        row = {
            **_rank_columns(X_seen, X_clean, clf),
            "train_accuracy": float(clf.score(X_seen, y_train)),
            "test_accuracy": float(clf.score(transforms.transform(X_test), y_test)),
        }
    row["fit_time"] = fit_time
    row["n_train"], row["n_test"] = len(y_train), len(y_test)
    return row


def _subsample(data, seed, config):
    """The seed's random subset of the training and test images (drawn without replacement,
    kept in file order); done before dispatch so that each task only ships its subset."""
    X_train, y_train, X_test, y_test, image_shape = data
    rng = np.random.RandomState(seed)
    if config["n_samples"] is not None and config["n_samples"] < len(y_train):
        keep = np.sort(rng.choice(len(y_train), config["n_samples"], replace=False))
        X_train, y_train = X_train[keep], y_train[keep]
    if config["n_test"] is not None and config["n_test"] < len(y_test):
        keep = np.sort(rng.choice(len(y_test), config["n_test"], replace=False))
        X_test, y_test = X_test[keep], y_test[keep]
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"the {len(y_train)} training images drawn for seed {seed} hold one class only; "
            "raise n_samples."
        )
    return X_train, y_train, X_test, y_test, image_shape


def _run_point(kind, noise_std, seed, config, classifier_params, n_threads, data):
    if kind == "synthetic":
        row = _synthetic_point(noise_std, seed, config, classifier_params, n_threads)
    else:
        row = _image_point(noise_std, seed, config, classifier_params, n_threads, data)
    return {"noise_std": float(noise_std), "seed": int(seed), **row}


# --------------------------------------------------------------------------- data


def _load_images(dataset, config, data_home, download_if_missing):
    from sklrank.datasets import load_cifar10, load_mnist

    loader = load_mnist if dataset == "mnist" else load_cifar10
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


def _user_images(dataset, config):
    from sklearn.model_selection import train_test_split

    if len(dataset) != 3:
        raise ValueError(
            "dataset given as a tuple must be (X, y, image_shape), got a tuple of "
            f"{len(dataset)} items."
        )
    X, y, image_shape = dataset
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    image_shape = tuple(int(v) for v in image_shape)
    if X.ndim != 2 or X.shape[1] != int(np.prod(image_shape)):
        raise ValueError(
            f"dataset: X of shape {X.shape} does not hold flattened images of image_shape="
            f"{image_shape} ({int(np.prod(image_shape))} features); pass X as "
            "(n_samples, C*H*W)."
        )
    if config["classes"] is not None:
        mask = np.isin(y, config["classes"])
        X, y = X[mask], y[mask]
    # A fixed split: the seeds vary the subsample, the noise and the initialisation.
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    return X_train, y_train, X_test, y_test, image_shape


# --------------------------------------------------------------------------- public


@validate_params(
    {
        "dataset": [StrOptions(set(_DATASETS)), tuple],
        "noise_levels": ["array-like", None],
        "n_seeds": [Interval(Integral, 1, None, closed="left")],
        "seeds": ["array-like", None],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "n_test": [Interval(Integral, 1, None, closed="left"), None],
        "rank": [Interval(Integral, 1, None, closed="left"), None],
        "classes": ["array-like", None],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "data_params": [dict, None],
        "classifier_params": [dict, None],
        "n_jobs": [Integral, None],
        "backend": [StrOptions({"loky", "threading", "multiprocessing", "dask"}), None],
        "dask_client": [None, str, object],
        "torch_threads": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    },
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
    n_jobs=None,
    backend=None,
    dask_client=None,
    torch_threads=1,
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
      :func:`~sklrank.datasets.load_mnist` / :func:`~sklrank.datasets.load_cifar10`
      (optionally two or more ``classes``), reduced to rank K by
      :class:`~sklrank.PCARankReducer` (fitted on the training images, no centring, so the
      clean images have rank exactly K), placed by :class:`~sklrank.BackgroundNoise` in a
      canvas of image-sized tiles whose other tiles are Gaussian noise, and classified by
      :class:`~sklrank.RankCNNClassifier` with kernel = stride = one image tile; the
      Pipeline comes from :func:`~sklrank.make_rank_pipeline`.

    Every point trains one network; points run in parallel with joblib (``n_jobs``), on a
    Dask cluster with ``dask_client``. The same seeds give identical numbers, whatever
    ``n_jobs``: each fit runs with ``torch_threads`` torch threads and every random draw
    (data, subsample, noise, initialisation) is seeded by the point's seed.

    Parameters
    ----------
    dataset : {"synthetic", "mnist", "cifar10"} or tuple (X, y, image_shape), \
            default="synthetic"
        The data. A tuple gives your own flattened images (rows of ``C*H*W`` values) and
        their shape; they are split 75/25 into train and test (stratified, fixed split).
    noise_levels : array-like of float, default=None
        Standard deviations of the background noise, each >= 0. None uses
        ``SYNTHETIC_DEFAULTS["noise_levels"]`` or ``IMAGE_DEFAULTS["noise_levels"]``.
    n_seeds : int, default=3
        Number of seeds (0, 1, ..., n_seeds - 1) when ``seeds`` is None.
    seeds : array-like of int, default=None
        Explicit seeds; overrides ``n_seeds``.
    n_samples : int, default=None
        Training samples per point (synthetic: 200; images: 1000 drawn per seed from the
        training set, all of them if fewer).
    n_test : int, default=None
        Test samples per point (1000 by default).
    rank : int, default=None
        K: signal directions per class (synthetic, default 2) or the PCA rank of the clean
        images (default 10).
    classes : array-like, default=None
        Images only: keep these classes (e.g. two digits); None keeps all.
    data_home : str or path-like, default=None
        Where the MNIST / CIFAR-10 files are (see :func:`~sklrank.datasets.get_data_home`).
    download_if_missing : bool, default=True
        Download missing MNIST / CIFAR-10 files (checked against their published checksums);
        False raises at once, saying which files to put where.
    data_params : dict, default=None
        Further data settings. Synthetic: ``n_features`` (64), ``n_patches`` (8),
        ``signal_norm`` (5.0), ``signal_position`` (0; ``"random"`` for a random patch),
        ``orthogonal_noise`` (False). Images: ``canvas`` (tiles, default (2, 2)),
        ``noise_mode`` (``"pad"``; ``"additive"`` adds the noise to the image itself) and
        ``position`` (the canvas tile of the image: 0, the top-left one, so the clean
        canvases have rank K; ``"random"`` for a random tile per sample).
    classifier_params : dict, default=None
        Parameters of :class:`~sklrank.RankCNNClassifier` (``n_filters``, ``lr``,
        ``max_epochs``, ``q``, ...) on top of ``CLASSIFIER_DEFAULTS`` (synthetic) or
        ``IMAGE_CLASSIFIER_DEFAULTS`` (images); ``input_shape``,
        ``kernel_size`` and ``random_state`` are set by the sweep.
    n_jobs : int, default=None
        Points trained at once (joblib; None means 1, -1 all cores). With ``dask_client``,
        None means as many as the cluster offers.
    backend : {"loky", "threading", "multiprocessing", "dask"}, default=None
        joblib backend; None is joblib's default (loky), or "dask" with ``dask_client``.
    dask_client : dask.distributed.Client or str, default=None
        Run the points on this Dask cluster (a client, or a scheduler address such as
        ``"tcp://10.0.0.5:8786"`` to connect to and close afterwards). Needs
        ``dask[distributed]`` (``pip install sklrank[dask]``).
    torch_threads : int or None, default=1
        Torch threads per fit (None leaves torch's setting alone, at the price of
        reproducibility across ``n_jobs``).
    verbose : int, default=1
        0 is silent; 1 shows a progress bar with one step per sweep point; 2 also shows the
        classifier's training log.

    Returns
    -------
    results : pandas.DataFrame
        One row per (noise level, seed), sorted by both, with columns ``dataset``,
        ``noise_std``, ``seed``, ``data_stable_rank`` (the training matrix as the classifier
        receives it, one sample a row), ``patch_stable_rank`` (every patch the filters see,
        one a row), ``filter_stable_rank`` (all first-layer filters, one a row),
        ``clean_rank`` (numerical rank of the noise-free training matrix of the same seed:
        2K for the synthetic data, K for the PCA-reduced images), ``clean_stable_rank``,
        ``train_accuracy``, ``test_accuracy``, ``fit_time`` (seconds), ``n_epochs``,
        ``n_train`` and ``n_test``. ``results.attrs["config"]`` holds the full configuration.

    Examples
    --------
    >>> from sklrank.experiments import noise_sweep
    >>> df = noise_sweep(noise_levels=[0.0, 1.0], n_seeds=1, verbose=0,
    ...                  classifier_params={"max_epochs": 5})  # doctest: +SKIP
    >>> df[["noise_std", "data_stable_rank", "filter_stable_rank"]]  # doctest: +SKIP
    """
    kind = dataset if isinstance(dataset, str) else "images"
    name = dataset if isinstance(dataset, str) else "custom"
    defaults = SYNTHETIC_DEFAULTS if kind == "synthetic" else IMAGE_DEFAULTS
    config = {k: v for k, v in defaults.items() if k != "noise_levels"}
    for key, value in (
        ("n_samples", n_samples),
        ("n_test", n_test),
        ("rank", rank),
        ("classes", classes),
    ):
        if value is not None:
            config[key] = value
    if kind == "synthetic" and classes is not None:
        raise ValueError("classes applies to image data sets only; drop it for 'synthetic'.")
    unknown = sorted(set(data_params or {}) - set(config))
    if unknown:
        raise ValueError(
            f"data_params has unknown keys {unknown} for dataset={name!r}; valid keys are "
            f"{sorted(k for k in config if k not in ('n_samples', 'n_test', 'rank', 'classes'))}."
        )
    config.update(data_params or {})
    if config.get("classes") is not None:
        config["classes"] = [c.item() if hasattr(c, "item") else c for c in config["classes"]]
    if "canvas" in config:
        config["canvas"] = tuple(int(v) for v in config["canvas"])

    levels = defaults["noise_levels"] if noise_levels is None else noise_levels
    levels = np.asarray(levels, dtype=float).ravel()
    if levels.size == 0 or not np.all(np.isfinite(levels)) or np.any(levels < 0):
        raise ValueError(
            f"noise_levels must be a non-empty list of finite values >= 0, got {levels.tolist()}."
        )
    seed_list = list(range(n_seeds)) if seeds is None else [int(s) for s in np.ravel(seeds)]
    if not seed_list:
        raise ValueError("seeds must hold at least one seed.")
    if classifier_params:
        fixed = sorted({"input_shape", "kernel_size", "random_state"} & set(classifier_params))
        if fixed:
            raise ValueError(
                f"classifier_params must not set {fixed}: the sweep sets them (the kernel is "
                "one patch / image tile, random_state is the seed)."
            )
    if verbose and verbose >= 2:
        classifier_params = {"verbose": 1, **(classifier_params or {})}

    data = None
    if kind == "images":
        data = _user_images(dataset, config)
    elif kind != "synthetic":
        data = _load_images(dataset, config, data_home, download_if_missing)
    if data is not None:
        n_classes = len(np.unique(data[1]))
        if n_classes < 2:
            raise ValueError(f"the training data of dataset={name!r} hold one class only.")
        max_rank = min(
            len(data[1]) if config["n_samples"] is None else config["n_samples"],
            int(np.prod(data[4])),
        )
        if config["rank"] > max_rank:
            raise ValueError(
                f"rank={config['rank']} exceeds min(n_samples, n_features)={max_rank}; lower "
                "rank or use more samples."
            )

    subsets = {seed: None if data is None else _subsample(data, seed, config) for seed in seed_list}
    points = [(float(s), seed) for s in levels for seed in seed_list]
    tasks = (
        delayed(_run_point)(
            kind, noise_std, seed, config, classifier_params, torch_threads, subsets[seed]
        )
        for noise_std, seed in points
    )

    client, own_client = dask_client, False
    if isinstance(client, str):
        from dask.distributed import Client

        client, own_client = Client(client), True
    if client is not None:
        backend = "dask" if backend is None else backend
        if backend != "dask":
            raise ValueError(f"dask_client needs backend='dask' or None, got {backend!r}.")
    try:
        with contextlib.ExitStack() as stack:
            if backend is not None:
                stack.enter_context(parallel_config(backend=backend))
            jobs = n_jobs if n_jobs is not None else (-1 if backend == "dask" else None)
            parallel = Parallel(n_jobs=jobs, return_as="generator")
            rows = _collect(parallel(tasks), len(points), name, verbose)
    finally:
        if own_client:
            client.close()

    df = pd.DataFrame(rows)
    df.insert(0, "dataset", name)
    df = df.sort_values(["noise_std", "seed"], kind="stable").reset_index(drop=True)
    df.attrs["config"] = {
        "dataset": name,
        "noise_levels": levels.tolist(),
        "seeds": seed_list,
        "data": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
        "classifier_params": _effective_classifier_params(
            CLASSIFIER_DEFAULTS if kind == "synthetic" else IMAGE_CLASSIFIER_DEFAULTS,
            classifier_params,
        ),
        "torch_threads": torch_threads,
        "n_jobs": n_jobs,
        "backend": backend,
    }
    return df


def _collect(results, total, name, verbose):
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=total, desc=f"noise sweep ({name})", unit="fit", disable=not verbose) as bar:
        for row in results:
            rows.append(row)
            bar.set_postfix(noise=row["noise_std"], seed=row["seed"], refresh=False)
            bar.update()
    return rows


def _effective_classifier_params(defaults, classifier_params):
    """The classifier's parameters as the sweep uses them (its defaults included)."""
    from sklrank import RankCNNClassifier

    params = {
        k: v
        for k, v in RankCNNClassifier().get_params(deep=False).items()
        if isinstance(v, (str, Real, bool, tuple, list, type(None)))
    }
    params.update(defaults)
    params.update(classifier_params or {})
    for key in ("input_shape", "kernel_size", "random_state"):
        params.pop(key, None)
    return {k: (repr(v) if not isinstance(v, (str, Real, bool, type(None))) else v)
            for k, v in params.items()}
