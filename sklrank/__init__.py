"""sklrank: scikit-learn-compatible tools to study the rank of neural networks under noise.

The public names below are imported on first use, so that ``import sklrank`` stays fast and
the command line starts quickly; every name is listed in ``__all__``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sklrank")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from ._lazy import attach as _attach  # noqa: E402

# public name -> private module that defines it
_LAZY_NAMES = {
    "stable_rank": "sklrank._rank",
    "effective_rank": "sklrank._rank",
    "squared_singular_values": "sklrank._rank",
    "patch_matrix": "sklrank._patches",
    "RankCNNClassifier": "sklrank._rank_cnn_classifier",
    "PCARankReducer": "sklrank.preprocessing",
    "BackgroundNoise": "sklrank.preprocessing",
    "make_rank_pipeline": "sklrank.preprocessing",
    "TwoLayerNetRegressor": "sklrank._two_layer_net_estimators",
    "TwoLayerNetClassifier": "sklrank._two_layer_net_estimators",
}
_SUBMODULES = [
    "callbacks",
    "datasets",
    "experiments",
    "gradients",
    "metrics",
    "nn",
    "preprocessing",
]

__getattr__, _, __all__ = _attach(__name__, _LAZY_NAMES, _SUBMODULES, eager=["__version__"])


def __dir__():  # the public names only: ``dir(sklrank)`` is what a user may import
    return __all__
