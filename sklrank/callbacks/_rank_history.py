"""Record the stable rank of a network's first-layer filters during training."""

from numbers import Integral

import numpy as np
import torch
from skorch.callbacks import Callback

from .._rank import _lanczos_top

# Filter matrices whose smaller side is at most this get a dense eigendecomposition of their
# Gram matrix; larger ones warm-started Lanczos (below). Filters of at most this many values
# get one batched numpy eigendecomposition for the whole matrix and its banks, up to
# _NUMPY_MAX_MACS multiply-adds (numpy's BLAS runs single-threaded on such sizes, so it does
# not fight torch's threads); above, torch.
_DENSE_MAX_SIDE = 128
_NUMPY_MAX_MACS = 2_000_000
# Relative Ritz residual at which the warm-started Lanczos stops: the recorded top eigenvalue
# is then within 1e-10 (relative) of the dense float64 one.
_LANCZOS_TOL = 1e-10

__all__ = ["RankHistory", "filter_matrix_of", "bank_stable_ranks"]


def filter_matrix_of(module):
    """The first-layer filters of ``module`` as a CPU tensor, one flattened filter a row.

    Uses ``module.filter_matrix()`` when the module defines it (as
    :class:`sklrank.nn.TwoLayerCNN` does), else the first parameter with two or more
    dimensions.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    filters : torch.Tensor of shape (n_filters, filter_dim)
        Detached, on the CPU (a view of the parameter when it lives on the CPU).
    """
    if hasattr(module, "filter_matrix"):
        weight = module.filter_matrix()
    else:
        weight = next((p for p in module.parameters() if p.ndim >= 2), None)
        if weight is None:
            raise ValueError(f"{type(module).__name__} has no parameter with 2 or more dimensions.")
        weight = weight.reshape(weight.shape[0], -1)
    # The filter matrix is small: one device -> host copy, then the exact float64 rank on the
    # CPU (a tiny eigendecomposition on a GPU costs more in launch latency than it saves).
    # Kept a torch tensor: stable_rank's torch path (torch.linalg.eigvalsh of the Gram) is
    # several times faster on such small matrices than its scipy path.
    return weight.detach().to("cpu")


def bank_stable_ranks(filters, n_banks):
    """Stable rank of each of ``n_banks`` equal, contiguous blocks of rows of ``filters``.

    The same float64 Gram-matrix computation as :func:`sklrank.stable_rank` (``method="gram"``),
    batched: one eigendecomposition call for all banks, which matters when the ranks are
    recorded every epoch.

    Parameters
    ----------
    filters : torch.Tensor of shape (n_banks * m, dim)
        Finite filter matrix, bank ``b`` in rows ``b*m .. (b+1)*m - 1``.
    n_banks : int

    Returns
    -------
    ranks : list of float
        One stable rank per bank.
    """
    banks = filters.to(torch.float64).reshape(n_banks, -1, filters.shape[1])
    m, dim = banks.shape[1:]
    gram = banks @ banks.transpose(1, 2) if m <= dim else banks.transpose(1, 2) @ banks
    top_sq = torch.linalg.eigvalsh(gram)[:, -1]
    return _ratios(gram.diagonal(dim1=1, dim2=2).sum(1).numpy(), top_sq.numpy())


class _FilterRanks:
    """Exact stable ranks of a changing filter matrix and of its banks, cheaply every epoch.

    Narrow filters (at most 128 values): the banks' Gram matrices ``F_b^T F_b`` sum to the
    whole matrix's ``F^T F``, so one batched dense eigendecomposition gives every rank. Wider
    filters: each epoch changes them by one gradient step, so the top eigenvector of their
    Gram matrix barely moves, and Lanczos started from the previous one needs a few
    products with the filter matrix itself, where a dense eigendecomposition of the Gram
    matrix costs O(n^3) (measured: 15 ms an epoch for 400 filters of 784 values, against
    about 90 ms for the epoch itself); the small bank Gram matrices stay dense.
    """

    def __init__(self):
        self.vector = None

    def __call__(self, filters, n_banks=None):
        """(stable rank of ``filters``, list of the banks' stable ranks or None)."""
        if (
            n_banks is not None
            and filters.shape[1] <= _DENSE_MAX_SIDE
            and filters.numel() * filters.shape[1] <= _NUMPY_MAX_MACS
        ):
            # numpy: a dozen torch calls on tiny matrices cost more than the arithmetic
            # (measured 1.3 ms against 0.1-0.7 ms an epoch); BLAS does not thread here
            banks = filters.to(torch.float64).numpy().reshape(n_banks, -1, filters.shape[1])
            grams = np.matmul(banks.transpose(0, 2, 1), banks)
            grams = np.concatenate([grams.sum(0, keepdims=True), grams])
            top_sq = np.linalg.eigvalsh(grams)[:, -1]
            ranks = _ratios(np.trace(grams, axis1=1, axis2=2), top_sq)
            return ranks[0], ranks[1:]
        F = filters.to(torch.float64)
        n = min(F.shape)
        if n <= _DENSE_MAX_SIDE:
            gram = F @ F.T if F.shape[0] <= F.shape[1] else F.T @ F
            top_sq = float(torch.linalg.eigvalsh(gram)[-1])
            overall = _ratios([float(torch.trace(gram))], [top_sq])[0]
        else:
            overall = self._lanczos_stable_rank(F)
        return overall, (None if n_banks is None else bank_stable_ranks(filters, n_banks))

    def _lanczos_stable_rank(self, F):
        if F.shape[0] <= F.shape[1]:  # the Gram operator of the smaller side, not formed

            def matvec(v):
                return (F @ (F.T @ torch.from_numpy(v))).numpy()
        else:

            def matvec(v):
                return (F.T @ (F @ torch.from_numpy(v))).numpy()

        n = min(F.shape)
        v0 = self.vector if self.vector is not None and len(self.vector) == n else None
        top_sq, self.vector = _lanczos_top(matvec, n, _LANCZOS_TOL, v0=v0)
        return _ratios([float((F * F).sum())], [top_sq])[0]


