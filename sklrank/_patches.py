"""The patch matrix: every patch a convolution sees, one patch a row."""

from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["patch_matrix", "check_image_geometry"]


def _as_pair(value, name):
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.") from None
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a pair of positive ints, got {value!r}.")
    return pair


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
        Naming the parameter, for a malformed shape or a kernel larger than the image.
    """
    try:
        input_shape = tuple(int(v) for v in input_shape)
    except TypeError:
        raise ValueError(
            f"input_shape must be (channels, height, width), got {input_shape!r}."
        ) from None
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(
            f"input_shape must be three positive ints (channels, height, width), got "
            f"{input_shape!r}."
        )
    kernel_size = input_shape[1:] if kernel_size is None else _as_pair(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _as_pair(stride, "stride")
    if padding not in ("none", "circular"):
        raise ValueError(f"padding must be 'none' or 'circular', got {padding!r}.")
    if kernel_size[0] > input_shape[1] or kernel_size[1] > input_shape[2]:
        raise ValueError(
            f"kernel_size={kernel_size} is larger than the image (height, width)="
            f"{input_shape[1:]}; use a kernel no larger than the image."
        )
    return input_shape, kernel_size, stride


def patch_matrix(X, input_shape, kernel_size=None, stride=None, padding="none"):
    """Every patch a convolution sees, one patch a row.

    Parameters
    ----------
    X : array-like of shape (n_samples, channels * height * width)
        Flattened images, row-major in (channel, height, width) order.
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
        same (channel, row, column) order as a convolution filter.

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
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != int(np.prod(input_shape)):
        raise ValueError(
            f"X must have shape (n_samples, {int(np.prod(input_shape))}) for input_shape="
            f"{input_shape}, got {X.shape}."
        )
    images = torch.from_numpy(np.ascontiguousarray(X)).reshape(-1, *input_shape)
    if padding == "circular":
        pad_h, pad_w = kernel_size[0] - 1, kernel_size[1] - 1
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="circular")
    # unfold gives (n, C*kh*kw, n_patches); transpose so each patch is a row.
    cols = F.unfold(images, kernel_size=kernel_size, stride=stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).numpy()
