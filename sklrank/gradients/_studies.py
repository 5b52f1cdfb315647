"""The gradient paper's experiments as functions returning tidy DataFrames.

Section B of ``docs/science.md`` (Sonthalia, Murray and Montufar 2025). One function per
figure of the paper, at the paper's settings by default:

* :func:`activation_study` (its Fig. 2): the spectrum of the first-layer gradient at
  initialisation per activation, with ||S1|| and ||S2||;
* :func:`regulariser_study` (its Fig. 7): weight decay, input noise and a Jacobian penalty over
  a range of strengths, at the initial weights and along training;
* :func:`training_study` (its Fig. 6): the decomposition recorded along training
  (:class:`~sklrank.callbacks.GradientSpectrum`) in the two spike regimes;
* :func:`real_data_study` (its Fig. 8): the gradient on MNIST / CIFAR-10 inputs, with the
  spike estimated from the data;

plus :func:`spike_strength_study`, the sweep over the spike exponent nu at initialisation.
Their plots are in ``_plots.py``.

Training is full-batch gradient descent (:class:`~sklrank.TwoLayerNetRegressor`, MSE loss) at
a learning rate set from the curvature of the loss at the initial weights (``lr=None``:
``lr = lr_fraction / L``, see :func:`_stable_lr`), so that one setting trains isotropic and
decaying bulks, NTK and mean-field scalings alike (their curvatures differ by orders of
magnitude) without diverging. A run that diverges anyway is kept, marked ``diverged=True``.

Every study's DataFrame holds in ``attrs["config"]`` the study's own parameters as it used
them, by their names (defaults filled in, lists resolved, ``data_home`` the folder the data
came from), so that ``study(**df.attrs["config"])`` runs it again; ``attrs["protocol"]``
says what no parameter does (the loss, the optimiser). ``sklrank gradients`` writes both to
its JSON (``parameters`` and ``protocol``).
"""

import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._device import check_device as _check_device
from .._memory import check_fits_in_memory
from .._params import MAX_EPOCHS, MAX_SEEDS, validate_params
from .._rank import stable_rank
from .._threads import thread_limits
from ._decomposition import _host_copy, gradient_decomposition
from ._names import ACTIVATIONS

__all__ = [
    "activation_study",
    "real_data_study",
    "regulariser_effects",
    "regulariser_study",
    "spike_strength_study",
    "training_study",
]

REGULARISERS = ("weight_decay", "input_noise", "jacobian_penalty")
# the claimed effect of each regulariser (docs/science.md, section B): term, direction
CLAIMS = {
    "weight_decay": ("S1", "lower"),
    "input_noise": ("S2", "lower"),
    "jacobian_penalty": ("S2", "higher"),
}
# strengths of the previous comparison (nu = 0.35, alpha = 0), a decade either side
DEFAULT_STRENGTHS = {
    "weight_decay": (0.02, 0.2, 2.0),
    "input_noise": (0.1, 1.0, 10.0),
    "jacobian_penalty": (0.1, 1.0, 10.0),
}
# the paper's setting of its Fig. 7, and the setting of the previous comparison
DEFAULT_SETTINGS = ((8 / 9, 1 / 8), (0.0, 0.35))

_SIZE = {
    "n_samples": [Interval(Integral, 2, None, closed="left")],
    "n_features": [Interval(Integral, 3, None, closed="left")],
    "n_hidden": [Interval(Integral, 1, None, closed="left")],
}
_COMMON = {
    "scaling": [StrOptions({"ntk", "mean_field"})],
    # seeds 0..n_seeds-1 (2000000000 seeds filled the memory with the list of runs)
    "n_seeds": [Interval(Integral, 1, MAX_SEEDS, closed="both")],
    "device": [str, torch.device],
    "verbose": ["verbose"],
}
# the two studies of the gradient at initialisation (activation_study, spike_strength_study)
_INITIAL_SPECTRA = {
    "alpha": [Interval(Real, 0, None, closed="left")],
    "activations": ["array-like", str],
    "init": [StrOptions({"sphere", "spike"})],
    "target": [StrOptions({"triple_index", "spike"})],
    "n_top": [Interval(Integral, 1, None, closed="left")],
}
_TRAINING = {
    # (10**9 epochs ran for months: see MAX_EPOCHS)
    "max_epochs": [Interval(Integral, 1, MAX_EPOCHS, closed="both")],
    "lr": [None, Interval(Real, 0, None, closed="neither")],
    "lr_fraction": [Interval(Real, 0, 1, closed="right")],
    "n_jobs": [None, Integral],
}


# ----------------------------------------------------------------------------- checks


def _refuse_repeats(values, name):
    """A value given twice is likely a typo (``nus=[0.1, 1/10]``): refused, as the sweeps
    refuse a repeated noise level or seed and ``sklrank gradients`` a repeated list value
    (it was dropped without a word)."""
    repeated = list(dict.fromkeys(v for i, v in enumerate(values) if v in values[:i]))
    if repeated:
        shown = repeated[0] if len(repeated) == 1 else repeated
        raise ValueError(f"{name} holds {shown!r} more than once; give each value once.")
    return values


def _check_choices(values, allowed, name):
    values = [values] if isinstance(values, str) else list(values)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise ValueError(
            f"{name} must be a non-empty list of names among {list(allowed)}, got {values!r}."
        )
    return _refuse_repeats(values, name)


def _check_reals(values, name, *, low=0.0, high=math.inf, strict_low=False):
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers, got {values!r}.") from None
    ok = np.isfinite(array) & (array > low if strict_low else array >= low) & (array < high)
    if array.ndim != 1 or not len(array) or not ok.all():
        sign = ">" if strict_low else ">="
        raise ValueError(
            f"{name} must be a non-empty list of finite numbers {sign} {low:g}"
            + (f" and < {high:g}" if high < math.inf else "")
            + f", got {values!r}."
        )
    return _refuse_repeats([float(v) + 0.0 for v in array.tolist()], name)  # -0.0 is 0.0


# regulariser_study's default record_epochs (the object itself, to tell it from a value given)
_REGULARISER_RECORD_EPOCHS = (10,)


def _check_record_epochs(record_epochs, max_epochs, default=None):
    """The sorted epochs to record (max_epochs included); ``default``: the caller's default
    value, named in the error when it is what was refused (it was not set by the user)."""
    if record_epochs is None:
        return _log_epochs(max_epochs, 10)
    epochs = np.atleast_1d(np.asarray(record_epochs, dtype=object))
    if not len(epochs) or not all(
        isinstance(e, Integral) and not isinstance(e, bool) and 1 <= e <= max_epochs
        for e in epochs
    ):
        is_default = default is not None and record_epochs is default
        raise ValueError(
            f"record_epochs must be epochs between 1 and max_epochs={max_epochs}, got "
            f"{record_epochs!r}"
            + (f" (the default, which needs max_epochs={max(default)} or more)" if is_default
               else "")
            + f"; pass record_epochs of epochs between 1 and max_epochs={max_epochs}."
        )
    return sorted({int(e) for e in epochs} | {max_epochs})


def _log_epochs(max_epochs, count):
    """About ``count`` epochs spaced evenly on a log scale from 1 to max_epochs (included)."""
    return sorted({int(round(e)) for e in np.geomspace(1, max_epochs, count)} | {max_epochs})


# ----------------------------------------------------------------------- shared pieces


