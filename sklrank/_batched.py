"""Train many RankCNNClassifiers of one geometry as one batched model.

A noise sweep trains the same small network at many (noise level, seed) points; one at a time,
each full-batch step is too small to fill the cores, and the time goes to per-step overhead.
Here the points' filters are stacked into one tensor and the module's own forward is mapped
over them with ``torch.func.vmap`` (batched matrix products); the summed loss has, for each
point, exactly that point's gradient, and plain SGD updates every point as its own fit would.
Each estimator ends fitted as if by its own ``fit``: same initial filters (its
``random_state``), same data, its own history (``train_loss``, the filter ranks every
``rank_every`` epochs), the same checks of the outcome.

Batched and one-by-one products may sum in different orders, so in general the results agree
to float32 rounding, not bit for bit. Measured with MKL on CPU (tests/test_batched.py): the
filters are bitwise those of one-by-one fits, and a point's numbers do not depend on which
other points share its batch, nor on how the batch is split over threads.
"""

import threading
import time
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ._base import (
    _SCALE_SAMPLE_ROWS,
    _inputs,
    issue_convergence_warning,
    recorded_convergence_warnings,
)
from .callbacks._rank_history import _BUFFER_BYTES, _host_stable_ranks, _plain

__all__ = ["fit_batched", "batch_key", "unbatchable_reason", "BatchedFit"]

# Pre-activations (samples x patches x filters, summed over the points) a training thread
# needs at least: each step's Python overhead (about 0.3 ms, holding the GIL) is then a small
# part of its elementwise work (about 1 ns a pre-activation and operation on one core).
_THREAD_PREACTIVATIONS = 100_000
# The parameters that may differ between the estimators of one batch: they only set the
# initial filters, or what is shown while training.
_FREE_PARAMETERS = ("random_state", "init_std", "verbose", "progress_bar")


class BatchedFit(NamedTuple):
    """What became of one estimator of :func:`fit_batched`.

    Attributes
    ----------
    error : Exception or None
        The error the estimator's own ``fit`` would have raised (a diverged or dead network,
        see :class:`sklrank.exceptions.TrainingFailedError`), or None.
    warnings : list of sklearn.exceptions.ConvergenceWarning
        The warnings its fit issued when checking the outcome (a loss that never moved); they
        were also issued as ``fit`` issues them (recorded instead, in the calling thread,
        under :func:`sklrank._base.recorded_convergence_warnings`).
    """

    error: Exception | None
    warnings: list


def unbatchable_reason(estimator):
    """Why ``estimator`` cannot train in a batch, or None when it can.

    Parameters
    ----------
    estimator : object
        Usually a :class:`~sklrank.RankCNNClassifier`.

    Returns
    -------
    reason : str or None
        A sentence naming the setting that prevents batching.
    """
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from ._rank_cnn_classifier import RankCNNClassifier
    from .nn import TwoLayerCNN

    if type(estimator) is not RankCNNClassifier:
        return f"{type(estimator).__name__} is not a RankCNNClassifier"
    if estimator.input_shape is None:
        return "input_shape is not set"
    params = estimator.get_params(deep=False)
    module = params["module"]
    checks = (
        (module is TwoLayerCNN, "module is not sklrank.nn.TwoLayerCNN (the class)"),
        (params["optimizer"] is torch.optim.SGD, "optimizer is not torch.optim.SGD"),
        (not estimator.get_params_for("optimizer"), "optimizer__* parameters are set"),
        (params["criterion"] is torch.nn.CrossEntropyLoss,
         "criterion is not torch.nn.CrossEntropyLoss"),
        (not estimator.get_params_for("criterion"), "criterion__* parameters are set"),
        (params["batch_size"] == -1, "batch_size is not -1 (full-batch training)"),
        (not estimator.get_params_for("iterator_train"), "iterator_train__* parameters are set"),
        (params["train_split"] is None, "train_split is set"),
        (params["iterator_train"] is DataLoader, "iterator_train is not DataLoader"),
        (params["dataset"] is Dataset, "dataset is not skorch.dataset.Dataset"),
        (not params["callbacks"], "callbacks are set"),
        # e.g. callbacks__filter_rank__every, which the estimator's own fit refuses
        (not estimator.get_params_for("callbacks"), "callbacks__* parameters are set"),
        (not params["warm_start"], "warm_start is set"),
        (not params["compile"], "compile is set"),
        (not _activation_has_weights(estimator),
         "the activation has weights (e.g. torch.nn.PReLU), which a batch does not train"),
    )
    failed = [reason for ok, reason in checks if not ok]
    return "; ".join(failed) if failed else None


