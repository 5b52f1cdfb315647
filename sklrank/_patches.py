"""The patch matrix: every patch a convolution sees, one patch a row."""

import sys
from numbers import Integral

import numpy as np
from sklearn.utils import check_array

__all__ = ["patch_matrix", "check_image_geometry"]


def _positive_ints(value, length, name, what):
    """``value`` as a tuple of ``length`` positive ints, or a ValueError naming ``name``.

    Python and numpy integers are accepted; booleans and fractional values (``28.5``, but also
    ``28.0``) are refused rather than truncated, since a truncated shape silently describes
    other images.
    """
    try:
        values = tuple(value)
    except TypeError:
        values = None
    if (
        values is None
        or isinstance(value, str)
        or len(values) != length
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool | np.bool_) and v >= 1
            for v in values
        )
    ):
        raise ValueError(f"{name} must be {what} ({length} positive ints), got {value!r}.")
    return tuple(int(v) for v in values)


def _pair(value, name):
    """An int ``k`` as ``(k, k)``, or a pair of positive ints (see :func:`_positive_ints`)."""
    if isinstance(value, Integral) and not isinstance(value, bool | np.bool_):
        value = (value, value)
    return _positive_ints(value, 2, name, "an int or a (height, width) pair")


def check_image_geometry(input_shape, kernel_size=None, stride=None, padding="none"):
    """Validate and normalise the geometry of a convolution over flattened images.

    Parameters
    ----------
    input_shape : tuple of 3 ints
        ``(channels, height, width)`` of one sample.
    kernel_size : int or pair of ints, default=None
        ``(kh, kw)``; None means the whole image (one patch).
    stride : int or pair of ints, default=None
        None means equal to ``kernel_size`` (non-overlapping patches).
    padding : {"none", "circular"}, default="none"
        "circular" wraps the image around so every position starts a patch.

    Returns
    -------
    input_shape, kernel_size, stride : tuples of ints

    Raises
    ------
    ValueError
        Naming the parameter, for a malformed shape (not positive ints: fractional values
        are refused, not truncated) or a kernel larger than the image.

    Examples
    --------
    >>> from sklrank._patches import check_image_geometry
    >>> check_image_geometry((1, 28, 28), kernel_size=7)
    ((1, 28, 28), (7, 7), (7, 7))
    """
    input_shape = _positive_ints(input_shape, 3, "input_shape", "(channels, height, width)")
    kernel_size = input_shape[1:] if kernel_size is None else _pair(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    if not isinstance(padding, str) or padding not in ("none", "circular"):
        raise ValueError(f"padding must be 'none' or 'circular', got {padding!r}.")
    if kernel_size[0] > input_shape[1] or kernel_size[1] > input_shape[2]:
        raise ValueError(
            f"kernel_size={kernel_size} is larger than the image (height, width)="
            f"{input_shape[1:]}; use a kernel no larger than the image."
        )
    return input_shape, kernel_size, stride


def _check_images(X, n_features, input_shape):
    """X as a finite 2-D float array of ``n_features`` columns (integer images become float64)."""
    torch = sys.modules.get("torch")  # a tensor can only come from an imported torch
    if torch is not None and torch.is_tensor(X):
        # The patch matrix is data: a tensor that requires grad is read, not differentiated.
        X = X.detach().cpu().numpy()
    X = check_array(
        X, dtype=[np.float64, np.float32], ensure_min_samples=0, input_name="X"
    )
    if X.shape[1] != n_features:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}) for input_shape={input_shape}, got "
            f"{X.shape}; pass one flattened (channels, height, width) image a row."
        )
    return X


def patch_matrix(X, input_shape, kernel_size=None, stride=None, padding="none"):
    """Every patch a convolution sees, one patch a row.

    Parameters
    ----------
    X : array-like of shape (n_samples, channels * height * width)
        Flattened images, row-major in (channel, height, width) order: a numpy array (any
        real dtype: integer images such as uint8 pixels are read as float64), a DataFrame,
        or a torch tensor (read, also when it requires grad). NaN and infinite values are
        refused.
    input_shape : tuple of 3 ints
        ``(channels, height, width)`` of one sample.
    kernel_size : int or pair of ints, default=None
        Patch size ``(kh, kw)``; None means the whole image.
    stride : int or pair of ints, default=None
        Step between patches; None means ``kernel_size`` (non-overlapping patches).
    padding : {"none", "circular"}, default="none"
        With "circular", the image wraps around so that the last patches complete with the
        first rows and columns, as a circularly padded convolution sees them.

    Returns
    -------
    patches : ndarray of shape (n_samples * n_patches, channels * kh * kw)
        Patch ``p`` of sample ``i`` is row ``i * n_patches + p``; each patch is flattened in the
        same (channel, row, column) order as a convolution filter. float32 for float32 ``X``,
        float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import patch_matrix
    >>> X = np.arange(8.0).reshape(1, 8)  # one 1 x 2 x 4 image
    >>> patch_matrix(X, (1, 2, 4), kernel_size=(2, 2))
    array([[0., 1., 4., 5.],
           [2., 3., 6., 7.]])
    """
    input_shape, kernel_size, stride = check_image_geometry(
        input_shape, kernel_size, stride, padding
    )
    X = _check_images(X, int(np.prod(input_shape)), input_shape)
    images = X.reshape(-1, *input_shape)
    if padding == "circular":
        pad_h, pad_w = kernel_size[0] - 1, kernel_size[1] - 1
        images = np.pad(images, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="wrap")
    # numpy's strided view of every window (no copy), then one copy into patch rows: what
    # torch's unfold gives, for any dtype and memory layout, and 3-6x faster than unfold on
    # CPU (MNIST and CIFAR-10 sizes, one or two threads).
    windows = np.lib.stride_tricks.sliding_window_view(images, kernel_size, axis=(2, 3))
    windows = windows[:, :, :: stride[0], :: stride[1]]  # (n, C, oh, ow, kh, kw)
    n, c, oh, ow, kh, kw = windows.shape
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    # One patch per image is a reshape that can be a view of X: never hand out X's memory.
    return patches.copy() if np.may_share_memory(patches, X) else patches