def _run_bytes(n, d, m, *, trains, curvature=False, jacobian=False):
    """Bytes one run of a study holds at its peak, and what holds most of them.

    From the largest tensors (float64 on the CPU unless said): the data X and its bulk (n x d
    each); in :func:`gradient_decomposition`, the n x m pre-activations, sigma', sigma'', M
    and the centred sigma' with the d x m host copy of W, G's data and regulariser parts,
    S1, S2, G, E, a temporary and the scaled G, and the Gram matrix of G's smaller side with
    its eigenvectors (the Jacobian penalty adds four n x m and three d x m matrices); for a
    training run, the float32 training itself and (``curvature``: lr=None) the curvature at
    the initial weights (two n x m and four n x n matrices, the NTK Gram matrix among them).
    Within 20% of the peak resident memory measured at a few sizes of about 1 GiB.
    """
    k = min(d, m)
    phases = {
        "the n_samples x n_hidden and n_features x n_hidden float64 matrices of the "
        "gradient's decomposition": 8 * (2 * n * d + 5 * n * m + 9 * d * m + 2 * k * k)
        + (8 * (n * d + 4 * n * m + 3 * d * m) if jacobian else 0)
        # (a decomposition recorded along training: the net's float32 X, W and W's
        # gradient stay alive around it)
        + (4 * (n * d + 2 * d * m) if trains else 0),
    }
    if trains:
        phases["the float32 training"] = 4 * (n * d + 3 * d * m + 5 * n * m)
    if curvature:
        phases["the n_samples x n_samples float64 matrices of the loss's curvature at the "
               "initial weights (which sets lr)"] = 8 * (n * d + d * m + 2 * n * m + 4 * n * n)
    what = max(phases, key=phases.get)
    return 8 * 2 * n * d + phases[what], what


def _check_memory(study, *, n_samples, n_features, n_hidden, n_runs, n_jobs=None,
                  trains=False, lr=None, jacobian=False, features=None,
                  sizes=("n_hidden", "n_samples", "n_features")):
    """Refuse a study whose runs would not fit in this machine's memory, before any array is
    made: a huge n_hidden (or n_samples x n_hidden) ran for a while, then failed in torch's
    allocator, whose message names an array's size, not the parameter to lower.

    ``n_runs``: the runs of the study; ``min(n_runs, effective_n_jobs(n_jobs))`` of them run
    at once. ``trains``: the runs train (with ``lr=None``, from the curvature at the initial
    weights). ``features``: how ``n_features`` is named in the message (real_data_study's d
    is the data's); ``sizes``: the size parameters to lower.
    """
    from joblib import effective_n_jobs

    at_once = 1 if n_jobs in (None, 1) else max(1, min(n_runs, effective_n_jobs(n_jobs)))
    need, what = _run_bytes(n_samples, n_features, n_hidden, trains=trains,
                            curvature=trains and lr is None, jacobian=jacobian)
    features = features or f"n_features={n_features}"
    details = f"n_samples={n_samples}, {features} and n_hidden={n_hidden}, mostly {what}"
    on_curvature = "curvature" in what
    if on_curvature:  # n_samples x n_samples: n_samples first
        sizes = ["n_samples", *(s for s in sizes if s != "n_samples")]
    if at_once > 1:
        details = f"n_jobs={n_jobs} runs {at_once} at once, each with {details}"
        sizes = ["n_jobs", *sizes]
    fix = f"{', '.join(sizes[:-1])} or {sizes[-1]}"
    if on_curvature:
        fix += ", or pass lr (no curvature is computed then)"
    check_fits_in_memory(at_once * need, study, details, fix)


def _run_all(task, jobs, n_jobs, desc, verbose):
    """``[task(*job) for job in jobs]``, in joblib workers when n_jobs != 1, with a bar."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if n_jobs in (None, 1):
        results = (task(*job) for job in jobs)
    else:
        # one torch and BLAS thread a worker: the workers share the cores. A worker's
        # warnings (a diverged run's RuntimeWarning) are issued again here, under the
        # caller's filters, as with n_jobs=1: the workers printed them on stderr, past any
        # filter of the caller (sklrank gradients, which says them in its own line).
        def one_thread(*job):
            with thread_limits(1), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rows = task(*job)
            return rows, [(w.message, w.category, w.filename, w.lineno) for w in caught]

        results = (_reissued(*result) for result in Parallel(
            n_jobs=n_jobs, return_as="generator")(delayed(one_thread)(*job) for job in jobs))
    out = []
    with tqdm(total=len(jobs), desc=desc, disable=not verbose) as bar:
        for rows in results:
            out.extend(rows)
            bar.update()
    return out


def _reissued(rows, caught):
    """``rows``, after issuing the warnings a worker recorded while computing them."""
    for message, category, filename, lineno in caught:
        warnings.warn_explicit(message, category, filename, lineno)
    return rows


def _summary_columns(result):
    return _with_ratios(result.summary())


def _with_ratios(row):
    """A decomposition's summary plus the ratios the studies report."""
    row = dict(row)
    row["s1_over_s2"] = _ratio(row["s1_norm"], row["s2_norm"])
    row["sv1_over_sv2"] = _ratio(row["sv1"], row["sv2"])
    row["max_cos_residue"] = max(row["cos_residue_1"], row["cos_residue_2"])
    row["max_cos_spike"] = max(row["cos_spike_1"], row["cos_spike_2"])
    return row


def _ratio(a, b):
    return a / b if b > 0 else math.inf


def _spectrum_rows(result, n_top, labels):
    summary = _summary_columns(result)
    values = result.singular_values[:n_top]
    return [
        {**labels, "sv_index": k + 1, "singular_value": float(v), **summary}
        for k, v in enumerate(values)
    ]


