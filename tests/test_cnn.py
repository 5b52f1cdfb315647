"""TwoLayerCNN: forward pass and gradient against a direct numpy evaluation of the spec."""

import numpy as np
import pytest
import torch

from sklrank import patch_matrix
from sklrank.nn import TwoLayerCNN


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # These networks are tiny: one thread is several times faster than two on a shared CPU
    # (the OpenMP threads spin waiting for each other).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)



def spec_sigma(z, q, kappa):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z <= 0, 0.0, np.where(z <= kappa, np.clip(z, 0, None) ** q
                                          / (q * kappa ** (q - 1)), z - (1 - 1 / q) * kappa))


def spec_dsigma(z, q, kappa):
    zc = np.clip(z, 0, kappa)
    return np.where(z > kappa, 1.0, np.where(z > 0, (zc / kappa) ** (q - 1), 0.0))


def numpy_logits(W, patches, n, n_banks, m, q, kappa):
    """F_c(x) = (1/m) sum_r (1/P) sum_p sigma(<w_{c,r}, x^(p)>), straight from the formula."""
    P = len(patches) // n
    logits = np.zeros((n, n_banks))
    for i in range(n):
        xp = patches[i * P : (i + 1) * P]
        for c in range(n_banks):
            total = 0.0
            for r in range(m):
                w = W[c * m + r]
                total += sum(spec_sigma(w @ xp[p], q, kappa) for p in range(P)) / P
            logits[i, c] = total / m
    return logits


GEOMETRIES = [
    # input_shape, kernel_size, stride, padding
    ((1, 4, 6), (1, 6), None, "none"),  # non-overlapping: the reshape + matmul path
    ((2, 5, 7), (2, 3), None, "none"),  # non-overlapping, remainder rows/cols dropped
    ((2, 5, 6), (2, 3), (1, 2), "none"),
    ((1, 4, 5), (3, 2), (2, 2), "circular"),
]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_forward_equals_numpy_spec(n_classes, geometry):
    input_shape, kernel, stride, padding = geometry
    torch.manual_seed(0)
    m, q, kappa, n = 3, 3.0, 0.8, 5
    net = TwoLayerCNN(input_shape, kernel, stride, padding, n_classes=n_classes, n_filters=m,
                      q=q, kappa=kappa, init_std=0.5).double()
    X = np.random.default_rng(0).standard_normal((n, int(np.prod(input_shape))))
    got = net(torch.from_numpy(X)).detach().numpy()
    patches = patch_matrix(X, input_shape, kernel, stride, padding)
    assert len(patches) == n * net.n_patches
    W = net.filter_matrix().detach().numpy()
    expected = numpy_logits(W, patches, n, n_classes, m, q, kappa)
    assert got.shape == (n, n_classes)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # some activations are in each regime, so the test exercises all three pieces
    z = patches @ W.T
    assert (z <= 0).any() and ((z > 0) & (z <= kappa)).any() and (z > kappa).any()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gradient_equals_closed_form(n_classes):
    input_shape, kernel, stride, padding = (1, 4, 5), (2, 5), (1, 5), "circular"
    torch.manual_seed(1)
    m, q, kappa, n = 4, 3.0, 1.0, 7
    net = TwoLayerCNN(input_shape, kernel, stride, padding, n_classes=n_classes, n_filters=m,
                      q=q, kappa=kappa, init_std=0.4).double()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 20))
    y = rng.integers(0, n_classes, n)
    loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y))
    loss.backward()

    W = net.filter_matrix().detach().numpy()
    patches = patch_matrix(X, input_shape, kernel, stride, padding)
    P = net.n_patches
    logits = numpy_logits(W, patches, n, n_classes, m, q, kappa)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(n_classes)[y]  # d loss_i / d F_c
    grad = np.zeros_like(W)
    for i in range(n):
        xp = patches[i * P : (i + 1) * P]
        for c in range(n_classes):
            for r in range(m):
                dsig = spec_dsigma(xp @ W[c * m + r], q, kappa)
                grad[c * m + r] += residual[i, c] * (dsig @ xp) / (P * m * n)
    got = net.weight.grad.reshape(len(W), -1).numpy()
    np.testing.assert_allclose(got, grad, rtol=1e-9, atol=1e-12)