def _ratios(fro_sq, top_sq):
    """Stable ranks from squared Frobenius norms and top Gram eigenvalues (sequences)."""
    fro_sq, top_sq = np.asarray(fro_sq, dtype=np.float64), np.asarray(top_sq, dtype=np.float64)
    if bool((top_sq <= 0).any()):
        raise ValueError("A bank of zero filters has no stable rank.")
    # rounding can put the ratio a hair below the exact floor of 1, as in stable_rank
    return [max(float(r), 1.0) for r in fro_sq / top_sq]


class RankHistory(Callback):
    """Record the stable rank of the filter matrix in the net's history every ``every`` epochs.

    Writes ``"filter_stable_rank"`` (all filters, one a row) and, when the module has
    per-class banks (attributes ``n_banks`` and ``n_filters``), ``"filter_bank_stable_ranks"``:
    a dict mapping each class label (from ``net.classes_`` when available, else the bank
    index) to the stable rank of that bank's filters. Epochs that are not recorded simply lack
    the keys; the last epoch of a fit is always recorded.

    Parameters
    ----------
    every : int, default=1
        Record at epochs ``every, 2 * every, ...`` (1-based) and at the last epoch.

    Examples
    --------
    >>> from sklrank import RankCNNClassifier
    >>> from sklrank.callbacks import RankHistory
    >>> from sklrank.datasets import make_low_rank_patches
    >>> X, y = make_low_rank_patches(n_samples=40, random_state=0)
    >>> clf = RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64), max_epochs=4,
    ...                         rank_every=None, callbacks=[RankHistory(every=2)],
    ...                         random_state=0).fit(X, y)
    >>> [e.get("filter_stable_rank") is not None for e in clf.history]
    [False, True, False, True]
    """

    def __init__(self, every=1):
        self.every = every

    def initialize(self):
        if isinstance(self.every, bool) or not isinstance(self.every, Integral) or self.every < 1:
            raise ValueError(f"every must be a positive int (record every k epochs), got "
                             f"{self.every!r}.")
        return self

    def _record(self, net):
        filters = filter_matrix_of(net.module_)
        if not bool(torch.isfinite(filters).all()):
            raise FloatingPointError(
                f"training diverged at epoch {len(net.history)}: the filters hold NaN or "
                "infinity; lower lr."
            )
        module = net.module_
        n_banks, m = getattr(module, "n_banks", None), getattr(module, "n_filters", None)
        if n_banks is None or m is None or n_banks * m != filters.shape[0]:
            n_banks = None
        if getattr(self, "_ranks", None) is None:
            self._ranks = _FilterRanks()
        overall, ranks = self._ranks(filters, n_banks)
        net.history.record("filter_stable_rank", overall)
        if n_banks is not None:
            labels = getattr(net, "classes_", None)
            if labels is None or len(labels) != n_banks:
                labels = range(n_banks)
            net.history.record(
                "filter_bank_stable_ranks", {_plain(c): r for c, r in zip(labels, ranks)}
            )

    def on_train_begin(self, net, **kwargs):
        self._ranks = _FilterRanks()

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) % self.every == 0:
            self._record(net)

    def on_train_end(self, net, **kwargs):
        if len(net.history) and "filter_stable_rank" not in net.history[-1]:
            self._record(net)


def _plain(label):
    """numpy scalars -> Python scalars, so that history dicts serialise to JSON."""
    return label.item() if isinstance(label, np.generic) else label
