"""The two-layer CNN of Zhang, Gao, Zou and Cao (2025): per-class filter banks, fixed head."""

from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

from .._patches import check_image_geometry
from ._activations import HuberizedReLU

__all__ = ["TwoLayerCNN"]


def make_activation(activation="huberized", q=3, kappa=1.0):
    """The activation module named by ``activation``.

    Parameters
    ----------
    activation : {"huberized", "relu"}, torch.nn.Module or callable, default="huberized"
        "huberized" gives :class:`HuberizedReLU` (q, kappa), "relu" the plain ReLU; a module
        instance or any tensor -> tensor callable is used as is; a module class is
        instantiated without arguments.
    q, kappa : float
        Parameters of the Huberized ReLU (ignored otherwise).

    Returns
    -------
    activation : callable
    """
    if isinstance(activation, str):
        if activation == "huberized":
            return HuberizedReLU(q=q, kappa=kappa)
        if activation == "relu":
            return nn.ReLU()
        raise ValueError(
            f"activation must be 'huberized', 'relu', a torch module or a callable, got "
            f"{activation!r}."
        )
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation()
    if callable(activation):
        return activation
    raise ValueError(
        f"activation must be 'huberized', 'relu', a torch module or a callable, got "
        f"{activation!r}."
    )


class TwoLayerCNN(nn.Module):
    """Two-layer CNN with one bank of ``n_filters`` filters per class and a fixed second layer.

    For an image ``x`` with patches ``x^(1..P)`` (what a convolution with the given kernel,
    stride and padding sees), the logit of class ``c`` is

    ``F_c(x) = (1/m) sum_r (1/P) sum_p sigma(<w_{c,r}, x^(p)>)``,

    so that with two classes the cross-entropy on ``(F_0, F_1)`` is the logistic loss on
    ``F_1 - F_0`` (the paper's ``f = F_{+1} - F_{-1}``). Only the filters are trained.

    Parameters
    ----------
    input_shape : tuple of 3 ints
        ``(channels, height, width)`` of one sample; inputs may be flat
        ``(n, C*H*W)`` or ``(n, C, H, W)``.
    kernel_size : int or pair of ints, default=None
        Filter size ``(kh, kw)``; None means the whole image.
    stride : int or pair of ints, default=None
        None means equal to ``kernel_size`` (non-overlapping patches).
    padding : {"none", "circular"}, default="none"
        "circular" pads right and bottom by ``k - 1`` with wrap-around, exactly as
        :func:`sklrank.patch_matrix` does.
    n_classes : int, default=2
        Number of filter banks (one per class; 2 for binary problems).
    n_filters : int, default=10
        Filters per class, ``m``.
    activation : {"huberized", "relu"}, torch.nn.Module or callable, default="huberized"
        The activation ``sigma``.
    q : float, default=3
        Power of the Huberized ReLU.
    kappa : float, default=1.0
        Threshold of the Huberized ReLU.
    init_std : float, default=0.01
        Filters are initialised i.i.d. ``N(0, init_std^2)``.
    pooling : {"mean", "sum"}, default="mean"
        Average (the paper's 1/P) or sum over the patches; summing only rescales the step.
    random_state : int or None, default=None
        Seed of a private torch generator for the filters (the same numbers as torch's
        global generator seeded alike); None draws from the global generator, as torch's
        layers do.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes * n_filters, C, kh, kw)
        All filters, bank ``c`` in rows ``c*m .. (c+1)*m - 1``. Float32 whatever torch's
        default dtype (the estimators feed float32 inputs): ``.double()`` the module for
        float64 inputs.
    n_patches : int
        Number of patches ``P`` each filter sees.

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import TwoLayerCNN
    >>> net = TwoLayerCNN((1, 4, 8), kernel_size=(1, 8), n_filters=3)
    >>> net(torch.randn(5, 32)).shape
    torch.Size([5, 2])
    >>> net.filter_matrix().shape
    torch.Size([6, 8])
    """

    def __init__(
        self,
        input_shape,
        kernel_size=None,
        stride=None,
        padding="none",
        n_classes=2,
        n_filters=10,
        activation="huberized",
        q=3,
        kappa=1.0,
        init_std=0.01,
        pooling="mean",
        random_state=None,
    ):
        super().__init__()
        self.input_shape, self.kernel_size, self.stride = check_image_geometry(
            input_shape, kernel_size, stride, padding
        )
        for name, value in (("n_classes", n_classes), ("n_filters", n_filters)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, Integral)
        ):
            raise ValueError(f"random_state must be an int or None, got {random_state!r}.")
        if isinstance(init_std, bool) or not isinstance(init_std, Real) or not init_std > 0:
            raise ValueError(f"init_std must be a positive float, got {init_std!r}.")
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum', got {pooling!r}.")
        self.padding = padding
        self.n_banks = int(n_classes)
        self.n_filters = int(n_filters)
        self.pooling = pooling
        self.activation = make_activation(activation, q=q, kappa=kappa)
        channels = self.input_shape[0]
        kh, kw = self.kernel_size
        # a private generator when seeded: the global one may be drawn from meanwhile by
        # another thread (a DataLoader draws its seed from it every epoch); the same numbers
        # as the global generator seeded alike
        generator = None
        if random_state is not None:
            generator = torch.Generator().manual_seed(int(random_state))
        self.weight = nn.Parameter(
            # float32 whatever torch's default dtype: the estimators feed float32 inputs
            torch.randn(self.n_banks * self.n_filters, channels, kh, kw, dtype=torch.float32,
                        generator=generator)
            * float(init_std)
        )
        height, width = self.input_shape[1:]
        if padding == "circular":
            height, width = height + kh - 1, width + kw - 1
        self.n_patches = ((height - kh) // self.stride[0] + 1) * (
            (width - kw) // self.stride[1] + 1
        )

    def filter_matrix(self):
        """All filters flattened, one a row.

        Returns
        -------
        filters : torch.Tensor of shape (n_banks * n_filters, C * kh * kw)
            A view of ``weight`` (gradients flow through it); bank ``c`` in rows
            ``c*m .. (c+1)*m - 1``.
        """
        return self.weight.reshape(self.weight.shape[0], -1)

    def _patches(self, x):
        """Non-overlapping patches as ``(n, P, C*kh*kw)`` by reshaping alone (no copy for
        row-major tiles): the convolution is then one matrix product, about 3x faster forward
        and backward on CPU than ``conv2d`` with stride = kernel size."""
        n, channels, height, width = x.shape
        kh, kw = self.kernel_size
        rows, cols = height // kh, width // kw
        x = x[:, :, : rows * kh, : cols * kw]  # what a strided conv covers
        x = x.reshape(n, channels, rows, kh, cols, kw).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(n, rows * cols, channels * kh * kw)

    def forward(self, X):
        x = X.reshape(X.shape[0], *self.input_shape)
        n = x.shape[0]
        if self.padding == "none" and self.stride == self.kernel_size:
            z = self._patches(x) @ self.filter_matrix().T  # (n, P, B*m)
            a = self.activation(z).reshape(n, -1, self.n_banks, self.n_filters)
            # mean over patches and over the bank's m filters: (1/m) sum_r (1/P) sum_p
            pooled = a.mean(dim=(1, 3)) if self.pooling == "mean" else a.sum(1).mean(2)
            return pooled
        if self.padding == "circular":
            kh, kw = self.kernel_size
            x = F.pad(x, (0, kw - 1, 0, kh - 1), mode="circular")
        z = F.conv2d(x, self.weight, stride=self.stride)  # (n, B*m, H', W')
        a = self.activation(z)
        # Bank c is a contiguous block of m channels, so one view groups a bank's m filters
        # with all their patches: the mean over that axis is (1/m) sum_r (1/P) sum_p.
        a = a.reshape(n, self.n_banks, -1)
        if self.pooling == "mean":
            return a.mean(dim=2)
        return a.sum(dim=2) / self.n_filters