def test_binary_cross_entropy_is_logistic_loss_on_difference():
    torch.manual_seed(2)
    net = TwoLayerCNN((1, 3, 4), (1, 4), n_filters=5, init_std=1.0).double()
    X = torch.randn(9, 12, dtype=torch.float64)
    y = torch.randint(0, 2, (9,))
    logits = net(X)
    ce = torch.nn.functional.cross_entropy(logits, y)
    f = logits[:, 1] - logits[:, 0]  # F_{+1} - F_{-1}
    sign = 2.0 * y.double() - 1.0
    logistic = torch.nn.functional.softplus(-sign * f).mean()
    torch.testing.assert_close(ce, logistic)


def test_init_std_and_shapes():
    torch.manual_seed(3)
    net = TwoLayerCNN((3, 8, 8), (4, 4), n_classes=2, n_filters=200, init_std=0.05)
    assert net.weight.shape == (400, 3, 4, 4)
    assert net.filter_matrix().shape == (400, 48)
    assert net.n_patches == 4
    std = float(net.weight.detach().std())
    assert 0.045 < std < 0.055
    assert net.weight.requires_grad and sum(p.numel() for p in net.parameters()) == 400 * 48


@pytest.mark.parametrize("pooling", ["mean", "sum"])
@pytest.mark.parametrize("input_shape, kernel", [((1, 4, 6), (1, 6)), ((3, 5, 7), (2, 3))])
def test_matmul_path_equals_conv2d(input_shape, kernel, pooling):
    torch.manual_seed(5)
    net = TwoLayerCNN(input_shape, kernel, n_classes=3, n_filters=2, init_std=1.0,
                      pooling=pooling).double()
    X = torch.randn(4, int(np.prod(input_shape)), dtype=torch.float64, requires_grad=True)
    z = torch.nn.functional.conv2d(X.reshape(4, *input_shape), net.weight, stride=kernel)
    a = net.activation(z).reshape(4, 3, 2, -1)
    expected = a.mean(dim=(2, 3)) if pooling == "mean" else a.sum(3).mean(2)
    torch.testing.assert_close(net(X), expected)
    (g_net,) = torch.autograd.grad(net(X).sum(), net.weight)
    (g_ref,) = torch.autograd.grad(expected.sum(), net.weight)
    torch.testing.assert_close(g_net, g_ref)


def test_activation_choices_and_pooling():
    X = torch.randn(6, 16, dtype=torch.float64)
    torch.manual_seed(4)
    relu = TwoLayerCNN((1, 4, 4), (1, 4), activation="relu", n_filters=2).double()
    torch.manual_seed(4)
    q1 = TwoLayerCNN((1, 4, 4), (1, 4), activation="huberized", q=1, n_filters=2).double()
    torch.testing.assert_close(relu(X), q1(X))
    torch.manual_seed(4)
    tanh = TwoLayerCNN((1, 4, 4), (1, 4), activation=torch.nn.Tanh(), n_filters=2).double()
    z = torch.nn.functional.conv2d(X.reshape(6, 1, 4, 4), tanh.weight, stride=(1, 4))
    expected = torch.tanh(z).reshape(6, 2, -1).mean(-1)
    torch.testing.assert_close(tanh(X), expected)
    torch.manual_seed(4)
    summed = TwoLayerCNN((1, 4, 4), (1, 4), activation="relu", n_filters=2, pooling="sum").double()
    torch.testing.assert_close(summed(X), relu(X) * 4)  # P = 4 patches


@pytest.mark.parametrize(
    "kwargs, name",
    [({"kernel_size": (5, 1)}, "kernel_size"), ({"n_filters": 0}, "n_filters"),
     ({"init_std": 0.0}, "init_std"), ({"activation": "tanh"}, "activation"),
     ({"pooling": "max"}, "pooling"), ({"padding": "same"}, "padding"),
     ({"random_state": True}, "random_state"), ({"random_state": 2.5}, "random_state")],
)
def test_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TwoLayerCNN((1, 4, 4), **kwargs)