def _activation_has_weights(estimator):
    """Whether the network's activation is a module with weights of its own: the estimator's
    own fit trains them with the filters, a batch trains the filters only."""
    from .nn._two_layer_cnn import make_activation

    try:
        kwargs = estimator._module_kwargs(None)
        activation = make_activation(kwargs["activation"], q=kwargs["q"], kappa=kwargs["kappa"])
    except (TypeError, ValueError):  # a bad setting: the fit says so
        return False
    return isinstance(activation, torch.nn.Module) and any(
        p.requires_grad for p in activation.parameters())


def batch_key(estimator):
    """What estimators must share to train as one batch (None: this one cannot).

    The module's structure and every training setting; ``random_state`` and ``init_std``
    (the initial filters) may differ, and ``verbose`` / ``progress_bar``. Only the defaults
    of skorch's machinery are supported: plain SGD on the whole training set, the
    cross-entropy, no callbacks, no validation split (see :func:`unbatchable_reason`).

    Parameters
    ----------
    estimator : RankCNNClassifier
        An estimator with ``input_shape`` set.

    Returns
    -------
    key : tuple or None
    """
    if unbatchable_reason(estimator) is not None:
        return None
    params = estimator.get_params(deep=False)
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in _FREE_PARAMETERS))


def fit_batched(estimators, data, *, n_threads=1, progress=False):
    """Fit RankCNNClassifiers that share a geometry and training settings, as one batch.

    Parameters
    ----------
    estimators : list of RankCNNClassifier
        All with the same :func:`batch_key`; each is fitted from scratch.
    data : list of (X, y)
        Each estimator's training data, all with the same number of samples and the same
        classes (so that the networks have the same shape).
    n_threads : int, default=1
        Train the batch as up to this many sub-batches, each in its own Python thread (torch
        releases the GIL in its kernels), each with at least 100000 pre-activations (samples x
        patches x filters) a step. Each thread runs torch's operations with the calling
        thread's intra-op thread count: with ``torch.set_num_threads(1)`` they use
        ``n_threads`` cores. A point's numbers do not depend on the split.
    progress : bool, default=False
        Show a tqdm bar over the epochs of the batch.

    Returns
    -------
    outcomes : list of BatchedFit
        For each estimator, the error its own ``fit`` would have raised, or None (a failed
        point does not stop the others), and the warnings its fit issued (issued here too).

    Examples
    --------
    >>> from sklrank import RankCNNClassifier
    >>> from sklrank._batched import fit_batched
    >>> from sklrank.datasets import make_low_rank_patches
    >>> data = [make_low_rank_patches(n_samples=60, noise_std=s, random_state=0)
    ...         for s in (0.0, 1.0)]
    >>> nets = [RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64), max_epochs=20,
    ...                           random_state=0) for _ in data]
    >>> [outcome.error for outcome in fit_batched(nets, data)]
    [None, None]
    """
    estimators = list(estimators)
    if not estimators or len(estimators) != len(data):
        raise ValueError("fit_batched needs one (X, y) per estimator, and one estimator at "
                         "least.")
    reasons = {unbatchable_reason(est) for est in estimators} - {None}
    if reasons:
        raise ValueError(f"fit_batched cannot batch these estimators: {'; '.join(reasons)}.")
    keys = {batch_key(est) for est in estimators}
    if len(keys) != 1:
        raise ValueError("fit_batched needs estimators with the same parameters but "
                         f"{', '.join(_FREE_PARAMETERS)}.")
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be an int >= 1, got {n_threads!r}.")
    batch = _Batch(estimators, data)
    first = estimators[0]
    # a thread's share of a step must outweigh its Python overhead, which holds the GIL
    n_threads = min(int(n_threads), max(1, batch.preactivations // _THREAD_PREACTIVATIONS))
    groups = [g for g in np.array_split(np.arange(len(estimators)), n_threads) if len(g)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=first.max_epochs, desc=f"{len(estimators)} fits, batched",
                   unit="epoch", leave=False)
    results = [None] * len(groups)
    errors = []
    # OpenMP's thread count is a setting of each thread: a new thread starts with every core
    # (oversubscribed, many times slower on a busy machine) unless given the caller's.
    intra_op = torch.get_num_threads()

    stop = threading.Event()

    def train(index, rows):
        try:
            if threading.current_thread() is not threading.main_thread():
                torch.set_num_threads(intra_op)
            results[index] = batch.train(rows, bar if index == 0 else None, stop)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = []
    try:
        if len(groups) == 1:
            train(0, groups[0])
        else:
            threads = [threading.Thread(target=train, args=(i, g), daemon=True)
                       for i, g in enumerate(groups)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    except BaseException:
        # Ctrl-C while the training threads run: they stop at their next epoch and are
        # waited for (torch threads still running at the interpreter's exit abort it)
        stop.set()
        for thread in threads:
            if thread.ident is not None:  # started (the interrupt may come between starts)
                thread.join()
        raise
    finally:
        if bar is not None:
            bar.close()
    if errors:
        raise errors[0]
    outcomes = []
    for rows, result in zip(groups, results):
        for offset, index in enumerate(rows):
            outcomes.append(batch.finish(index, result, offset))
    return outcomes


class _Batch:
    """The estimators of one batch, initialised, and their training data stacked on the device.

    When the module is a :class:`~sklrank.nn.TwoLayerCNN` whose patches tile the image
    (stride = kernel, no padding), the patches are cut once here instead of every epoch (with
    the module's own cutting): the stacked data are each sample's patches, at half the memory
    of the data and their per-epoch copy.
    """

    def __init__(self, estimators, data):
        self.estimators = estimators
        self.X, self.codes, self.heads = None, [], []
        module = shapes = None
        for i, (est, (X, y)) in enumerate(zip(estimators, data)):
            est._check_params()
            X_fit, y_fit = est._fit_data(X, y, None, reset=True)
            X_fit = _inputs(X_fit)
            est.initialize()  # its own seeded filters, callbacks and history
            est._first_epoch = 0
            if module is None:
                module = est.module_
                shapes = (tuple(module.weight.shape), module.n_banks, len(X_fit))
                self.n_samples, self.n_banks = len(X_fit), module.n_banks
                self.patch_space = _tiles_image(module)
            shape = (tuple(est.module_.weight.shape), est.module_.n_banks, len(X_fit))
            if shape != shapes:
                raise ValueError(
                    "fit_batched needs the same number of samples and networks of one shape, "
                    f"but estimator {i} has (filters, banks, samples) {shape} against "
                    f"{shapes}; every y must hold the same classes."
                )
            self.codes.append(est._loss_targets(y_fit, module.weight))
            # encoded once here; not kept (as after the estimator's own fit)
            est.__dict__.pop("_encoded_batches", None)
            est.__dict__.pop("_classes_tensors", None)
            # the rows the message of a failed fit describes the input scale from
            self.heads.append(X_fit[:_SCALE_SAMPLE_ROWS].to("cpu", copy=True))
            if self.patch_space:
                X_fit = module._patches(X_fit.reshape(len(X_fit), *module.input_shape))
            # One point's tensors at a time on the device, copied into the stack: the peak
            # is the stack and one point, not twice the batch.
            if self.X is None:
                self.X = torch.empty((len(estimators), *X_fit.shape), dtype=X_fit.dtype,
                                     device=X_fit.device)
            self.X[i] = X_fit
            del X_fit, y_fit
        self.codes = torch.stack(self.codes)
        patches = self.X.shape[2] if self.patch_space else module.n_patches
        self.preactivations = len(estimators) * self.n_samples * patches * module.weight.shape[0]

    def _logits(self, rows, X):
        """The logits ``(points, samples, classes)`` of the sub-batch ``rows`` (stacked data
        ``X``) as a function of its stacked filters."""
        module = self.estimators[rows[0]].module_
        if self.patch_space:
            # TwoLayerCNN's forward when its patches tile the image, on the stacked patch
            # matrices: patches @ filters^T, the activation, then the mean (or the sum, then
            # the mean) over the patches and over each bank's filters. The same products and
            # reductions as the module's (bitwise, tests/test_batched.py), without vmap's
            # per-step overhead (a fifth of a step of the README's sweep).
            points, n, n_patches, dim = X.shape
            patches = X.reshape(points, n * n_patches, dim)
            banks, m = module.n_banks, module.n_filters
            activation, pooling = module.activation, module.pooling

            def logits(weight):
                z = torch.bmm(patches, weight.reshape(points, banks * m, dim).transpose(1, 2))
                a = activation(z).reshape(points, n, n_patches, banks, m)
                return a.mean(dim=(2, 4)) if pooling == "mean" else a.sum(2).mean(3)

            return logits
        # Any other geometry: the module's own forward, vmapped over the stacked filters
        # (each thread its own module: functional_call swaps the weight of the module it is
        # given while it runs).
        forward = torch.func.vmap(
            lambda w, x: torch.func.functional_call(module, {"weight": w}, (x,))
        )
        return lambda weight: forward(weight, X)

    def train(self, rows, bar, stop=None):
        """Train the estimators ``rows`` (consecutive indices) for their epochs, stacked;
        a set ``stop`` event ends the training with KeyboardInterrupt at the next epoch."""
        first = self.estimators[rows[0]]
        X = self.X[rows[0] : rows[-1] + 1]  # a view
        codes = self.codes[rows[0] : rows[-1] + 1]
        weight = torch.stack([self.estimators[i].module_.weight.detach() for i in rows])
        weight.requires_grad_()
        forward = self._logits(rows, X)
        n_points, n_samples = codes.shape
        lr, epochs, every = first.lr, first.max_epochs, first.rank_every
        losses = np.empty((epochs, n_points))
        durations = np.empty(epochs)
        snapshots, ranks = [], []
        first.module_.train()
        for epoch in range(epochs):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            start = time.time()
            out = forward(weight)  # (points, samples, classes)
            loss = F.cross_entropy(out.reshape(n_points * n_samples, -1), codes.reshape(-1),
                                   reduction="none").reshape(n_points, n_samples).mean(dim=1)
            weight.grad = None
            loss.sum().backward()  # the gradient of each point's own loss, for each point
            with torch.no_grad():
                weight.add_(weight.grad, alpha=-lr)  # torch.optim.SGD's plain step
            losses[epoch] = loss.detach().cpu().numpy()  # read every epoch, as skorch does
            durations[epoch] = time.time() - start
            if every is not None and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
                snapshots.append(weight.detach().clone())
                if len(snapshots) * weight.numel() * weight.element_size() >= _BUFFER_BYTES:
                    ranks.append(_snapshot_ranks(snapshots, self.n_banks))
                    snapshots = []
            if bar is not None:
                bar.update()
            if not np.isfinite(losses[epoch]).any():
                losses, durations = losses[: epoch + 1], durations[: epoch + 1]
                break  # every point diverged: nothing left to train
        if snapshots:
            ranks.append(_snapshot_ranks(snapshots, self.n_banks))
        ranks = (np.concatenate(ranks, axis=0) if ranks
                 else np.empty((0, n_points, 1 + self.n_banks)))
        final = None
        if len(losses):
            # an epoch records the loss before its step: the loss at the final weights, which
            # each point's outcome check takes where its own fit would measure it
            # (_BaseNet._final_training_loss; one forward pass for all the points)
            with torch.no_grad():
                out = forward(weight.detach())
                final = F.cross_entropy(
                    out.reshape(n_points * n_samples, -1), codes.reshape(-1), reduction="none"
                ).reshape(n_points, n_samples).mean(dim=1).cpu().numpy()
        return losses, durations, ranks, weight.detach(), weight.grad, final

    def finish(self, index, result, offset):
        """Leave estimator ``index`` as its own fit would, and say how that fit ended."""
        losses, durations, ranks, weight, grad, final = result
        est = self.estimators[index]
        epochs = est.max_epochs
        losses, ranks_of = losses[:, offset], ranks[:, offset]
        bad = np.flatnonzero(~np.isfinite(losses))
        if len(bad):
            # its own fit stops at the first epoch whose loss is not finite
            losses, durations = losses[: bad[0] + 1], durations[: bad[0] + 1]
        every = est.rank_every
        recorded = [e for e in range(epochs) if every is not None
                    and ((e + 1) % every == 0 or e + 1 == epochs)]
        param = est.module_.weight
        with torch.no_grad():
            param.copy_(weight[offset])
        if grad is not None:  # None when max_epochs is 0
            param.grad = grad[offset].clone()
        _write_history(est, losses, durations, dict(zip(recorded, ranks_of)), self.n_samples)
        X_head = self.heads[index]
        with recorded_convergence_warnings() as caught:
            if len(bad):
                error = est._divergence(int(bad[0]) + 1, losses[bad[0]], X_head,
                                        at_start=bad[0] == 0)
            else:
                if final is not None:
                    # the last step's change is -lr * its gradient (plain SGD)
                    bound = (None if grad is None else est._loss_change_bound(
                        {"weight": -est.lr * grad[offset]}, self.X[index]))
                    if not est._final_loss_needed(0, [float(v) for v in losses], bound):
                        final = None
                try:
                    est._check_training_outcome(
                        X_head, 0, None if final is None else float(final[offset]))
                    error = None
                except Exception as exc:  # a dead or diverged network: that point's result
                    error = exc
        if error is not None:  # as its own fit would leave it
            est._mark_failed(error)
        for warning in caught:  # issued (or recorded) as the estimator's own fit does
            issue_convergence_warning(warning, stacklevel=3)
        return BatchedFit(error, caught)


def _tiles_image(module):
    """Whether the module is a TwoLayerCNN whose patches tile the image (no overlap, no
    padding): then its forward on the patch matrix is its forward on the image."""
    from .nn import TwoLayerCNN

    return (type(module) is TwoLayerCNN and module.padding == "none"
            and module.stride == module.kernel_size)


def _snapshot_ranks(snapshots, n_banks):
    """Stable ranks ``(k, points, 1 + banks)`` of k snapshots of the stacked filters; NaN for
    a point whose filters are not finite (it diverged; the others are unaffected)."""
    stack = torch.stack(snapshots)  # (k, points, rows, ...)
    k, points, rows = stack.shape[:3]
    flat = stack.reshape(k * points, rows, -1)
    ranks, fro = _host_stable_ranks(flat, n_banks, host_check=True)
    ranks[~(fro > 0)] = np.nan  # zero filters, and non-finite ones (their norm is NaN)
    return ranks.reshape(k, points, -1)


def _write_history(est, losses, durations, rank_rows, n_samples):
    """The rows skorch and the default callbacks would have written for this fit."""
    history = est.history
    best = np.inf
    labels = [_plain(c) for c in est.classes_]
    for epoch, (loss, duration) in enumerate(zip(losses, durations)):
        loss = float(loss)
        row = {
            "batches": [{"train_loss": loss, "train_batch_size": n_samples}],
            "epoch": epoch + 1,
            "train_batch_count": 1,
            "dur": float(duration),
            "train_loss": np.float64(loss),
            "train_loss_best": bool(loss < best),
        }
        best = min(best, loss)
        ranks = rank_rows.get(epoch)
        if ranks is not None and np.isfinite(ranks).all():
            row["filter_stable_rank"] = float(ranks[0])
            row["filter_bank_stable_ranks"] = {c: float(r) for c, r in zip(labels, ranks[1:])}
        history.append(row)
    # the train-loss scoring callback keeps the best loss, for a later partial_fit
    for name, callback in est.callbacks_:
        if name == "train_loss" and np.isfinite(best):
            callback.best_score_ = best
