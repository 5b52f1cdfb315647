"""The patch matrix equals what a convolution sees; hostile inputs get clear answers.

Bad or unusual inputs of ``patch_matrix`` / ``check_image_geometry`` and their answers:

=============================================  ==============================================
input                                          answer
=============================================  ==============================================
uint8, int, bool images                        read as float64 (was NotImplementedError from
                                               torch's im2col)
float32 images                                 float32 patches; float16 -> float64
torch tensor, also one that requires grad      read (was RuntimeError from .numpy())
big-endian or read-only array                  read (was ValueError from torch / a torch
                                               "not writable" warning)
NaN or inf pixel                               ValueError "Input X contains NaN/infinity"
                                               (were NaN patches)
fractional input_shape/kernel_size/stride      ValueError naming the parameter (input_shape
(``(1, 4.5, 4)``, ``2.5``, also ``28.0``)        was truncated to ints silently)
a string, a bool, 0 or a wrong length          ValueError naming the parameter
kernel larger than the image                   ValueError naming kernel_size
X with the wrong number of features, 1-D X     ValueError with the expected shape
empty X (0 samples)                            an empty (0, C * kh * kw) patch matrix
complex, string or sparse X                    scikit-learn's check_array error
one patch per image (kernel = image)           a copy, never a view of X
pandas DataFrame                               read as its values
=============================================  ==============================================
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklrank import patch_matrix
from sklrank._patches import check_image_geometry


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [((1, 4, 6), (2, 3), None, "none"), ((3, 5, 5), (2, 2), (1, 2), "none"),
     ((2, 4, 4), (3, 2), 1, "circular")],
)
def test_patches_times_filters_equal_convolution(shape, kernel, stride, padding):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, int(np.prod(shape))))
    w = rng.standard_normal((5, shape[0], *kernel))
    P = patch_matrix(X, shape, kernel, stride, padding)
    images = torch.from_numpy(X).reshape(-1, *shape)
    if padding == "circular":
        images = F.pad(images, (0, kernel[1] - 1, 0, kernel[0] - 1), mode="circular")
    conv = F.conv2d(images, torch.from_numpy(w), stride=stride or kernel)  # (n, 5, oh, ow)
    expected = conv.flatten(2).transpose(1, 2).reshape(-1, 5).numpy()
    np.testing.assert_allclose(P @ w.reshape(5, -1).T, expected, atol=1e-10)


def test_kernel_larger_than_image_raises():
    with pytest.raises(ValueError, match="kernel_size"):
        patch_matrix(np.zeros((1, 16)), (1, 4, 4), kernel_size=(5, 1))


def test_wrong_number_of_features_raises():
    with pytest.raises(ValueError, match="input_shape"):
        patch_matrix(np.zeros((1, 15)), (1, 4, 4))


def _images(dtype=np.float64, n=3, shape=(2, 4, 6), seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, int(np.prod(shape)))).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.uint16])
def test_integer_images(dtype):
    # issue 17: patch_matrix of uint8 images raised NotImplementedError (torch's im2col)
    X = _images(dtype)
    P = patch_matrix(X, (2, 4, 6), kernel_size=(2, 3), stride=1, padding="circular")
    assert P.dtype == np.float64
    np.testing.assert_array_equal(
        P, patch_matrix(X.astype(np.float64), (2, 4, 6), (2, 3), 1, "circular")
    )
    assert patch_matrix(X > 100, (2, 4, 6), 2).dtype == np.float64  # a boolean mask too


def test_float32_is_kept_and_pandas_is_read():
    pd = pytest.importorskip("pandas")
    X = _images(np.float32)
    assert patch_matrix(X, (2, 4, 6), 2).dtype == np.float32
    np.testing.assert_array_equal(
        patch_matrix(pd.DataFrame(X), (2, 4, 6), 2), patch_matrix(X, (2, 4, 6), 2)
    )


def test_tensor_that_requires_grad_is_read():
    X = _images()
    tensor = torch.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(patch_matrix(tensor, (2, 4, 6), 2), patch_matrix(X, (2, 4, 6), 2))


def test_big_endian_and_read_only_arrays():
    X = _images()
    expected = patch_matrix(X, (2, 4, 6), 2, 1)
    big = X.astype(">f8")
    readonly = X.copy()
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "array is not writable" warning either
        np.testing.assert_array_equal(patch_matrix(big, (2, 4, 6), 2, 1), expected)
        np.testing.assert_array_equal(patch_matrix(readonly, (2, 4, 6), 2, 1), expected)


def test_one_patch_per_image_is_a_copy():
    X = _images()
    P = patch_matrix(X, (2, 4, 6))
    np.testing.assert_array_equal(P, X)
    assert not np.may_share_memory(P, X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_raise(bad):
    X = _images()
    X[1, 5] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        patch_matrix(X, (2, 4, 6), 2)


def test_empty_and_malformed_x():
    assert patch_matrix(np.zeros((0, 48)), (2, 4, 6), (2, 3)).shape == (0, 12)
    with pytest.raises(ValueError, match="Expected 2D array"):
        patch_matrix(np.zeros(48), (2, 4, 6))
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 48\)"):
        patch_matrix(np.zeros((2, 47)), (2, 4, 6))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (1, 4.5, 4)}, r"input_shape must be .* got \(1, 4.5, 4\)"),
        ({"input_shape": (1, 28.0, 28)}, "input_shape must be"),
        ({"input_shape": "abc"}, "input_shape must be"),
        ({"input_shape": (1, 0, 4)}, "input_shape must be"),
        ({"input_shape": (4, 4)}, "input_shape must be"),
        ({"input_shape": (1, 4, 4), "kernel_size": 2.5}, "kernel_size must be"),
        ({"input_shape": (1, 4, 4), "kernel_size": True}, "kernel_size must be"),
        ({"input_shape": (1, 4, 4), "kernel_size": (2, 2, 2)}, "kernel_size must be"),
        ({"input_shape": (1, 4, 4), "stride": 0}, "stride must be"),
        ({"input_shape": (1, 4, 4), "padding": "zeros"}, "padding must be"),
        ({"input_shape": (1, 4, 4), "padding": None}, "padding must be"),
    ],
)
def test_bad_geometry_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_image_geometry(**kwargs)


def test_numpy_integers_are_ints():
    shape, kernel, stride = check_image_geometry(np.array([1, 28, 28]), np.int64(7))
    assert shape == (1, 28, 28) and kernel == stride == (7, 7)
    assert all(type(v) is int for v in shape + kernel)
