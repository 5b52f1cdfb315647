"""Record the stable rank of a network's first-layer filters during training."""

import json
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np
import torch
from skorch.callbacks import Callback

from .._params import _PublicParams
from ..exceptions import TrainingDivergedError

# Snapshots of the filters kept for a deferred computation, at most this many bytes: then
# they are computed in one batch (and at the end of training).
_BUFFER_BYTES = 32 * 2**20
# Stacks of at least twice this many Gram matrices have their eigenvalues computed in
# several threads (fewer are not worth starting threads for).
_MIN_MATRICES_A_THREAD = 16
# Squared Frobenius norms of a matrix or bank of filters whose stable rank is computed as it
# is: its largest entry squared is then above 2^-916 (the norm is at most 2^36 of them), so
# the products that count are normal float64 numbers, and below 2^900 (far from overflow).
# Float64 filters beyond (entries below about 1e-133 or above 1e135) are rescaled.
_SAFE_FRO = (2.0**-880, 2.0**900)
# Snapshots the stack of a fit holds at first when the fit's length is not known (it doubles
# when full).
_FIRST_CAPACITY = 16

__all__ = ["RankHistory", "filter_matrix_of", "bank_stable_ranks"]


def _filters_on_device(module):
    """The first-layer filters of ``module``, one flattened filter a row, where they live."""
    if hasattr(module, "filter_matrix"):
        return module.filter_matrix()
    weight = next((p for p in module.parameters() if p.ndim >= 2), None)
    if weight is None:
        raise ValueError(f"{type(module).__name__} has no parameter with 2 or more dimensions.")
    return weight.reshape(weight.shape[0], -1)


def filter_matrix_of(module):
    """The first-layer filters of ``module`` as a CPU tensor, one flattened filter a row.

    Uses ``module.filter_matrix()`` when the module defines it (as
    :class:`sklrank.nn.TwoLayerCNN` does), else the first parameter with two or more
    dimensions.

    Parameters
    ----------
    module : torch.nn.Module
        The network.

    Returns
    -------
    filters : torch.Tensor of shape (n_filters, filter_dim)
        Detached, on the CPU (a view of the parameter when it lives on the CPU).
    """
    return _filters_on_device(module).detach().to("cpu")


