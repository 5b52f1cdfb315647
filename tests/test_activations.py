"""Huberized ReLU: the spec formula, C^1 smoothness, safe gradients."""

import numpy as np
import pytest
import torch

from sklrank.nn import HuberizedReLU, huberized_relu, huberized_relu_derivative


def spec_sigma(z, q, kappa):
    """The formula of docs/science.md section A, in numpy float64."""
    z = np.asarray(z, dtype=np.float64)
    out = np.zeros_like(z)
    mid = (z > 0) & (z <= kappa)
    out[mid] = z[mid] ** q / (q * kappa ** (q - 1))
    high = z > kappa
    out[high] = z[high] - (1 - 1 / q) * kappa
    return out


@pytest.mark.parametrize("q", [1.0, 1.5, 2.0, 3.0, 4.5])
@pytest.mark.parametrize("kappa", [0.3, 1.0, 2.5])
def test_matches_spec_formula(q, kappa):
    z = np.linspace(-3, 5, 401)
    got = huberized_relu(torch.tensor(z), q=q, kappa=kappa).numpy()
    np.testing.assert_allclose(got, spec_sigma(z, q, kappa), rtol=1e-12, atol=1e-15)
    module = HuberizedReLU(q=q, kappa=kappa)
    np.testing.assert_allclose(module(torch.tensor(z)).numpy(), got)


