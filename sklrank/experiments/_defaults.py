"""The settings of the sweeps' defaults, without imports: the command line reads them to
build its parser (``sklrank sweep --help`` shows them without loading torch, scikit-learn or
pandas)."""

#: Defaults of the synthetic sweep (``noise_sweep("synthetic")``, the README's main command).
#: The signal sits in a fixed patch (``signal_position=0``) so that the clean data matrix has
#: rank exactly 2K, as in the paper; with a random position it has rank 2K * n_patches (the
#: clean *patch* matrix keeps rank 2K).
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
#: Defaults of the MNIST, CIFAR-10 and custom-image sweeps: PCA rank K, then noise padding on
#: a canvas of image-sized tiles (the image in the top-left one), then the CNN with kernel =
#: stride = one tile.
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
#: :class:`~sklrank.RankCNNClassifier` settings of the synthetic sweep, pinned so that a change
#: of the classifier's defaults does not silently change the experiment (``classifier_params``
#: overrides them). 1000 full-batch steps: the filters grow along the signal far beyond their
#: random initialisation (fewer steps leave part of the initialisation in the filters).
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
#: Classifier settings of the image sweeps: those of ``CLASSIFIER_DEFAULTS`` with fewer,
#: larger steps (tiles of 784 or 3072 pixels), which keep a fit at a few seconds per thousand
#: images on one CPU core.
IMAGE_CLASSIFIER_DEFAULTS = {**CLASSIFIER_DEFAULTS, "lr": 5.0, "max_epochs": 300, "rank_every": 50}
#: Defaults of :func:`~sklrank.experiments.sample_size_study`: ten-digit MNIST from a thousand
#: images to the whole training set, at no noise, moderate noise and noise as strong as the
#: pixels.
SAMPLE_SIZE_DEFAULTS = {
    "n_samples": (1000, 4000, 16000, 60000),
    "noise_levels": (0.0, 0.3, 1.0),
}
