"""Train many RankCNNClassifiers of one geometry as one batched model.

A noise sweep trains the same small network at many (noise level, seed) points; one at a time,
each full-batch step is too small to fill the cores, and the time goes to per-step overhead.
Here the points' filters are stacked into one tensor and the module's own forward is mapped
over them with ``torch.func.vmap`` (batched matrix products); the summed loss has, for each
point, exactly that point's gradient, and plain SGD updates every point as its own fit would.
Each estimator ends fitted as if by its own ``fit``: same initial filters (its
``random_state``), same data, its own history (``train_loss``, the filter ranks every
``rank_every`` epochs), the same checks of the outcome. Batched and one-by-one products sum in
different orders, so the results agree to float32 rounding, not bit for bit.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from ._base import _inputs
from .callbacks._rank_history import _BUFFER_BYTES, _plain, _stable_ranks

__all__ = ["fit_batched", "batch_key"]


def batch_key(estimator):
    """What estimators must share to train as one batch (None: this one cannot).

    The module's structure and every training setting; ``random_state`` and ``init_std``
    (the initial filters) may differ. Only the defaults of skorch's machinery are supported:
    plain SGD on the whole training set, the cross-entropy, no callbacks, no validation split.

    Parameters
    ----------
    estimator : RankCNNClassifier
        An estimator with ``input_shape`` set.

    Returns
    -------
    key : tuple or None
    """
    from ._rank_cnn_classifier import RankCNNClassifier

    if type(estimator) is not RankCNNClassifier or estimator.input_shape is None:
        return None
    params = estimator.get_params(deep=False)
    plain = (
        params["optimizer"] is torch.optim.SGD
        and params["criterion"] is torch.nn.CrossEntropyLoss
        and params["batch_size"] == -1
        and params["train_split"] is None
        and not params["callbacks"]
        and not params["warm_start"]
        and not estimator.get_params_for("optimizer")
        and not estimator.get_params_for("criterion")
        and not estimator.get_params_for("iterator_train")
    )
    if not plain:
        return None
    skip = {"random_state", "init_std", "verbose", "progress_bar"}
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in skip))


def fit_batched(estimators, data, *, progress=False):
    """Fit RankCNNClassifiers that share a geometry and training settings, as one batch.

    Parameters
    ----------
    estimators : list of RankCNNClassifier
        All with the same :func:`batch_key`; each is fitted from scratch.
    data : list of (X, y)
        Each estimator's training data, all with the same number of samples.
    progress : bool, default=False
        Show a tqdm bar over the epochs of the batch.

    Returns
    -------
    errors : list of Exception or None
        For each estimator, the error its own ``fit`` would have raised (a diverged or dead
        network, see :class:`sklrank.exceptions.TrainingFailedError`), or None. A failed point
        does not stop the others. ConvergenceWarnings are issued as by ``fit``.
    """
    estimators = list(estimators)
    if not estimators or len(estimators) != len(data):
        raise ValueError("fit_batched needs one (X, y) per estimator, and one estimator at "
                         "least.")
    keys = {batch_key(est) for est in estimators}
    if None in keys or len(keys) != 1:
        raise ValueError("fit_batched needs RankCNNClassifiers with input_shape set, default "
                         "skorch settings and the same parameters but random_state/init_std.")
    prepared = []
    for est, (X, y) in zip(estimators, data):
        est._check_params()
        prepared.append(est._fit_data(X, y, None, reset=True))
    if len({len(X_fit) for X_fit, _ in prepared}) != 1:
        raise ValueError("fit_batched needs the same number of samples for every estimator.")
    for est in estimators:
        est.initialize()  # each its own seeded filters, callbacks and history
        est._first_epoch = 0
    first = estimators[0]
    module = first.module_
    X = torch.stack([_inputs(X_fit) for X_fit, _ in prepared])
    codes = torch.stack([est._loss_targets(y_fit, X) for est, (_, y_fit) in
                         zip(estimators, prepared)])
    weight = torch.stack([est.module_.weight.detach() for est in estimators]).requires_grad_()

    def logits(w, x):
        return torch.func.functional_call(module, {"weight": w}, (x,))

    forward = torch.func.vmap(logits)
    n_points, n_samples = codes.shape
    lr, epochs, every = first.lr, first.max_epochs, first.rank_every
    losses = np.empty((epochs, n_points))
    durations = np.empty(epochs)
    snapshots, ranks = [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=f"{n_points} fits, batched", unit="epoch", leave=False)
    module.train()
    for epoch in range(epochs):
        start = time.time()
        out = forward(weight, X)  # (points, samples, classes)
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
            if sum(s.numel() * s.element_size() for s in snapshots) >= _BUFFER_BYTES:
                ranks.append(_snapshot_ranks(snapshots, module))
                snapshots = []
        if bar is not None:
            bar.update()
        if not np.isfinite(losses[epoch]).any():
            losses, durations = losses[: epoch + 1], durations[: epoch + 1]
            break  # every point diverged: nothing left to train
    if bar is not None:
        bar.close()
    if snapshots:
        ranks.append(_snapshot_ranks(snapshots, module))
    recorded = [e for e in range(len(losses)) if every is not None
                and ((e + 1) % every == 0 or e + 1 == epochs)]
    ranks = np.concatenate(ranks, axis=0) if ranks else np.empty((0, n_points, 0))

    errors = []
    for index, (est, (X_fit, _)) in enumerate(zip(estimators, prepared)):
        with torch.no_grad():
            est.module_.weight.copy_(weight[index])
        est.module_.weight.grad = weight.grad[index].clone()
        _write_history(est, losses[:, index], durations, recorded, ranks[:, index], n_samples)
        errors.append(_outcome(est, losses[:, index], _inputs(X_fit)))
    return errors


def _snapshot_ranks(snapshots, module):
    """Stable ranks ``(k, points, 1 + banks)`` of k snapshots of the stacked filters."""
    stack = torch.stack(snapshots)  # (k, points, rows, C, kh, kw)
    k, points, rows = stack.shape[:3]
    ranks, fro = _stable_ranks(stack.reshape(k * points, rows, -1), module.n_banks)
    ranks = ranks.cpu().numpy()
    ranks[fro.cpu().numpy() <= 0] = np.nan
    return ranks.reshape(k, points, -1)


def _write_history(est, losses, durations, recorded, ranks, n_samples):
    """The rows skorch and the default callbacks would have written for this fit."""
    history = est.history
    best = np.inf
    rank_rows = dict(zip(recorded, ranks))
    labels = [_plain(c) for c in est.classes_]
    for epoch, (loss, duration) in enumerate(zip(losses, durations)):
        history.new_epoch()
        history.record("epoch", epoch + 1)
        history.new_batch()
        history.record_batch("train_loss", float(loss))
        history.record_batch("train_batch_size", n_samples)
        history.record("train_batch_count", 1)
        history.record("dur", float(duration))
        history.record("train_loss", np.float64(loss))
        history.record("train_loss_best", bool(loss < best))
        best = min(best, loss)
        if epoch in rank_rows and np.isfinite(rank_rows[epoch]).all():
            history.record("filter_stable_rank", float(rank_rows[epoch][0]))
            history.record("filter_bank_stable_ranks",
                           {c: float(r) for c, r in zip(labels, rank_rows[epoch][1:])})


def _outcome(est, losses, X):
    """The error the estimator's own fit would raise, or None (warnings are issued)."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if len(bad):
        return est._divergence(int(bad[0]) + 1, losses[bad[0]], X, at_start=bad[0] == 0)
    try:
        est._check_training_outcome(X, 0)
    except Exception as error:  # a dead or diverged network: that point's result
        return error
    return None