@pytest.mark.parametrize("q", [1.0, 2.0, 3.0, 4.5])
@pytest.mark.parametrize("kappa", [0.5, 1.0, 2.0])
def test_autograd_equals_analytic_derivative(q, kappa):
    # avoid z == 0 exactly, where ReLU (q = 1) has no derivative
    z = torch.tensor(np.linspace(-3, 5, 400) + 1e-3, requires_grad=True)
    huberized_relu(z, q=q, kappa=kappa).sum().backward()
    expected = huberized_relu_derivative(z.detach(), q=q, kappa=kappa)
    torch.testing.assert_close(z.grad, expected, rtol=1e-12, atol=1e-15)
    # and the analytic derivative is the spec's: 0, (z/kappa)^(q-1), 1
    zn = z.detach().numpy()
    ref = np.where(zn > kappa, 1.0, np.where(zn > 0, (np.clip(zn, 0, kappa) / kappa) ** (q - 1), 0))
    np.testing.assert_allclose(expected.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("q", [2.0, 3.0])
def test_c1_at_zero_and_kappa(q):
    kappa = 1.3
    eps = 1e-6
    for point in (0.0, kappa):
        zs = torch.tensor([point - eps, point + eps], dtype=torch.float64)
        values = huberized_relu(zs, q=q, kappa=kappa)
        grads = huberized_relu_derivative(zs, q=q, kappa=kappa)
        assert abs(float(values[1] - values[0])) < 1e-5  # continuous
        assert abs(float(grads[1] - grads[0])) < 1e-4  # derivative continuous
    assert float(huberized_relu_derivative(torch.tensor(kappa), q=q, kappa=kappa)) == 1.0


def test_no_nan_or_inf_gradients_on_extreme_inputs():
    z = torch.tensor([-1e30, -1e4, -1.0, 0.0, 1e-30, 0.5, 1e4, 1e30], requires_grad=True)
    for q in (1.0, 1.5, 3.0, 7.0):
        z.grad = None
        out = huberized_relu(z, q=q, kappa=1.0)
        out.sum().backward()
        assert torch.isfinite(out).all()
        assert torch.isfinite(z.grad).all()
    z32 = torch.tensor([-3e38, 3e38], dtype=torch.float32, requires_grad=True)
    huberized_relu(z32, q=3).sum().backward()
    assert torch.isfinite(z32.grad).all()


def test_q1_is_relu():
    z = torch.linspace(-2, 3, 101, dtype=torch.float64)
    torch.testing.assert_close(huberized_relu(z, q=1, kappa=0.7), torch.relu(z))


@pytest.mark.parametrize(
    "kwargs, name", [({"q": 0.5}, "q"), ({"q": float("nan")}, "q"), ({"kappa": 0.0}, "kappa"),
                     ({"kappa": -1.0}, "kappa")]
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HuberizedReLU(**kwargs)
    with pytest.raises(ValueError, match=name):
        huberized_relu(torch.zeros(2), **kwargs)


def test_repr_and_dtype():
    module = HuberizedReLU(q=3, kappa=1.0)
    assert "q=3" in repr(module) and "kappa=1" in repr(module)
    out = module(torch.randn(4, dtype=torch.float32))
    assert out.dtype == torch.float32


@pytest.mark.parametrize("q", [1.0, 2.0, 2.5, 3.0, 4.0])
@pytest.mark.parametrize("kappa", [0.5, 1.0, 3.0])
def test_first_and_second_derivatives_are_exact(q, kappa):
    # the fused forward saves the slope; second derivatives (a Jacobian penalty's) are exact
    # away from the joints 0 and kappa, where sigma'' jumps
    z = torch.tensor([-2.0, -0.3, 0.2, 0.45, 0.9, 1.7, 2.9, 4.0], dtype=torch.float64)
    z = (z * kappa).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: huberized_relu(x, q, kappa), (z,))
    assert torch.autograd.gradgradcheck(lambda x: huberized_relu(x, q, kappa), (z,))
    (d1,) = torch.autograd.grad(huberized_relu(z, q, kappa).sum(), z)
    torch.testing.assert_close(d1, huberized_relu_derivative(z.detach(), q, kappa))


def test_vmap_over_a_batch_equals_the_loop():
    z = torch.randn(5, 7, dtype=torch.float64) * 2
    batched = torch.func.vmap(lambda x: huberized_relu(x, 3, 1.0))(z)
    torch.testing.assert_close(batched, torch.stack([huberized_relu(x, 3, 1.0) for x in z]))
    grads = torch.func.vmap(torch.func.grad(lambda x: huberized_relu(x, 3, 1.0).sum()))(z)
    torch.testing.assert_close(grads, huberized_relu_derivative(z, 3, 1.0))


def test_the_cached_signature_is_forwards_own():
    # torch binds Function.apply's arguments to forward's signature, which sklrank caches
    import inspect

    from sklrank.nn._activations import _HuberizedReLUFunction

    forward = _HuberizedReLUFunction.forward
    code = forward.__code__
    assert list(inspect.signature(forward).parameters) == list(
        code.co_varnames[: code.co_argcount]
    )
    z = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    out, slope = _HuberizedReLUFunction.apply(z, 3.0, 1.0)
    torch.testing.assert_close(out, huberized_relu(z.detach(), q=3, kappa=1.0))


@pytest.mark.parametrize("q", [1.5, 2.0, 2.5])
def test_second_derivative_at_zero_is_the_left_branch(q):
    # sigma = 0 for z <= 0, so sigma'' (a Jacobian penalty's) is 0 at z = 0 as sigma' is.
    # It was (q - 1)/kappa for q = 2 and inf for q < 2 at exactly 0, which made the weights'
    # gradient NaN for an all-zero input (inf times a zero entry).
    z = torch.tensor([-1.0, 0.0, 0.0, 0.3], dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(huberized_relu(z, q, 0.7).sum(), z, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), z)
    expected = [0.0, 0.0, 0.0, (q - 1) / 0.7 * (0.3 / 0.7) ** (q - 2)]
    torch.testing.assert_close(d2, torch.tensor(expected, dtype=torch.float64))

    w = torch.tensor([0.4, -0.2], dtype=torch.float64, requires_grad=True)
    x = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)  # an all-zero input
    (jac,) = torch.autograd.grad(huberized_relu(x @ w, q).sum(), x, create_graph=True)
    (grad,) = torch.autograd.grad(jac.pow(2).sum(), w)
    assert torch.isfinite(grad).all()
