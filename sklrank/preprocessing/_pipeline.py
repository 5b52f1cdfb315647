"""make_rank_pipeline: PCARankReducer -> BackgroundNoise -> RankCNNClassifier, shapes computed."""

from sklearn.pipeline import Pipeline

from .._patches import _positive_ints
from ._noise import BackgroundNoise, _noise_geometry
from ._rank_reducer import PCARankReducer

__all__ = ["make_rank_pipeline"]


def make_rank_pipeline(
    image_shape,
    *,
    n_components=None,
    noise_std=0.0,
    mode="pad",
    grid=(2, 2),
    position="random",
    random_state=None,
    **classifier_params,
):
    """Pipeline of rank reduction, noise injection and the two-layer CNN, shapes filled in.

    The steps are ``"rank"`` (:class:`PCARankReducer`, or ``"passthrough"`` when
    ``n_components`` is None), ``"noise"`` (:class:`BackgroundNoise`) and ``"cnn"``
    (:class:`sklrank.RankCNNClassifier`). The classifier's ``input_shape`` is set to the
    canvas shape the noise step produces and its ``kernel_size`` to one image tile ``(H, W)``,
    so each filter sees exactly one tile: the clean image or a noise tile ("pad" mode), or the
    whole noisy image ("additive" mode).

    Every parameter stays tunable with the usual ``step__param`` names, e.g.
    ``GridSearchCV(pipe, {"noise__noise_std": [0.0, 0.5, 1.0]})``: the noise level, the
    position, the rank and the classifier's parameters do not change any shape. Changing
    ``noise__grid``, ``noise__mode`` or ``noise__image_shape`` does change the canvas; set
    ``cnn__input_shape`` (and ``cnn__kernel_size``) to match, or build one pipeline per
    geometry with this function. A mismatch is reported by the classifier at fit.

    Parameters
    ----------
    image_shape : array-like of 3 ints
        ``(channels, height, width)`` of one input image (e.g. ``(1, 28, 28)`` for MNIST).
    n_components : int or None, default=None
        Rank of the clean images (:class:`PCARankReducer`); None skips the rank step.
    noise_std : float, default=0.0
        Standard deviation of the Gaussian noise (:class:`BackgroundNoise`).
    mode : {"pad", "additive"}, default="pad"
        Noise padding around the image, or noise added onto it.
    grid : int or array-like of 2 ints, default=(2, 2)
        Tiles of the canvas in "pad" mode.
    position : "random", int or array-like of 2 ints, default="random"
        Tile that holds the image in "pad" mode.
    random_state : int, RandomState instance or None, default=None
        Passed to all three steps (the randomized SVD, the noise generator and the network's
        initialisation), so an int makes the whole pipeline reproducible.
    **classifier_params
        Further parameters of :class:`sklrank.RankCNNClassifier` (``n_filters``, ``lr``,
        ``max_epochs``, ``q``, ``stride``, ``padding``, ...). ``input_shape`` and
        ``kernel_size`` are computed; passing them raises a TypeError.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"rank"``, ``"noise"``, ``"cnn"``.

    Raises
    ------
    ValueError
        For a malformed ``image_shape``, ``grid`` or ``position``, an unknown ``mode``, a
        negative ``noise_std`` or a bad ``n_components``, at once (not at the first fit).
    TypeError
        If ``input_shape`` or ``kernel_size`` is passed.

    Examples
    --------
    >>> from sklrank import make_rank_pipeline
    >>> pipe = make_rank_pipeline((1, 28, 28), n_components=10, noise_std=0.5,
    ...                           random_state=0, max_epochs=20)
    >>> [name for name, _ in pipe.steps]
    ['rank', 'noise', 'cnn']
    >>> pipe["cnn"].input_shape, pipe["cnn"].kernel_size
    ((1, 56, 56), (28, 28))
    """
    from sklrank import RankCNNClassifier  # torch is imported only when needed

    computed = sorted({"input_shape", "kernel_size"} & set(classifier_params))
    if computed:
        raise TypeError(
            f"make_rank_pipeline computes {computed} from image_shape, mode and grid; do not "
            "pass them (build the Pipeline by hand for another geometry)."
        )
    image_shape = _positive_ints(image_shape, 3, "image_shape", "(channels, height, width)")
    noise = BackgroundNoise(
        noise_std,
        image_shape,
        mode=mode,
        grid=grid,
        position=position,
        random_state=random_state,
    )
    # Checked now, as fit would check them, so that a bad noise_std, mode, grid or position
    # is reported here and not after the rank step of the first fit.
    noise._validate_params()
    c, h, w = image_shape
    _, _, canvas, _ = _noise_geometry(c * h * w, image_shape, mode, grid, position)
    rank = (
        "passthrough"
        if n_components is None
        else PCARankReducer(n_components, random_state=random_state)
    )
    if rank != "passthrough":
        rank._validate_params()
        # (the rank of any training set is at most its number of features, the pixels)
        if n_components > c * h * w:
            raise ValueError(
                f"n_components={n_components} is more than the {c * h * w} pixels of an "
                f"image_shape={image_shape} image; pass n_components <= {c * h * w} (or None "
                "to skip the rank step)."
            )
    cnn = RankCNNClassifier(
        input_shape=canvas,
        kernel_size=(h, w),
        random_state=random_state,
        **classifier_params,
    )
    return Pipeline([("rank", rank), ("noise", noise), ("cnn", cnn)])
