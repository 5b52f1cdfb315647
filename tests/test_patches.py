"""The patch matrix equals what a convolution sees."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklrank import patch_matrix


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
