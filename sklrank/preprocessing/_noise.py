"""BackgroundNoise: Gaussian background noise around (padding) or onto (additive) images."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from .._memory import check_fits_in_memory
from .._params import _ValidatedParams
from .._patches import _positive_ints
from .._validation import validate_data

__all__ = ["BackgroundNoise"]

# Memory of one output feature name of get_feature_names_out, with its share of the arrays.
_BYTES_A_NAME = 150


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool | np.bool_)


def _check_noise_scale(noise_std, dtype):
    """Refuse a ``noise_std`` below the smallest normal value of ``dtype`` (float32: 1.2e-38):
    its noise is subnormal, rounded to multiples of the smallest subnormal (1.4e-45 in
    float32), a handful of values at 1e-44 instead of Gaussian noise."""
    info = np.finfo(dtype)
    if 0 < noise_std < float(info.tiny):
        wider = ", or pass float64 X" if dtype != np.float64 else ""
        raise ValueError(
            f"noise_std={noise_std!r} underflows {dtype} (smallest normal value "
            f"{info.tiny:.3g}): the noise would be subnormal, rounded to multiples of "
            f"{info.smallest_subnormal:.3g} instead of Gaussian. Pass noise_std=0 or "
            f"noise_std >= {info.tiny:.3g} (rescale X and noise_std together){wider}."
        )


def _noise_geometry(n_features, image_shape, mode, grid, position):
    """``(image_shape, grid, output_image_shape, tile)`` of BackgroundNoise's parameters for
    samples of ``n_features`` features; ``tile`` is the fixed (row, column) of the image, or
    None for a random tile. A ValueError names the parameter that does not fit."""
    if image_shape is None:
        image_shape = (1, 1, n_features)
    else:
        image_shape = _positive_ints(image_shape, 3, "image_shape", "(channels, height, width)")
    if int(np.prod(image_shape)) != n_features:
        raise ValueError(
            f"image_shape={image_shape} has {int(np.prod(image_shape))} pixels but X has "
            f"{n_features} features; pass the (channels, height, width) of one image, "
            f"whose product is {n_features}."
        )
    if mode == "additive":
        return image_shape, (1, 1), image_shape, (0, 0)
    if _is_int(grid):
        grid = (grid, grid)
    gh, gw = grid = _positive_ints(grid, 2, "grid", "(rows, columns) of tiles")
    if (gh, gw) == (1, 1):
        # (whatever noise_std: a grid search over it would otherwise fail at its nonzero
        # values only, and pick the clean one)
        raise ValueError(
            "grid=(1, 1) leaves no tile for the noise in mode='pad' (the output would be the "
            "input, without noise); use at least two tiles, e.g. grid=(2, 2), or "
            "mode='additive'."
        )
    if isinstance(position, str):
        tile = None
    elif _is_int(position) and 0 <= position < gh * gw:
        tile = divmod(int(position), gw)
    elif _is_int(position) or isinstance(position, bool | np.bool_):
        raise ValueError(
            f"position={position!r} is not a tile of the {gh} x {gw} grid; pass a tile "
            f"index in 0..{gh * gw - 1}, a (row, column) pair, or 'random'."
        )
    else:
        try:
            tile = tuple(position)
        except TypeError:
            tile = ()
        if (
            len(tile) != 2
            or not all(_is_int(v) for v in tile)
            or not (0 <= tile[0] < gh and 0 <= tile[1] < gw)
        ):
            raise ValueError(
                f"position={position!r} is not a (row, column) tile of the {gh} x {gw} "
                f"grid; pass a pair of ints with 0 <= row < {gh} and 0 <= column < {gw}, a "
                "tile index, or 'random'."
            )
        tile = (int(tile[0]), int(tile[1]))
    c, h, w = image_shape
    return image_shape, grid, (c, gh * h, gw * w), tile


class BackgroundNoise(_ValidatedParams, TransformerMixin, BaseEstimator):
    """Add Gaussian background noise to flattened images, around them or onto them.

    Images are rows of ``X``, flattened row-major from ``image_shape = (C, H, W)`` (the layout
    of :func:`sklrank.patch_matrix` and of :class:`sklrank.RankCNNClassifier`).

    - ``mode="pad"`` ("noise padding"): each image is placed in one tile of a canvas made of
      ``grid = (gh, gw)`` image-sized tiles; every other pixel of the canvas is i.i.d.
      ``N(0, noise_std^2)``. The output images have shape ``(C, gh * H, gw * W)``
      (``output_image_shape_``); the image tile is fixed (``position``) or drawn uniformly at
      random for each sample. With ``noise_std=0`` the clean image lies on a zero canvas.
    - ``mode="additive"``: i.i.d. ``N(0, noise_std^2)`` noise is added to every pixel; the
      shape does not change (``grid`` and ``position`` are ignored).

    **Randomness.** The noise (and the random tile positions) is drawn at *transform* time,
    not at fit time, from a :class:`numpy.random.Generator` created by ``fit`` from
    ``random_state``. The generator advances with every call, so two calls of ``transform``
    on the same data return different noise, while refitting with the same integer
    ``random_state`` replays the same sequence of draws. The estimator is therefore tagged
    ``non_deterministic``. In a :class:`~sklearn.pipeline.Pipeline`, the noise the final
    step is trained on (drawn by ``fit_transform``) differs from the noise of every later
    ``predict`` or ``score`` call, as fresh noise should. A Pipeline with ``memory=`` caches
    the output of ``fit_transform``: a refit with the same parameters on the same data reuses
    the noise drawn the first time, also with ``random_state=None``.

    Parameters
    ----------
    noise_std : float, default=1.0
        Standard deviation of the Gaussian noise, ``>= 0`` and finite; 0 gives the clean
        images (on a zero canvas in "pad" mode). A level whose noise overflows the images'
        dtype (above about 1e37 for float32) is an error at transform, not inf pixels; so is
        a level below the dtype's smallest normal value (``np.finfo(np.float32).tiny``,
        about 1.2e-38, for float32 ``X``), at fit and at transform, whose noise would be
        subnormal: rounded to a few values instead of Gaussian.
    image_shape : array-like of 3 ints or None, default=None
        ``(channels, height, width)`` of one input image; ``C * H * W`` must equal the number
        of features. None means ``(1, 1, n_features)``: each row is a 1-pixel-high image.
    mode : {"pad", "additive"}, default="pad"
        Noise padding around the image, or noise added onto it (see above). Read at ``fit``,
        as ``grid`` and ``position`` are: ``set_params(mode=...)`` on a fitted transformer
        takes effect at its next ``fit``.
    grid : int or array-like of 2 ints, default=(2, 2)
        ``(rows, columns)`` of image-sized tiles of the canvas ("pad" mode); an int ``g``
        means ``(g, g)``.
    position : "random", int or array-like of 2 ints, default="random"
        Tile of the canvas holding the image ("pad" mode): "random" draws one uniformly for
        each sample at each transform; an int is a tile index in row-major order
        (``row * gw + column``); a pair is ``(row, column)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the generator created at fit (an int replays the same draws after each fit).

    Attributes
    ----------
    image_shape_ : tuple of 3 ints
        The input image shape ``(C, H, W)``.
    grid_ : tuple of 2 ints
        ``(gh, gw)`` ("pad" mode) or ``(1, 1)`` ("additive" mode).
    output_image_shape_ : tuple of 3 ints
        ``(C, gh * H, gw * W)`` in "pad" mode, ``image_shape_`` in "additive" mode. Give it to
        the classifier as ``input_shape``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during fit, when X has string column names.

    See Also
    --------
    PCARankReducer : Rank-K approximation of the images, before the noise.
    make_rank_pipeline : Pipeline of PCARankReducer, BackgroundNoise and RankCNNClassifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import BackgroundNoise
    >>> X = np.ones((3, 2 * 3), dtype=np.float32)  # three 1 x 2 x 3 images
    >>> noise = BackgroundNoise(0.0, image_shape=(1, 2, 3), position=(1, 0)).fit(X)
    >>> noise.output_image_shape_
    (1, 4, 6)
    >>> noise.transform(X)[0].reshape(4, 6)
    array([[0., 0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 0., 0.],
           [1., 1., 1., 0., 0., 0.],
           [1., 1., 1., 0., 0., 0.]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "image_shape": [tuple, list, np.ndarray, None],
        "mode": [StrOptions({"pad", "additive"})],
        "grid": [Interval(Integral, 1, None, closed="left"), tuple, list, np.ndarray],
        "position": [StrOptions({"random"}), Interval(Integral, 0, None, closed="left"), tuple,
                     list, np.ndarray],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        noise_std=1.0,
        image_shape=None,
        *,
        mode="pad",
        grid=(2, 2),
        position="random",
        random_state=None,
    ):
        self.noise_std = noise_std
        self.image_shape = image_shape
        self.mode = mode
        self.grid = grid
        self.position = position
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the geometry against ``X`` and create the noise generator.

        Parameters
        ----------
        X : array-like of shape (n_samples, C * H * W)
            Flattened images; float32 and float64 are kept, other real dtypes (e.g. uint8
            pixels) are read as float32.
        y : None
            Ignored; present for Pipeline compatibility.

        Returns
        -------
        self : BackgroundNoise
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        _check_noise_scale(float(self.noise_std), X.dtype)
        self.image_shape_, self.grid_, self.output_image_shape_, self._fixed_tile = (
            _noise_geometry(X.shape[1], self.image_shape, self.mode, self.grid, self.position)
        )
        # A Generator seeded once here: every transform advances it (fresh noise per call),
        # and refitting with an int random_state replays the same draws.
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(seed)
        return self

    def transform(self, X):
        """Draw fresh noise and return the noisy images, flattened.

        Parameters
        ----------
        X : array-like of shape (n_samples, C * H * W)
            Flattened images of shape ``image_shape_`` (integer images are read as float32).

        Returns
        -------
        X_noisy : ndarray of shape (n_samples, ``prod(output_image_shape_)``)
            Same dtype as ``X`` (float32 or float64).

        Raises
        ------
        ValueError
            If the noise overflows the dtype of ``X`` (the output would hold inf) or
            underflows it (``noise_std`` below its smallest normal value), if ``X``
            holds NaN or infinity (under ``sklearn.set_config(assume_finite=True)``, which
            skips the check of ``X``; with ``noise_std=0`` they pass through unchecked), or
            if the canvases ("pad" mode) would not fit in this machine's memory (the message
            names ``grid``, the number of samples and the memory needed; transform fewer
            samples at a time).
        """
        check_is_fitted(self, "output_image_shape_")
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        if not self._fitted_additive():
            # the canvases, refused before they are made (numpy's "Unable to allocate
            # 146 TiB" named neither grid nor the number of samples)
            c, h, w = self.output_image_shape_
            check_fits_in_memory(
                X.dtype.itemsize * X.shape[0] * c * h * w,
                f"BackgroundNoise(grid={self.grid_}).transform",
                f"X_noisy holds n_samples={X.shape[0]} canvases of {c} x {h} x {w} "
                f"{X.dtype} pixels",
                "grid, or transform fewer samples at a time",
            )
        std = float(self.noise_std)
        _check_noise_scale(std, X.dtype)  # (noise_std or the dtype of X may differ from fit's)
        if std == 0.0:
            return self._noisy(X, std)
        with np.errstate(over="ignore"):
            out = self._noisy(X, std)
        # X is finite (validate_data), so an inf can only be an overflow of X's dtype; unless
        # scikit-learn's assume_finite=True skipped that check.
        if not np.isfinite(out).all():
            if not np.isfinite(X).all():
                raise ValueError(
                    "Input X contains NaN or infinity (scikit-learn's assume_finite=True "
                    "skipped the check at the start of transform); remove or impute those "
                    "entries."
                )
            # (float64 X: "pass float64 X" was the advice there too)
            wider = ", or pass float64 X" if X.dtype != np.float64 else ""
            raise ValueError(
                f"noise_std={self.noise_std!r} overflows {X.dtype} (largest value "
                f"{np.finfo(X.dtype).max:.3g}) with these images: the noisy images would hold "
                f"inf. Lower noise_std (or rescale X){wider}."
            )
        return out

    def _noisy(self, X, std):
        """The noisy images of ``X`` for noise level ``std``, drawn from the fitted generator."""
        n, rng = X.shape[0], self._rng
        if self._fitted_additive():
            if std == 0.0:
                return X.copy()
            # (std * noise) + X computed in place: the same numbers as X + std * noise,
            # with one output-sized array instead of three
            out = self._scaled_noise(X.shape, X.dtype, std)
            out += X
            return out
        c, h, w = self.image_shape_
        gh, gw = self.grid_
        if self._fixed_tile is None:
            tiles = rng.integers(gh * gw, size=n)
            rows, cols = np.divmod(tiles, gw)
        else:
            rows = np.full(n, self._fixed_tile[0])
            cols = np.full(n, self._fixed_tile[1])
        shape = (n, c, gh * h, gw * w)
        canvas = (
            np.zeros(shape, dtype=X.dtype) if std == 0.0
            else self._scaled_noise(shape, X.dtype, std)
        )
        # View the canvas as (n, C, tile row, H, tile column, W) and write each image into its
        # tile; the advanced indices (sample, row, column) broadcast to one tile per sample.
        tiles_view = canvas.reshape(n, c, gh, h, gw, w)
        tiles_view[np.arange(n), :, rows, :, cols, :] = X.reshape(n, c, h, w)
        return canvas.reshape(n, -1)

    def _fitted_additive(self):
        """Whether the fitted geometry is "additive" mode. Read from ``grid_`` ((1, 1) only
        in that mode: "pad" refuses one tile), not from ``mode``: a ``set_params(mode=...)``
        takes effect at the next fit, with the geometry it implies, as ``grid`` does."""
        return self.grid_ == (1, 1)

    def _scaled_noise(self, shape, dtype, std):
        """``std * N(0, 1)`` noise of ``shape``, drawn then scaled in place: bitwise
        ``std * rng.standard_normal(shape, dtype)`` (the same float multiplications) without
        its temporary, which at n = 60000 on a 2 x 2 MNIST canvas is 750 MB."""
        noise = self._rng.standard_normal(shape, dtype=dtype)
        noise *= std
        return noise

    def get_feature_names_out(self, input_features=None):
        """Names of the output pixels.

        In "additive" mode the features are the input features (one-to-one). In "pad" mode
        they are the canvas pixels, ``backgroundnoise_c{channel}_r{row}_c{column}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, checked against ``feature_names_in_`` when that exists.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name a column of the output: the input names ("additive"), or one name a
            canvas pixel ("pad"), channel, row and column in C order.
        """
        check_is_fitted(self, "output_image_shape_")
        input_features = _check_feature_names_in(self, input_features)
        if self._fitted_additive():
            return input_features
        c, h, w = self.output_image_shape_
        # a Python string (about 80 bytes), its pointers and indices (about 70) a pixel:
        # a huge canvas filled the memory until the process was killed
        check_fits_in_memory(
            _BYTES_A_NAME * c * h * w,
            f"BackgroundNoise(grid={self.grid_}).get_feature_names_out",
            f"one name for each of the {c} x {h} x {w} pixels of a canvas",
            "grid",
        )
        ch, r, col = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
        names = [
            f"backgroundnoise_c{a}_r{b}_c{d}"
            for a, b, d in zip(ch.ravel(), r.ravel(), col.ravel())
        ]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Noise is drawn at transform time: two transforms of the same X differ.
        tags.non_deterministic = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