def _curvature(module, X, input_noise, seed):
    """Top eigenvalues of the NTK Gram matrix and of D D^T at the initial weights.

    ``K = gamma^2 (X X^T) o (D D^T)``, D = sigma'(X W^T): the MSE loss (1/n)||f - y||^2 has
    Gauss-Newton curvature ``2 lambda_max(K) / n``. With input noise, at one noise draw.
    """
    net = _host_copy(module)
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float64))
    if input_noise > 0:
        gen = torch.Generator().manual_seed(seed)
        Xt = Xt + input_noise * torch.randn(Xt.shape, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        W = net.weight.detach()
        D = net.activation_derivatives(Xt @ W.T)
        DD = D @ D.T
        K = net.gamma**2 * (Xt @ Xt.T) * DD
        # an overflow (input_noise=1e308): infinite curvature, which _stable_lr names (eigh's
        # "failed to converge ... ill-conditioned" named nothing)
        lam_k = float(torch.linalg.eigvalsh(K)[-1]) if bool(torch.isfinite(K).all()) else math.inf
        lam_d = float(torch.linalg.eigvalsh(DD)[-1]) if bool(torch.isfinite(DD).all()) else math.inf
    return lam_k, lam_d, net.gamma


def _stable_lr(module, X, *, weight_decay=0.0, input_noise=0.0, jacobian_penalty=0.0,
               fraction=1.0, seed=0, curvature=None):
    """``fraction / L``, L the curvature of the regularised MSE loss at the initial weights.

    ``L = 2 lambda_max(K)/n + weight_decay + 2 jacobian_penalty gamma^2 lambda_max(D D^T)/n``
    (the Jacobian term is exact for ReLU and ignores sigma'' for smooth activations).
    Gradient descent on a quadratic of curvature L is stable for lr < 2/L; ``fraction = 1``
    (lr = 1/L) leaves a factor 2 for what the quadratic model misses (sigma'', the curvature
    changing along training). A fit that diverges anyway is reported, not hidden.
    ``curvature``: ``_curvature(module, X, input_noise, seed)``, when the caller has it.
    """
    n = len(X)
    if curvature is None:
        curvature = _curvature(module, X, input_noise, seed)
    lam_k, lam_d, gamma = curvature
    curvature = 2 * lam_k / n + weight_decay + 2 * jacobian_penalty * gamma**2 * lam_d / n
    if not (math.isfinite(curvature) and curvature > 0):
        # (a ZeroDivisionError, or a nan learning rate, before)
        noise = f" with input_noise={input_noise:g}" if input_noise > 0 else ""
        raise ValueError(
            f"the curvature of the loss at the initial weights{noise} is {curvature:g}: every "
            "unit is inactive or saturated on every sample (e.g. tanh at a huge input scale), "
            "so there is no step size lr_fraction / L and no gradient to decompose; lower "
            f"{'input_noise' if noise else 'the input scale'}, or pass lr."
        )
    return fraction / curvature


def _train_and_record(X, y, spike, *, net_params, regularisers, seed, max_epochs,
                      record_epochs, lr, lr_fraction, regularised_records, device):
    """Fit a TwoLayerNetRegressor recording the decomposition along training.

    Returns ``(initial, est, rows, info)``: a copy of the estimator at the initial weights
    (fitted for 0 epochs), the trained estimator, the recorded rows (epoch 0 first; none when
    ``record_epochs`` is None) and ``info`` (the learning rate used, ``diverged``).
    """
    from sklearn.base import clone

    from .. import TwoLayerNetRegressor
    from .._base import recorded_convergence_warnings  # (sklrank._base imports this package)
    from .._interrupts import interrupts_raised
    from ..callbacks import GradientSpectrum

    est = TwoLayerNetRegressor(**net_params, **regularisers, max_epochs=max_epochs,
                               random_state=seed, device=device)
    with recorded_convergence_warnings():  # (the initial weights are wanted: no warning)
        initial = clone(est).set_params(max_epochs=0).fit(X, y)  # same seed, same weights
    info = {"lr": lr, "lr_unregularised": lr}
    if lr is None:
        # the eigenproblems once: only input noise changes them
        clean = _curvature(initial.module_, X, 0.0, seed)
        noise = regularisers.get("input_noise", 0.0)
        base = _stable_lr(initial.module_, X, fraction=lr_fraction, curvature=clean)
        own = _stable_lr(
            initial.module_, X, fraction=lr_fraction, **regularisers,
            curvature=_curvature(initial.module_, X, noise, seed) if noise > 0 else clean,
        ) if regularisers else base
        # the regulariser's own lr only where it needs a smaller one: runs with and without
        # a regulariser then differ in nothing else
        info = {"lr": min(base, own), "lr_unregularised": base}
    record = None
    if record_epochs is not None:
        # X given (float64, as the study has it): every row of a study sees the same data
        record = GradientSpectrum(X=X, y=y, spike=spike, epochs=record_epochs,
                                  regularised=regularised_records, random_state=seed)
    est.set_params(lr=info["lr"],
                   callbacks=[] if record is None else [("gradient_spectrum", record)])
    diverged = False
    caught = []
    try:
        # a Ctrl-C ends the study, not the fit early; a ConvergenceWarning (the loss never
        # moved) goes into the run's rows, and the study issues one counting those runs
        with recorded_convergence_warnings() as caught, interrupts_raised():
            est.fit(X, y)  # a NaN loss or weights raise TrainingDivergedError
    except FloatingPointError as exc:
        diverged = True
        warnings.warn(f"training diverged ({exc}); its rows are marked diverged=True.",
                      RuntimeWarning, stacklevel=3)
    info["diverged"] = diverged
    info["training_warning"] = " ".join(str(warning) for warning in caught)
    if record is None:
        return initial, est, [], info
    rows = [{"epoch": 0, **_summary_columns(record.initial_)}]
    for entry in est.history:
        if "grad_sv1" in entry:
            summary = {k[len("grad_"):]: v for k, v in entry.items() if k.startswith("grad_")}
            rows.append({"epoch": entry["epoch"], **_with_ratios(summary)})
    return initial, est, rows, info


# what a study does that none of its parameters says (df.attrs["protocol"])
_AT_INIT = {"loss": "mse", "weights": "initial"}
_TRAINED = {"loss": "mse", "optimizer": "full-batch gradient descent"}
_TRAINED_SPIKED = {**_TRAINED, "target": "triple_index"}


def _finish(rows, config, sort, protocol):
    """The study's DataFrame: ``attrs["config"]`` holds the study's own parameters as it used
    them (``study(**df.attrs["config"])`` runs it again), ``attrs["protocol"]`` what no
    parameter says (the loss, the optimiser)."""
    df = pd.DataFrame(rows)
    df = df.sort_values(sort, kind="stable").reset_index(drop=True)
    df.attrs["config"] = config
    df.attrs["protocol"] = protocol
    if "training_warning" in df:
        # as noise_sweep does for its points: one warning counting the runs
        from .._base import warn_untrained

        runs = df.drop_duplicates([k for k in sort if k not in ("gradient", "epoch", "sv_index")])
        warn_untrained(runs["training_warning"], "training runs", stacklevel=3)
    return df


# -------------------------------------------------------------------- spectra at init


def _init_spectra(*, n_samples, n_features, n_hidden, alpha, nus, activations, scaling, init,
                  target, n_seeds, n_top, device, verbose, desc, study):
    from ..datasets import make_spiked
    from ..nn import TwoLayerNet

    device = _check_device(device)
    _check_memory(study, n_samples=n_samples, n_features=n_features, n_hidden=n_hidden,
                  n_runs=len(nus) * n_seeds)

    def task(nu, seed):
        X, y, spike = make_spiked(n_samples, n_features, alpha=alpha, nu=nu, target=target,
                                  random_state=seed, return_spike=True)
        rows = []
        for activation in activations:
            net = TwoLayerNet(n_features, n_hidden, scaling=scaling, activation=activation,
                              init=init, spike=spike.q, spike_weight=n_samples**-0.25,
                              random_state=seed).to(device)
            result = gradient_decomposition(net, X, y, spike=spike)
            labels = {"nu": nu, "activation": activation, "seed": seed}
            rows.extend(_spectrum_rows(result, n_top, labels))
        return rows

    jobs = [(nu, seed) for nu in nus for seed in range(n_seeds)]
    rows = _run_all(task, jobs, None, desc, verbose)
    for row in rows:
        row.update(alpha=alpha, scaling=scaling, init=init, n_samples=n_samples,
                   n_features=n_features, n_hidden=n_hidden)
    return rows, device


@validate_params(
    {**_SIZE, **_COMMON, **_INITIAL_SPECTRA, "nu": [Interval(Real, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def activation_study(
    *,
    n_samples=750,
    n_features=1000,
    n_hidden=1250,
    alpha=5 / 9,
    nu=1 / 8,
    activations=ACTIVATIONS,
    scaling="ntk",
    init="sphere",
    target="triple_index",
    n_seeds=5,
    n_top=30,
    device="cpu",
    verbose=0,
):
    """The gradient at initialisation per activation (the paper's Fig. 2).

    For every activation and seed: spiked data ``make_spiked(n_samples, n_features,
    alpha=alpha, nu=nu)``, a fresh :class:`~sklrank.nn.TwoLayerNet` (seeded like the data) and
    :func:`gradient_decomposition` of the MSE loss at its initial weights. The paper reports
    that ReLU suppresses the residue spike S1 compared to smooth activations.

    Parameters
    ----------
    n_samples, n_features, n_hidden : int, default=750, 1000, 1250
        n, d and the width m (the paper's).
    alpha : float, default=5/9
        Bulk eigenvalue decay ``k^-alpha``.
    nu : float, default=1/8
        Spike exponent, ``zeta = n^nu``.
    activations : list of str, default=("relu", "tanh", "sigmoid", "huberized")
        Activations of the network, among "relu", "tanh", "sigmoid" and "huberized".
    scaling : {"ntk", "mean_field"}, default="ntk"
        The network's output scaling: ``1/sqrt(m)`` (NTK) or ``1/m`` (mean field).
    init : {"sphere", "spike"}, default="sphere"
        Initial rows of W; ``"spike"`` correlates them with q (weight ``n^-1/4``).
    target : {"triple_index", "spike"}, default="triple_index"
        The target of :func:`~sklrank.datasets.make_spiked`.
    n_seeds : int, default=5
        Seeds 0 .. n_seeds-1 (data and network), at most 100000.
    n_top : int, default=30
        Singular values kept per decomposition (at most the gradient's
        ``min(n_hidden, n_features)``: a larger value keeps them all).
    device : str, default="cpu"
        Where the networks live (the decomposition itself runs in float64 on the CPU).
    verbose : int, default=0
        A progress bar when > 0.

    Returns
    -------
    df : pandas.DataFrame
        One row per singular value kept (``sv_index`` 1 .. n_top, ``singular_value``) of each
        (activation, seed); the run's summary repeats on its rows: the columns of
        :meth:`GradientDecomposition.summary` plus ``s1_over_s2``, ``sv1_over_sv2``,
        ``max_cos_residue``, ``max_cos_spike``, and the setting (``nu``, ``alpha``,
        ``scaling``, ...). ``df[df.sv_index == 1]`` has one row per run. ``df.attrs["config"]``
        holds the parameters as used (see the module docstring).

    See Also
    --------
    plot_activation_study : Its figure.

    Examples
    --------
    >>> from sklrank.gradients import activation_study
    >>> df = activation_study(n_samples=60, n_features=40, n_hidden=50, n_seeds=2, n_top=5)
    >>> runs = df[df.sv_index == 1]
    >>> sorted(runs.activation.unique()), len(runs)
    (['huberized', 'relu', 'sigmoid', 'tanh'], 8)
    """
    activations = _check_choices(activations, ACTIVATIONS, "activations")
    rows, device = _init_spectra(
        n_samples=n_samples, n_features=n_features, n_hidden=n_hidden, alpha=alpha, nus=[nu],
        activations=activations, scaling=scaling, init=init, target=target, n_seeds=n_seeds,
        n_top=n_top, device=device, verbose=verbose, desc="activations",
        study="activation_study",
    )
    config = dict(n_samples=n_samples, n_features=n_features, n_hidden=n_hidden, alpha=alpha,
                  nu=nu, activations=activations, scaling=scaling, init=init, target=target,
                  n_seeds=n_seeds, n_top=n_top, device=device)
    return _finish(rows, config, ["activation", "seed", "sv_index"], _AT_INIT)


@validate_params(
    {**_SIZE, **_COMMON, **_INITIAL_SPECTRA, "nus": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def spike_strength_study(
    *,
    n_samples=750,
    n_features=1000,
    n_hidden=1250,
    alpha=0.0,
    nus=(0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45),
    activations=ACTIVATIONS,
    scaling="ntk",
    init="sphere",
    target="triple_index",
    n_seeds=3,
    n_top=20,
    device="cpu",
    verbose=0,
):
    """The gradient at initialisation against the spike exponent nu (the two regimes).

    As :func:`activation_study`, over several ``nus``: the paper reports one residue-aligned
    spike for nu < 1/4 and an approximately rank-two gradient for 1/4 <= nu < 1/2.

    Parameters
    ----------
    n_samples, n_features, n_hidden : int, default=750, 1000, 1250
        n, d and the width m: samples, features of the spiked data and hidden units.
    alpha : float, default=0.0
        Bulk eigenvalue decay (0: isotropic).
    nus : array-like of float, default=(0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
        Spike exponents, each >= 0.
    activations : list of str, default=("relu", "tanh", "sigmoid", "huberized")
        Activations of the network, among "relu", "tanh", "sigmoid" and "huberized".
    scaling : {"ntk", "mean_field"}, default="ntk"
        The network's output scaling, as in :func:`activation_study`.
    init : {"sphere", "spike"}, default="sphere"
        Initial rows of W, as in :func:`activation_study`.
    target : {"triple_index", "spike"}, default="triple_index"
        The target of :func:`~sklrank.datasets.make_spiked`.
    n_seeds : int, default=3
        Seeds 0 .. n_seeds-1 (data and network), at most 100000.
    n_top : int, default=20
        Singular values kept per decomposition (at most the gradient's
        ``min(n_hidden, n_features)``: a larger value keeps them all).
    device : str, default="cpu"
        Where the networks live ("cpu", "cuda", "cuda:N"); the decomposition itself runs in
        float64 on the CPU.
    verbose : int, default=0
        A progress bar when > 0.

    Returns
    -------
    df : pandas.DataFrame
        As :func:`activation_study`, one block per ``nu``.

    See Also
    --------
    plot_spike_strength_study : Its figure.

    Examples
    --------
    >>> from sklrank.gradients import spike_strength_study
    >>> df = spike_strength_study(n_samples=60, n_features=40, n_hidden=50, nus=[0.1, 0.4],
    ...                           activations=["relu"], n_seeds=1, n_top=3)
    >>> df.groupby("nu").size().tolist()
    [3, 3]
    """
    activations = _check_choices(activations, ACTIVATIONS, "activations")
    nus = _check_reals(nus, "nus")
    rows, device = _init_spectra(
        n_samples=n_samples, n_features=n_features, n_hidden=n_hidden, alpha=alpha, nus=nus,
        activations=activations, scaling=scaling, init=init, target=target, n_seeds=n_seeds,
        n_top=n_top, device=device, verbose=verbose, desc="spike strength",
        study="spike_strength_study",
    )
    config = dict(n_samples=n_samples, n_features=n_features, n_hidden=n_hidden, alpha=alpha,
                  nus=nus, activations=activations, scaling=scaling, init=init, target=target,
                  n_seeds=n_seeds, n_top=n_top, device=device)
    return _finish(rows, config, ["nu", "activation", "seed", "sv_index"], _AT_INIT)


# ----------------------------------------------------------------------- regularisers


@validate_params(
    {
        **_SIZE,
        **_COMMON,
        **_TRAINING,
        "settings": ["array-like"],
        "strengths": [dict, None],
        "scalings": ["array-like", str],
        "activations": ["array-like", str],
        "record_epochs": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def regulariser_study(
    *,
    n_samples=750,
    n_features=1000,
    n_hidden=1250,
    settings=DEFAULT_SETTINGS,
    strengths=None,
    scalings=("ntk", "mean_field"),
    activations=("relu", "tanh"),
    n_seeds=2,
    max_epochs=50,
    record_epochs=_REGULARISER_RECORD_EPOCHS,
    lr=None,
    lr_fraction=1.0,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """Weight decay, input noise and the Jacobian penalty over strengths (the paper's Fig. 7).

    For every setting ``(alpha, nu)``, scaling, activation and seed, one network is trained
    with no regulariser and one per (regulariser, strength), all from the same initial
    weights on the same data (full-batch GD, MSE loss, triple-index target). Two gradients are
    recorded:

    * ``gradient="regularised"`` at ``epoch=0``: the gradient of the regularised loss at the
      initial weights (weight decay and the Jacobian penalty add their own gradient, which sits
      in E; input noise enters through one noise draw, part of the bulk). Its components along
      the residue direction and q, ``residue_component`` and ``spike_component``, show the
      direct effect (S1 and S2 themselves do not change with weight decay or the penalty at
      fixed weights);
    * ``gradient="data"`` at epoch 0, ``record_epochs`` and ``max_epochs``: the data-loss
      gradient at the clean inputs, at the weights training with the regulariser reached; its
      ``s1_norm`` and ``s2_norm`` show the effect through training.

    :func:`regulariser_effects` turns the result into ratios to the unregularised run.

    Parameters
    ----------
    n_samples, n_features, n_hidden : int, default=750, 1000, 1250
        n, d and the width m: samples, features of the spiked data and hidden units.
    settings : sequence of (alpha, nu), default=((8/9, 1/8), (0, 0.35))
        The paper's setting of its Fig. 7, and the isotropic setting of the earlier study.
    strengths : dict or None, default=None
        ``{regulariser: strengths}`` for regularisers among "weight_decay", "input_noise" and
        "jacobian_penalty"; None: weight decay (0.02, 0.2, 2), input noise std (0.1, 1, 10)
        and Jacobian penalty (0.1, 1, 10), a decade either side of the earlier study's values.
    scalings : list of {"ntk", "mean_field"}, default=("ntk", "mean_field")
        The output scalings to run, each with every activation.
    activations : list of str, default=("relu", "tanh")
        Activations of the network, among "relu", "tanh", "sigmoid" and "huberized".
    n_seeds : int, default=2
        Seeds 0 .. n_seeds-1 (data and network), at most 100000.
    max_epochs : int, default=50
        Full-batch gradient steps, at most 1000000 (14 hours a run at the paper's sizes,
        about 50 ms an epoch on one thread).
    record_epochs : sequence of int or None, default=(10,)
        Epochs (besides 0 and max_epochs) at which the data gradient is recorded; None:
        about ten, evenly spaced on a log scale.
    lr : float or None, default=None
        Learning rate of every run. None: ``lr_fraction / L`` with L the curvature of the
        unregularised loss at the initial weights (see the module docstring), lowered only for
        a run whose regulariser adds curvature beyond that (column ``lr``).
    lr_fraction : float in (0, 1], default=1.0
        The fraction of the stable step ``1 / L`` used when ``lr`` is None.
    device : str, default="cpu"
        Where the networks train.
    n_jobs : int or None, default=None
        Runs in parallel with joblib (one torch and BLAS thread each); None (or 1) runs them
        one by one in this process, with its torch and BLAS threads. The numbers are
        bitwise the same when this process runs one thread (``torch.set_num_threads(1)``
        and ``threadpoolctl.threadpool_limits(1)``, as ``sklrank gradients`` does by
        default); with more threads they may differ in the last bits (about 1e-14 relative
        in float64), as float reductions split over threads do.
    verbose : int, default=0
        A progress bar when > 0.

    Returns
    -------
    df : pandas.DataFrame
        One row per (setting, scaling, activation, regulariser, strength, seed, gradient,
        epoch), with ``alpha``, ``nu``, ``scaling``, ``activation``, ``regulariser`` ("none"
        or a name), ``strength`` (0 for "none"), ``seed``, ``gradient``, ``epoch``, ``lr``,
        ``diverged``, ``training_warning`` (the message of a fit whose loss never moved or
        rose, else empty; the study then issues one ConvergenceWarning counting those runs)
        and the summary columns (``s1_norm``, ``s2_norm``, ``s1_over_s2``,
        ``residue_component``, ``spike_component``, ``loss``, ...).

    See Also
    --------
    regulariser_effects : Ratios to the unregularised run, and whether each claim holds.
    plot_regulariser_study : Its figure.

    Examples
    --------
    >>> from sklrank.gradients import regulariser_study, regulariser_effects
    >>> df = regulariser_study(n_samples=40, n_features=30, n_hidden=40,
    ...                        settings=[(0.0, 0.35)], strengths={"weight_decay": [0.1]},
    ...                        scalings=["ntk"], activations=["tanh"], n_seeds=1,
    ...                        max_epochs=4, record_epochs=[2])
    >>> sorted(df.regulariser.unique()), sorted(df.epoch.unique().tolist())
    (['none', 'weight_decay'], [0, 2, 4])
    >>> effects = regulariser_effects(df)
    >>> sorted(effects.when.unique())
    ['init', 'trained']
    """
    settings = _check_settings(settings)
    strengths = _check_strengths(strengths)
    scalings = _check_choices(scalings, ("ntk", "mean_field"), "scalings")
    activations = _check_choices(activations, ACTIVATIONS, "activations")
    record_epochs = _check_record_epochs(record_epochs, max_epochs,
                                         default=_REGULARISER_RECORD_EPOCHS)
    device = _check_device(device)
    runs = [("none", 0.0)] + [(name, s) for name, values in strengths.items() for s in values]
    jobs = [
        (alpha, nu, scaling, activation, seed, regulariser, strength)
        for alpha, nu in settings
        for scaling in scalings
        for activation in activations
        for seed in range(n_seeds)
        for regulariser, strength in runs
    ]
    _check_memory("regulariser_study", n_samples=n_samples, n_features=n_features,
                  n_hidden=n_hidden, n_runs=len(jobs), n_jobs=n_jobs, trains=True, lr=lr,
                  jacobian="jacobian_penalty" in strengths)

    def task(alpha, nu, scaling, activation, seed, regulariser, strength):
        from ..datasets import make_spiked

        X, y, spike = make_spiked(n_samples, n_features, alpha=alpha, nu=nu,
                                  random_state=seed, return_spike=True)
        regularisers = {} if regulariser == "none" else {regulariser: strength}
        initial, _, rows, info = _train_and_record(
            X, y, spike, net_params={"n_hidden": n_hidden, "scaling": scaling,
                                     "activation": activation},
            regularisers=regularisers, seed=seed, max_epochs=max_epochs,
            record_epochs=record_epochs, lr=lr, lr_fraction=lr_fraction,
            regularised_records=False, device=device,
        )
        for row in rows:
            row["gradient"] = "data"
        # the direct effect: the regularised loss's gradient at the initial weights (for
        # "none" it is the data gradient at epoch 0)
        if regulariser == "none":
            direct = {**rows[0], "gradient": "regularised"}
        else:
            result = gradient_decomposition(initial, X, y, spike=spike, random_state=seed)
            direct = {"epoch": 0, **_summary_columns(result), "gradient": "regularised"}
        labels = {"alpha": alpha, "nu": nu, "scaling": scaling, "activation": activation,
                  "regulariser": regulariser, "strength": strength, "seed": seed, **info}
        return [{**labels, **row} for row in [direct, *rows]]

    rows = _run_all(task, jobs, n_jobs, "regularisers", verbose)
    config = dict(n_samples=n_samples, n_features=n_features, n_hidden=n_hidden,
                  settings=[list(s) for s in settings], strengths=strengths, scalings=scalings,
                  activations=activations, n_seeds=n_seeds, max_epochs=max_epochs,
                  record_epochs=record_epochs, lr=lr, lr_fraction=lr_fraction, device=device,
                  n_jobs=n_jobs)
    return _finish(rows, config, ["alpha", "nu", "scaling", "activation", "regulariser",
                                  "strength", "seed", "gradient", "epoch"], _TRAINED_SPIKED)


def _check_settings(settings):
    try:
        pairs = [tuple(float(v) for v in pair) for pair in settings]
    except (TypeError, ValueError):
        pairs = None
    if not pairs or any(
        len(p) != 2 or not all(math.isfinite(v) and v >= 0 for v in p) for p in pairs
    ):
        raise ValueError(
            "settings must be a non-empty list of (alpha, nu) pairs of finite numbers >= 0, "
            f"got {settings!r}."
        )
    return _refuse_repeats([(a + 0.0, nu + 0.0) for a, nu in pairs], "settings")


def _check_strengths(strengths):
    if strengths is None:
        return {name: list(values) for name, values in DEFAULT_STRENGTHS.items()}
    bad = [name for name in strengths if name not in REGULARISERS]
    if bad or not strengths:
        raise ValueError(
            f"strengths must map regularisers among {list(REGULARISERS)} to lists of "
            f"strengths, got keys {list(strengths)}."
        )
    return {
        name: _check_reals(values, f"strengths[{name!r}]", strict_low=True)
        for name, values in strengths.items()
    }


_EFFECT_KEYS = ["alpha", "nu", "scaling", "activation", "seed"]


def regulariser_effects(df, epoch=None):
    """Each regulariser's effect relative to the unregularised run, and whether the claim holds.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`regulariser_study` (or its CSV read back).
    epoch : int or None, default=None
        The epoch of the "trained" comparison; None: the last one recorded.

    Returns
    -------
    effects : pandas.DataFrame
        One row per (alpha, nu, scaling, activation, regulariser, strength, seed, when, term):
        ``when`` is "init" (the regularised loss's gradient at the initial weights; terms are
        its components along the residue direction, ``S1``, and along q, ``S2``) or "trained"
        (the data gradient at the weights reached after ``epoch`` steps; terms are ||S1|| and
        ||S2||); ``term`` is "S1", "S2" or "S1/S2"; ``value`` and ``reference`` (the
        unregularised run, same seed and setting), ``ratio = value / reference``;
        ``claimed`` ("lower" / "higher" for the term the paper makes a claim about, else
        "") and ``holds`` (the ratio is on the claimed side of 1; NaN where no claim);
        ``untrained``: True where ``when`` is "trained" and the run or its unregularised
        reference did not train (a non-empty ``training_warning``: its loss never moved or
        rose), so that the ratio compares no trained weights. Such rows are kept, as the
        study keeps the run's rows; ``sklrank gradients``' table and
        :func:`plot_regulariser_study` leave them out of the means and ranges over seeds
        (the figure crosses them out).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklrank.gradients import regulariser_effects
    >>> base = dict(alpha=0.0, nu=0.35, scaling="ntk", activation="relu", seed=0,
    ...             diverged=False, residue_component=2.0, spike_component=1.0)
    >>> df = pd.DataFrame([
    ...     dict(base, regulariser="none", strength=0.0, gradient="data", epoch=5,
    ...          s1_norm=1.0, s2_norm=1.0),
    ...     dict(base, regulariser="weight_decay", strength=0.1, gradient="data", epoch=5,
    ...          s1_norm=0.5, s2_norm=1.0)])
    >>> effects = regulariser_effects(df)
    >>> effects.loc[effects.term == "S1", ["ratio", "claimed", "holds"]].to_numpy().tolist()
    [[0.5, 'lower', True]]
    """
    # (imported here: sklrank._base imports the callbacks, which import this package)
    from .._base import did_not_train

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be the DataFrame of regulariser_study, got {type(df)}.")
    needed = set(_EFFECT_KEYS) | {"regulariser", "strength", "gradient", "epoch", "s1_norm",
                                  "s2_norm", "residue_component", "spike_component"}
    missing = sorted(needed - set(df.columns))
    if missing:
        raise ValueError(f"df lacks the columns {missing}; pass the output of regulariser_study.")
    if not (df.regulariser == "none").any():
        raise ValueError("df has no unregularised runs (regulariser == 'none') to compare with.")
    data = df[df.gradient == "data"]
    if epoch is None:
        epoch = int(data.epoch.max()) if len(data) else 0
    parts = []
    for when, gradient, at, terms in (
        ("init", "regularised", 0, ("residue_component", "spike_component")),
        ("trained", "data", epoch, ("s1_norm", "s2_norm")),
    ):
        sub = df[(df.gradient == gradient) & (df.epoch == at)]
        if sub.empty:
            continue
        values = sub.assign(S1=sub[terms[0]], S2=sub[terms[1]])
        values["S1/S2"] = values.S1 / values.S2
        # at initialisation nothing has trained yet: only the comparison after training
        # depends on whether the run (or its reference) trained
        values["untrained"] = did_not_train(values) if when == "trained" else False
        long = values.melt(
            id_vars=_EFFECT_KEYS + ["regulariser", "strength", "untrained"],
            value_vars=["S1", "S2", "S1/S2"], var_name="term", value_name="value",
        )
        ref = long[long.regulariser == "none"].drop(columns=["regulariser", "strength"])
        ref = ref.rename(columns={"value": "reference", "untrained": "reference_untrained"})
        merged = long[long.regulariser != "none"].merge(ref, on=_EFFECT_KEYS + ["term"])
        merged["untrained"] = merged.pop("untrained") | merged.pop("reference_untrained")
        parts.append(merged.assign(when=when, epoch=at))
    if not parts:
        raise ValueError(f"df has no rows at epoch 0 or at epoch={epoch}.")
    out = pd.concat(parts, ignore_index=True)
    out["ratio"] = out.value / out.reference
    claim = out.regulariser.map(lambda r: CLAIMS.get(r, ("", ""))[0])
    direction = out.regulariser.map(lambda r: CLAIMS.get(r, ("", ""))[1])
    out["claimed"] = np.where(out.term == claim, direction, "")
    holds = np.where(out.claimed == "lower", out.ratio < 1, out.ratio > 1).astype(object)
    holds[(out.claimed == "").to_numpy() | ~np.isfinite(out.ratio.to_numpy())] = np.nan
    out["holds"] = holds
    return out.sort_values(_EFFECT_KEYS[:4] + ["regulariser", "strength", "when", "term",
                                               "seed"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------- training


@validate_params(
    {
        **_SIZE,
        **_COMMON,
        **_TRAINING,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "nus": ["array-like"],
        "activations": ["array-like", str],
        "record_epochs": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def training_study(
    *,
    n_samples=750,
    n_features=1000,
    n_hidden=1250,
    alpha=0.0,
    nus=(1 / 8, 3 / 8),
    activations=("relu", "tanh"),
    scaling="ntk",
    n_seeds=3,
    max_epochs=150,
    record_epochs=None,
    lr=None,
    lr_fraction=1.0,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """The decomposition along training in both spike regimes (the paper's Fig. 6).

    For every nu (by default one below 1/4 and one in [1/4, 1/2)), activation and seed a
    :class:`~sklrank.TwoLayerNetRegressor` is trained by full-batch gradient descent on
    spiked data with :class:`~sklrank.callbacks.GradientSpectrum` recording the
    decomposition of the training gradient at epoch 0 and at ``record_epochs``: the top-2
    share, s1/s2, the stable rank of G and the alignments show whether and when the
    gradient's rank changes.

    Parameters
    ----------
    n_samples, n_features, n_hidden : int, default=750, 1000, 1250
        n, d and the width m: samples, features of the spiked data and hidden units.
    alpha : float, default=0.0
        Bulk eigenvalue decay (0: isotropic).
    nus : array-like of float, default=(1/8, 3/8)
        Spike exponents, each >= 0; by default one in each regime.
    activations : list of str, default=("relu", "tanh")
        Activations of the network, among "relu", "tanh", "sigmoid" and "huberized".
    scaling : {"ntk", "mean_field"}, default="ntk"
        The network's output scaling, as in :func:`activation_study`.
    n_seeds : int, default=3
        Seeds 0 .. n_seeds-1 (data and network), at most 100000.
    max_epochs : int, default=150
        Full-batch gradient steps, at most 1000000 (14 hours a run at the paper's sizes,
        about 50 ms an epoch on one thread).
    record_epochs : sequence of int or None, default=None
        Epochs at which the decomposition is recorded (max_epochs always is); None: about
        ten, evenly spaced on a log scale.
    lr : float or None, default=None
        None: ``lr_fraction / L``, L the curvature of the loss at the initial weights.
    lr_fraction : float in (0, 1], default=1.0
        The fraction of the stable step ``1 / L`` used when ``lr`` is None.
    device : str, default="cpu"
        Where the networks train.
    n_jobs : int or None, default=None
        Runs in parallel with joblib (one torch and BLAS thread each); None (or 1) runs them
        one by one in this process, with its torch and BLAS threads. The numbers are
        bitwise the same when this process runs one thread (``torch.set_num_threads(1)``
        and ``threadpoolctl.threadpool_limits(1)``, as ``sklrank gradients`` does by
        default); with more threads they may differ in the last bits (about 1e-14 relative
        in float64), as float reductions split over threads do.
    verbose : int, default=0
        A progress bar when > 0.

    Returns
    -------
    df : pandas.DataFrame
        One row per (nu, activation, seed, epoch): ``regime`` ("nu < 1/4", "1/4 <= nu < 1/2"
        or "nu >= 1/2"), ``lr``, ``diverged``, ``training_warning`` (the message of a fit
        whose loss never moved or rose, else empty; the study then issues one ConvergenceWarning
        counting those runs) and the summary columns (``loss`` is the loss at the recorded
        weights).

    See Also
    --------
    plot_training_study : Its figure.

    Examples
    --------
    >>> from sklrank.gradients import training_study
    >>> df = training_study(n_samples=40, n_features=30, n_hidden=40, activations=["tanh"],
    ...                     n_seeds=1, max_epochs=6, record_epochs=[2])
    >>> df.groupby("nu").epoch.apply(list).tolist()
    [[0, 2, 6], [0, 2, 6]]
    """
    nus = _check_reals(nus, "nus")
    activations = _check_choices(activations, ACTIVATIONS, "activations")
    record_epochs = _check_record_epochs(record_epochs, max_epochs)
    device = _check_device(device)

    def task(nu, activation, seed):
        from ..datasets import make_spiked

        X, y, spike = make_spiked(n_samples, n_features, alpha=alpha, nu=nu,
                                  random_state=seed, return_spike=True)
        _, _, rows, info = _train_and_record(
            X, y, spike, net_params={"n_hidden": n_hidden, "scaling": scaling,
                                     "activation": activation},
            regularisers={}, seed=seed, max_epochs=max_epochs, record_epochs=record_epochs,
            lr=lr, lr_fraction=lr_fraction, regularised_records=True, device=device,
        )
        labels = {"nu": nu, "regime": _regime(nu), "activation": activation, "seed": seed,
                  **info}
        return [{**labels, **row} for row in rows]

    jobs = [(nu, act, seed) for nu in nus for act in activations for seed in range(n_seeds)]
    _check_memory("training_study", n_samples=n_samples, n_features=n_features,
                  n_hidden=n_hidden, n_runs=len(jobs), n_jobs=n_jobs, trains=True, lr=lr)
    rows = _run_all(task, jobs, n_jobs, "training", verbose)
    for row in rows:
        row.update(alpha=alpha, scaling=scaling)
    config = dict(n_samples=n_samples, n_features=n_features, n_hidden=n_hidden, alpha=alpha,
                  nus=nus, activations=activations, scaling=scaling, n_seeds=n_seeds,
                  max_epochs=max_epochs, record_epochs=record_epochs, lr=lr,
                  lr_fraction=lr_fraction, device=device, n_jobs=n_jobs)
    return _finish(rows, config, ["nu", "activation", "seed", "epoch"], _TRAINED_SPIKED)


def _regime(nu):
    if nu < 0.25:
        return "nu < 1/4"
    return "1/4 <= nu < 1/2" if nu < 0.5 else "nu >= 1/2"


# --------------------------------------------------------------------------- real data

# binary targets from the ten classes: +1 for these labels, -1 for the others
DEFAULT_POSITIVE_CLASSES = {"mnist": (0, 2, 4, 6, 8), "cifar10": (0, 1, 8, 9)}
# pixels of an image, the features of features="pixels"
N_PIXELS = {"mnist": 784, "cifar10": 3072}


def _real_features(X, features, n_components, seed):
    """Standardised pixels, or PCA scores scaled to a mean variance of one per component."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if features == "pixels":
        return StandardScaler().fit_transform(X).astype(np.float64)
    if n_components > min(X.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(n_samples, n_pixels) = {min(X.shape)}; "
            "lower it."
        )
    scores = PCA(n_components, random_state=seed).fit_transform(X).astype(np.float64)
    return scores / np.sqrt(np.mean(scores.var(axis=0)))


@validate_params(
    {
        **_COMMON,
        **_TRAINING,
        "datasets": ["array-like", str],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "features": [StrOptions({"pixels", "pca"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "positive_classes": [dict, None],
        "activations": ["array-like", str],
        "n_top": [Interval(Integral, 1, None, closed="left")],
        "data_home": [None, str, os.PathLike],
        "download_if_missing": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def real_data_study(
    *,
    datasets=("mnist", "cifar10"),
    n_samples=750,
    n_hidden=1250,
    features="pixels",
    n_components=100,
    positive_classes=None,
    activations=("relu", "tanh"),
    scaling="ntk",
    n_seeds=3,
    max_epochs=100,
    lr=None,
    lr_fraction=1.0,
    n_top=30,
    data_home=None,
    download_if_missing=True,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """The first-layer gradient on MNIST and CIFAR-10 inputs (the paper's Fig. 8).

    For every data set, activation and seed: ``n_samples`` training images drawn at random
    (seeded), turned into features (standardised pixels, or PCA scores), with the binary
    target +1 for ``positive_classes`` and -1 for the other classes; a
    :class:`~sklrank.TwoLayerNetRegressor` (MSE loss) is decomposed at its initial weights and
    after ``max_epochs`` steps of full-batch gradient descent. The spike is estimated from the
    data (``spike=None``: q is the top principal direction of the features), so
    ``cos_spike_*`` is the alignment of G's top left singular vectors with the data's top
    principal direction and ``cos_residue_*`` with the residue direction ``X_B^T r``.

    Parameters
    ----------
    datasets : list of {"mnist", "cifar10"}, default=("mnist", "cifar10")
        Read with :func:`~sklrank.datasets.fetch_mnist` / :func:`~sklrank.datasets.fetch_cifar10`
        (the training images; the CIFAR-10 subset in the reference data holds 1017).
    n_samples : int, default=750
        Training images drawn per seed (at most the training set; the CIFAR-10 subset
        holds 1017).
    n_hidden : int, default=1250
        Hidden units m of the network.
    features : {"pixels", "pca"}, default="pixels"
        ``"pixels"``: every pixel standardised (:class:`~sklearn.preprocessing.StandardScaler`);
        ``"pca"``: the first ``n_components`` principal components, scaled by one number so
        that their mean variance is one (the decay of the spectrum is kept).
    n_components : int, default=100
        For ``features="pca"``.
    positive_classes : dict or None, default=None
        ``{dataset: labels}`` of the +1 class; None: even digits for MNIST, the vehicles
        (airplane, automobile, ship, truck) for CIFAR-10.
    activations : list of str, default=("relu", "tanh")
        Activations of the network, among "relu", "tanh", "sigmoid" and "huberized".
    scaling : {"ntk", "mean_field"}, default="ntk"
        The network's output scaling, as in :func:`activation_study`.
    n_seeds : int, default=3
        Seeds 0 .. n_seeds-1 (the images drawn and the network), at most 100000.
    max_epochs : int, default=100
        Full-batch gradient steps before the second decomposition, at most 1000000 (14
        hours a run at the paper's sizes, about 50 ms an epoch on one thread).
    lr : float or None, default=None
        None: ``lr_fraction / L``, L the curvature of the loss at the initial weights.
    lr_fraction : float in (0, 1], default=1.0
        The fraction of the stable step ``1 / L`` used when ``lr`` is None.
    n_top : int, default=30
        Singular values kept per decomposition (at most the gradient's
        ``min(n_hidden, n_features)``: a larger value keeps them all).
    data_home : str or path-like, default=None
        Where the data sets are (see :func:`~sklrank.datasets.get_data_home`).
    download_if_missing : bool, default=True
        Passed to the loaders; False fails at once when the files are missing.
    device : str, default="cpu"
        Where the networks train.
    n_jobs : int or None, default=None
        Runs in parallel with joblib (one torch and BLAS thread each); None (or 1) runs them
        one by one in this process, with its torch and BLAS threads. The numbers are
        bitwise the same when this process runs one thread (``torch.set_num_threads(1)``
        and ``threadpoolctl.threadpool_limits(1)``, as ``sklrank gradients`` does by
        default); with more threads they may differ in the last bits (about 1e-14 relative
        in float64), as float reductions split over threads do.
    verbose : int, default=0
        A progress bar when > 0.

    Returns
    -------
    df : pandas.DataFrame
        One row per kept singular value (``sv_index``, ``singular_value``) of each (dataset,
        activation, seed, epoch) with epoch 0 and ``max_epochs``; the summary columns repeat
        on the rows of a decomposition; also ``n_features``, ``lr``, ``diverged``,
        ``training_warning`` (the message of a fit whose loss never moved or rose, else empty; the
        study then issues one ConvergenceWarning counting those runs),
        ``target_mean`` and ``spike_variance_share`` (the share of the features' variance
        along their top principal direction).

    See Also
    --------
    plot_real_data_study : Its figure.

    Examples
    --------
    >>> from sklrank.gradients import real_data_study
    >>> df = real_data_study(datasets=["mnist"], n_samples=60, n_hidden=30, n_seeds=1,
    ...                      activations=["relu"], max_epochs=2, n_top=3)  # doctest: +SKIP
    >>> sorted(df.epoch.unique().tolist())  # doctest: +SKIP
    [0, 2]
    """
    datasets = _check_choices(datasets, ("mnist", "cifar10"), "datasets")
    activations = _check_choices(activations, ACTIVATIONS, "activations")
    device = _check_device(device)
    classes = dict(DEFAULT_POSITIVE_CLASSES)
    if positive_classes is not None:
        bad = [k for k in positive_classes if k not in classes]
        if bad:
            raise ValueError(f"positive_classes keys must be among {list(classes)}, got {bad}.")
        classes.update({k: tuple(int(c) for c in v) for k, v in positive_classes.items()})
    for name in datasets:
        if not classes[name] or not all(0 <= c <= 9 for c in classes[name]):
            raise ValueError(
                f"positive_classes[{name!r}] must be labels among 0..9, got {classes[name]}."
            )

    # the folder the loaders read (data_home, else $SKLRANK_DATA, else scikit-learn's),
    # resolved once: every run, and the config, name the same one
    from ..datasets import get_data_home

    data_home = os.path.abspath(get_data_home(data_home))
    # read each data set once before any training: a missing file fails at once
    for name in datasets:
        _load(name, data_home, n_samples, 0, download_if_missing)
    jobs = [(name, act, seed) for name in datasets for act in activations
            for seed in range(n_seeds)]
    widest = max(datasets, key=N_PIXELS.get)
    n_features = n_components if features == "pca" else N_PIXELS[widest]
    # (after the read: an n_samples above the images is said as such)
    _check_memory(
        "real_data_study", n_samples=n_samples, n_features=n_features, n_hidden=n_hidden,
        n_runs=len(jobs), n_jobs=n_jobs, trains=True, lr=lr,
        features=(f"n_components={n_components} features" if features == "pca" else
                  f"the {n_features} pixels of {widest}"),
        sizes=("n_hidden", "n_samples", "n_components") if features == "pca" else
        ("n_hidden", "n_samples"))

    def task(name, activation, seed):
        X_raw, labels = _load(name, data_home, n_samples, seed, download_if_missing)
        X = _real_features(X_raw, features, n_components, seed)
        y = np.where(np.isin(labels, classes[name]), 1.0, -1.0)
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"the {n_samples} {name} images drawn with seed {seed} are all of one class of "
                "the binary target; draw more samples or change positive_classes."
            )
        initial, est, _, info = _train_and_record(
            X, y, None, net_params={"n_hidden": n_hidden, "scaling": scaling,
                                    "activation": activation},
            # the full spectra are computed below, at the initial and the trained weights
            regularisers={}, seed=seed, max_epochs=max_epochs, record_epochs=None,
            lr=lr, lr_fraction=lr_fraction, regularised_records=True, device=device,
        )
        # the top principal direction's share of the variance: s1^2 / ||X_c||_F^2
        share = 1.0 / stable_rank(X - X.mean(axis=0))
        labels = {"dataset": name, "activation": activation, "seed": seed,
                  "n_features": X.shape[1], "target_mean": float(y.mean()),
                  "spike_variance_share": share, **info}
        rows = []
        for epoch, model in ((0, initial), (max_epochs, est)):
            if epoch and info["diverged"]:
                continue
            result = gradient_decomposition(model, X, y)
            rows.extend(_spectrum_rows(result, n_top, {**labels, "epoch": epoch}))
        return rows

    rows = _run_all(task, jobs, n_jobs, "real data", verbose)
    for row in rows:
        row.update(features=features, scaling=scaling, n_samples=n_samples, n_hidden=n_hidden)
    config = dict(datasets=datasets, n_samples=n_samples, n_hidden=n_hidden, features=features,
                  # (n_components only where it is used: pixels are taken as they are)
                  **({"n_components": n_components} if features == "pca" else {}),
                  positive_classes={k: list(classes[k]) for k in datasets},
                  activations=activations, scaling=scaling, n_seeds=n_seeds,
                  max_epochs=max_epochs, lr=lr, lr_fraction=lr_fraction, n_top=n_top,
                  data_home=data_home, download_if_missing=download_if_missing,
                  device=device, n_jobs=n_jobs)
    protocol = {**_TRAINED, "spike": "top principal direction of the features"}
    return _finish(rows, config, ["dataset", "activation", "seed", "epoch", "sv_index"],
                   protocol)


def _load(name, data_home, n_samples, seed, download_if_missing):
    """n_samples training images drawn with the loader's own seeded subsampling."""
    from ..datasets import fetch_cifar10, fetch_mnist

    loader = fetch_mnist if name == "mnist" else fetch_cifar10
    X, y = loader(data_home, subset="train", n_samples=n_samples, random_state=seed,
                  return_X_y=True, download_if_missing=download_if_missing)
    return np.asarray(X, dtype=np.float64), np.asarray(y)