def _stable_ranks(filters, n_banks, host_check=False):
    """Exact (float64) stable ranks of a stack of filter matrices and of their banks.

    ``filters`` has shape ``(k, R, D)``. Returns ``(ranks, fro)``, two ``(k, 1 + n_banks)``
    tensors (``n_banks`` 0 when None): column 0 for the whole matrix, then one per bank (the
    equal, contiguous blocks of rows); ``fro`` holds the squared Frobenius norms (0 for a
    block of zero filters, whose rank is NaN; NaN for a matrix that is not finite, e.g. a
    diverged fit's, whose Gram matrices are zeroed: the eigensolver fails on NaN, torch's
    LinAlgError on the CPU). One batched eigendecomposition of the Gram matrices of the
    smaller side, on the filters' device: no host synchronisation, but for ``host_check`` on
    the CPU (a stack of many epochs, once a fit): one read, which skips the zeroing pass over
    the Gram matrices when all are finite.
    """
    F = filters.to(torch.float64)
    k, rows, dim = F.shape
    grams = [_gram(F)]
    if n_banks:
        grams.append(_gram(F.reshape(k * n_banks, rows // n_banks, dim)))
    fros = [gram.diagonal(dim1=-2, dim2=-1).sum(-1) for gram in grams]
    # A matrix with a NaN or infinite entry has a non-finite trace, and a finite one a finite
    # trace (a float32 entry squared cannot overflow float64; float64 entries over 1e154
    # count as not finite here, as their Gram matrix is not: _host_stable_ranks computes them
    # again rescaled): checked on the k traces, not on the filters, and on the CPU the Gram
    # matrices are zeroed only when one is not finite.
    finite = torch.isfinite(fros[0])
    zero = grams[0].new_zeros(())
    keeps = [finite.repeat_interleave(len(gram) // k) for gram in grams]
    if not (host_check and F.device.type == "cpu" and bool(finite.all())):
        grams = [torch.where(keep[:, None, None], gram, zero) for gram, keep in zip(grams, keeps)]
    tops = [_top_eigenvalues(gram) for gram in grams]
    # a zeroed matrix's rank is 0 / 0, NaN; rounding can put the ratio a hair below the
    # exact floor of 1, as in stable_rank
    ranks = [(torch.where(keep, fro, zero) / top).clamp(min=1.0).reshape(k, -1)
             for fro, keep, top in zip(fros, keeps, tops)]
    fro = torch.cat([fro.reshape(k, -1) for fro in fros], dim=1)
    return torch.cat(ranks, dim=1), torch.where(finite[:, None], fro, fro.new_full((), torch.nan))


def _power_of_two_scaled(F, n_blocks):
    """``F`` (``(k, R, D)``, float64) with each of its ``k * n_blocks`` equal, contiguous
    blocks of rows times the power of two that brings its largest magnitude into
    ``[2^-1, 2^0)``, as ``(k * n_blocks, R / n_blocks, D)``: exact (the mantissas do not
    change), and the squares of the entries and their sums neither underflow nor overflow.
    A zero, NaN or infinite block keeps its scale of 1 (its rank is undefined anyway)."""
    k, rows, dim = F.shape
    blocks = F.reshape(k * n_blocks, -1)
    # frexp: |x| = m 2^e with m in [0.5, 1), e = 0 for 0, NaN and infinity; the clip keeps
    # the scale a normal float64 (a block of subnormals still comes out far from underflow)
    exponent = torch.frexp(blocks.abs().amax(dim=1))[1].clamp(-1000, 1000)
    scale = torch.ldexp(torch.ones_like(blocks[:, 0]), -exponent.to(blocks.dtype))
    return (blocks * scale[:, None]).reshape(k * n_blocks, rows // n_blocks, dim)


def _host_stable_ranks(filters, n_banks, host_check=False):
    """:func:`_stable_ranks` read to the host, as two numpy arrays ``(ranks, fro)``.

    One read (a GPU waits for it once). The matrices and banks of float64 filters beyond
    about 1e+-133, whose squares underflow or overflow (their squared Frobenius norm was 0,
    "zero filters", from about 1e-154, and their ranks lost digits before that; their Gram
    matrix was not finite above about 1e154, "NaN filters"), are then computed again times
    the power of two that brings their largest entry near 1 (exact: the ranks do not depend
    on the scale); their ``fro`` is that of the rescaled block. Other ranks are those of
    :func:`_stable_ranks`, to the bit.
    """
    ranks, fro = torch.stack(_stable_ranks(filters, n_banks, host_check)).cpu().numpy()
    # Checked after the read, on the host: rescaling every stack first cost 1.4x on a
    # 40 x 784 float64 matrix and 2.4x on a stack of 64 (two more passes, and copies), and
    # a check on the device another read an epoch. (NaN, a matrix that is not finite, fails
    # the test and is computed again: it stays NaN.)
    with np.errstate(invalid="ignore"):
        safe = (fro >= _SAFE_FRO[0]) & (fro <= _SAFE_FRO[1])
    redo = ~safe.all(axis=1)
    if not redo.any():
        return ranks, fro
    F = filters[torch.from_numpy(redo).to(filters.device)].to(torch.float64)
    parts = [_stable_ranks(_power_of_two_scaled(F, 1), None, host_check)]
    if n_banks:
        scaled = _power_of_two_scaled(F, n_banks).reshape(F.shape)
        parts.append(tuple(part[:, 1:] for part in _stable_ranks(scaled, n_banks, host_check)))
    again = torch.stack([torch.cat(column, dim=1) for column in zip(*parts)]).cpu().numpy()
    ranks[redo] = again[0]
    fro[redo] = np.where(safe[redo], fro[redo], again[1])
    return ranks, fro


def _top_eigenvalues(grams):
    """The largest eigenvalue of each symmetric matrix of a stack."""
    if grams.device.type != "cpu":
        return torch.linalg.eigvalsh(grams)[..., -1]
    # On the CPU torch's eigvalsh runs LAPACK inside its own thread pool, and with more than
    # one thread it was measured up to 100x slower on a busy 2-core machine (6 s against
    # 54 ms for two 400 x 400 matrices): one thread a call. A stack of many small matrices
    # (the deferred epochs of a fit) is split over the cores instead, one single-threaded call
    # a part (torch releases the GIL): measured 1.8x faster for 300 matrices of 64 x 64 on
    # 2 cores. Each matrix's eigenvalues do not depend on the split.
    previous = torch.get_num_threads()
    n_parts = min(previous, len(grams) // _MIN_MATRICES_A_THREAD)
    torch.set_num_threads(1)
    try:
        if n_parts <= 1:
            return torch.linalg.eigvalsh(grams)[..., -1]
        with ThreadPoolExecutor(n_parts) as pool:
            tops = pool.map(_top_eigenvalues_one_thread, torch.tensor_split(grams, n_parts))
            return torch.cat(list(tops))
    finally:
        torch.set_num_threads(previous)


def _top_eigenvalues_one_thread(grams):
    torch.set_num_threads(1)  # OpenMP's thread count is per calling thread
    return torch.linalg.eigvalsh(grams)[..., -1]


def _gram(M):
    """Gram matrices of the smaller side of a stack of matrices ``(k, r, d)``."""
    return M @ M.transpose(-1, -2) if M.shape[-2] <= M.shape[-1] else M.transpose(-1, -2) @ M


def bank_stable_ranks(filters, n_banks):
    """Stable rank of each of ``n_banks`` equal, contiguous blocks of rows of ``filters``.

    The same float64 Gram-matrix computation as :func:`sklrank.stable_rank` (``method="gram"``),
    batched: one eigendecomposition call for all banks.

    Parameters
    ----------
    filters : torch.Tensor of shape (n_banks * m, dim)
        Finite filter matrix, bank ``b`` in rows ``b*m .. (b+1)*m - 1``.
    n_banks : int
        Number of banks.

    Returns
    -------
    ranks : list of float
        One stable rank per bank.
    """
    ranks, fro = _host_stable_ranks(filters[None], n_banks)
    if not (fro > 0).all():
        raise ValueError("A bank of zero filters has no stable rank.")
    return ranks[0, 1:].tolist()


# the history entries whose keys are class labels (JSON turns them into strings)
_LABEL_KEYED_ENTRIES = ("filter_bank_stable_ranks",)


def _restore_label_keys(history, classes):
    """Give the label keys of a history loaded from JSON back their type, in place.

    JSON writes every key as a string (``-1`` as ``"-1"``, ``True`` as ``"true"``), so the
    per-class entries of a loaded history (``filter_bank_stable_ranks``) had string keys
    where the epochs a resumed fit records have the labels themselves. A row's keys are
    mapped back when they are, all of them, the JSON form of the labels of ``classes`` (the
    net's ``classes_``) or of the bank indices ``0, 1, ...`` (what
    :class:`~sklrank.callbacks.RankHistory` records without classes); other keys are left
    as they are, rather than guessed. Rows keyed by the labels already are left as they are.
    """
    mappings = []
    if classes is not None:
        labels = [label.item() if isinstance(label, np.generic) else label for label in classes]
        # each label's JSON form as a key (json's own conversion) -> the label
        mappings.append(dict(zip(json.loads(json.dumps(dict.fromkeys(labels))), labels)))
    for row in history:
        for key in _LABEL_KEYED_ENTRIES:
            entry = row.get(key)
            if not isinstance(entry, dict) or not all(isinstance(k, str) for k in entry):
                continue
            for mapping in (*mappings, {str(i): i for i in range(len(entry))}):
                if len(mapping) == len(entry) and set(entry) <= set(mapping):
                    row[key] = {mapping[label]: value for label, value in entry.items()}
                    break


class RankHistory(_PublicParams, Callback):
    """Record the stable rank of the filter matrix in the net's history every ``every`` epochs.

    Writes ``"filter_stable_rank"`` (all filters, one a row) and, when the module has
    per-class banks (attributes ``n_banks`` and ``n_filters``), ``"filter_bank_stable_ranks"``:
    a dict mapping each class label (from ``net.classes_`` when available, else the bank
    index) to the stable rank of that bank's filters. Epochs that are not recorded simply lack
    the keys; the last epoch of a fit is always recorded. The ranks are exact: float64 Gram
    matrices and their eigenvalues, on the filters' device.

    Parameters
    ----------
    every : int, default=1
        Record at epochs ``every, 2 * every, ...`` (1-based) and at the last epoch.
        With ``every > 1`` on a plain skorch net with ``verbose=1``, pass
        ``callbacks__print_log=sklrank.callbacks.PrintLog()``: skorch's own table moves a
        line's numbers under the wrong headers when a key is recorded on some epochs only
        (sklrank's estimators use that table by default).
    defer : bool or "auto", default="auto"
        True keeps a copy of the filters of each recorded epoch on their device and computes
        the ranks of many epochs in one batch (when the copies reach 32 MiB, and at the end of
        training), so recording costs no host synchronisation per epoch and little time;
        the rows of the history get their values then. False computes them at the epoch
        itself, for callbacks that read them during training. "auto" defers unless the net
        shows its progress (``verbose`` or ``progress_bar``), where each row is read as it is
        written, or has callbacks of the user's other than sklrank's own (an
        ``EarlyStopping(monitor="filter_stable_rank")`` or a ``Checkpoint`` saving the history
        read the rows during training).

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

    def __init__(self, every=1, defer="auto"):
        self.every = every
        self.defer = defer

    def initialize(self):
        if isinstance(self.every, bool) or not isinstance(self.every, Integral) or self.every < 1:
            raise ValueError(f"every must be a positive int (record every k epochs), got "
                             f"{self.every!r}.")
        if self.defer not in (True, False, "auto"):
            raise ValueError(f"defer must be True, False or 'auto', got {self.defer!r}.")
        return self

    def on_train_begin(self, net, **kwargs):
        # A history set by hand (net.history = History.from_file(...)) holds the labels of
        # its per-class ranks as JSON wrote them ("-1"): given back as the labels, so that the
        # epochs this fit adds have the same keys (they were {"-1": ...} beside {-1: ...}).
        # (sklrank's load_params does it too, for a net not trained further.)
        _restore_label_keys(net.history, getattr(net, "classes_", None))
        # The snapshots of the recorded epochs: one preallocated stack that grows by doubling
        # (measured: 300 separate small clones held during a fit slow its steps by 5%), and
        # the history row of each.
        self._snapshots, self._rows = None, []
        defer = self.defer
        if defer == "auto":
            defer = not (net.verbose or getattr(net, "progress_bar", False)
                         or _other_callbacks(net))
        self._deferred = bool(defer)
        # the fit's last epoch, recorded at that epoch (where callbacks can read it), as far
        # as it is known here (on_train_end records an earlier end, e.g. early stopping)
        self._last_epoch = len(net.history) + int(getattr(net, "max_epochs", 0) or 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self._interval(net) == 0 or epoch == self.__dict__.get("_last_epoch"):
            self._snapshot(net)

    def _interval(self, net):
        """Epochs between two recordings."""
        return self.every

    def _on_train_error(self, net):
        """Training raised: the ranks of the epochs before it are written (the failure's
        error is the one reported), the snapshots released."""
        try:
            self._flush(net)
        except Exception:  # e.g. non-finite filters: the fit's own error is the one raised
            pass
        finally:
            self._snapshots, self._rows = None, []

    def _recorded_keys(self, net):
        """The history keys of scalars this callback writes (on the recorded epochs only),
        for sklrank.callbacks.PrintLog's header; the per-bank ranks are arrays, not shown."""
        return ("filter_stable_rank",)

    def on_train_end(self, net, **kwargs):
        last = len(net.history) - 1
        try:
            if last >= 0 and last not in self._rows and (
                "filter_stable_rank" not in net.history[-1]
            ):
                self._snapshot(net)
            self._flush(net)
        finally:
            self._snapshots = None  # not kept (nor pickled) with the net, fitted or failed

    def _snapshot(self, net):
        filters = _filters_on_device(net.module_).detach()
        count = len(self._rows)
        if self._snapshots is None or self._snapshots.shape[1:] != filters.shape:
            self._flush(net)
            count = 0
            self._snapshots = filters.new_empty((self._capacity(net, filters), *filters.shape))
        elif count == len(self._snapshots):
            grown = self._snapshots.new_empty((2 * count, *filters.shape))
            grown[:count] = self._snapshots
            self._snapshots = grown
        self._snapshots[count].copy_(filters)
        self._rows.append(len(net.history) - 1)
        size = filters.numel() * filters.element_size() * (count + 1)
        if not self._deferred or size >= _BUFFER_BYTES:
            self._flush(net)

    def _capacity(self, net, filters):
        """Snapshots a new stack holds: the recordings left in the fit, from this epoch on (as
        far as on_train_begin knows them), at most what the buffer takes before a flush; one
        when each is computed at once (rather than 16, doubled as it fills: 16, 32, ... 512
        snapshots and five copies for a fit of 300 epochs)."""
        if not self._deferred:
            return 1
        epoch, every = len(net.history), self._interval(net)
        last = self.__dict__.get("_last_epoch", 0)
        left = _FIRST_CAPACITY
        if last >= epoch:
            left = last // every - (epoch - 1) // every + (last % every != 0)
        per_snapshot = filters.numel() * filters.element_size()
        return max(1, min(left, -(-_BUFFER_BYTES // per_snapshot)))

    def _flush(self, net):
        rows = getattr(self, "_rows", [])
        if not rows:
            return
        stack, self._rows = self._snapshots[: len(rows)], []
        module = net.module_
        n_banks, m = getattr(module, "n_banks", None), getattr(module, "n_filters", None)
        if n_banks is None or m is None or n_banks * m != stack.shape[1]:
            n_banks = None
        # one copy to the host (a GPU waits for it once); non-finite filters (the last step
        # diverged) come back with a NaN norm
        ranks, fro = _host_stable_ranks(stack, n_banks, self._deferred)
        if not (np.isfinite(fro).all() and np.isfinite(ranks[fro > 0]).all()):
            raise TrainingDivergedError(
                "training diverged: the filters hold NaN or infinity; lower lr."
            )
        if not (fro > 0).all():
            raise ValueError("A bank of zero filters has no stable rank.")
        labels = getattr(net, "classes_", None)
        if labels is None or len(labels) != (n_banks or 0):
            labels = range(n_banks or 0)
        labels = [_plain(c) for c in labels]
        history = net.history
        for row, (overall, *banks) in zip(rows, ranks.tolist()):
            record = history[row]
            record["filter_stable_rank"] = overall
            if n_banks:
                record["filter_bank_stable_ranks"] = dict(zip(labels, banks))


def _other_callbacks(net):
    """Whether the user gave the net callbacks other than sklrank's own recorders, which may
    read the history's rows during training."""
    from ._gradient_spectrum import GradientSpectrum

    given = net.callbacks if isinstance(net.callbacks, (list, tuple)) else []
    for item in given:
        callback = item[1] if isinstance(item, tuple) else item
        if not isinstance(callback, (RankHistory, GradientSpectrum)):
            return True
    return False


def _plain(label):
    """numpy scalars -> Python scalars, so that history dicts serialise to JSON."""
    return label.item() if isinstance(label, np.generic) else label
