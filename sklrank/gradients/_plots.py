"""Figures of the gradient studies: each takes the study's tidy DataFrame and ``axes``.

As seaborn's functions do, every plot draws into the Axes it is given (or a new figure when
``axes=None``) and returns them; the DataFrames are long-form, so ``sns.relplot`` and
friends work on them directly too.
"""

import warnings

import numpy as np
import pandas as pd

from ._studies import CLAIMS, regulariser_effects

__all__ = [
    "plot_activation_study",
    "plot_real_data_study",
    "plot_regulariser_study",
    "plot_spike_strength_study",
    "plot_training_study",
]

_S1_COLOR, _S2_COLOR = "tab:red", "tab:blue"


def _check_frame(df, columns, producer):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame from {producer}, got {type(df)}.")
    missing = sorted(set(columns) - set(df.columns))
    if missing:
        raise ValueError(f"df lacks the columns {missing}; pass the output of {producer}.")
    if df.empty:
        raise ValueError("df is empty: there is nothing to plot.")


def _axes_grid(axes, shape, figsize):
    """``axes`` as a 2-D array of the given shape, or a new figure's."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(*shape, figsize=figsize, squeeze=False, layout="constrained")
        return axes
    flat = np.asarray(axes, dtype=object).ravel()
    if len(flat) != shape[0] * shape[1]:
        raise ValueError(
            f"axes must hold {shape[0] * shape[1]} matplotlib Axes ({shape[0]} x {shape[1]}) "
            f"for this data, got {len(flat)}; or pass axes=None for a new figure."
        )
    return flat.reshape(shape)


def _plain_log_ticks(ax, axis="y"):
    """Log-scale ticks at 1, 2, 5 x 10^k labelled as plain numbers, no minor labels.

    Only for axes spanning less than three decades (call it after drawing); wider ones keep
    matplotlib's powers of ten.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if low <= 0 or high / low > 1e3:
        return
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _after_untrained(df):
    """The rows after training (epoch > 0, where ``df`` has epochs) of the runs that did not
    train (a non-empty ``training_warning``, also as read back from a CSV): their network is
    no trained one. Rows at epoch 0 (the initial weights) are results."""
    from .._base import did_not_train

    flagged = did_not_train(df)
    if "epoch" in df:
        flagged &= df["epoch"] > 0
    return flagged


def _runs_of(df):
    """The number of training runs in ``df`` (one per setting and seed)."""
    keys = [k for k in ("dataset", "alpha", "nu", "scaling", "activation", "regulariser",
                        "strength", "seed") if k in df]
    return len(df.drop_duplicates(keys))


def _cross_out(ax, x, y, n_flagged, n_runs, noun="runs"):
    """Red crosses at the values of the runs that did not train, which the lines and bands
    leave out; their legend label counts them (as the sweep figures do)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(y) & (y > 0 if ax.get_yscale() == "log" else True)
    return ax.scatter(x[keep], y[keep], marker="x", s=60, color="red", linewidths=1.4,
                      zorder=5, label=f"did not train: {n_flagged} of {n_runs} {noun} "
                      "(training_warning; not in the lines)")


def _with_entry(ax, handle, fontsize=7, **kwargs):
    """The Axes' legend with ``handle`` added after its entries (seaborn's, when it drew
    one), or a legend of ``handle`` alone."""
    legend = ax.get_legend()
    handles, labels = [], []
    if legend is not None:
        handles = list(legend.legend_handles)
        labels = [text.get_text() for text in legend.get_texts()]
    ax.legend(handles + [handle], labels + [handle.get_label()], fontsize=fontsize, **kwargs)


def _ordered(values, canonical=("relu", "tanh", "sigmoid", "huberized")):
    """Distinct values, the known activations first in their usual order."""
    values = list(dict.fromkeys(values))
    return [v for v in canonical if v in values] + [v for v in values if v not in canonical]


def _spectrum_panel(ax, runs, n_show, *, label="singular values of G", color="k", ls="-",
                    levels=((_S1_COLOR, "-", "||S1||"), (_S2_COLOR, "--", "||S2||"))):
    """Top ``n_show`` singular values of G (median over seeds, band: min-max over seeds) and
    the levels ||S1||, ||S2|| (median over seeds), each drawn as ``(colour, line style,
    legend label or None)``."""
    from matplotlib.ticker import MaxNLocator

    grouped = runs[runs.sv_index <= n_show].groupby("sv_index").singular_value
    median = grouped.median()
    index = median.index.to_numpy()
    ax.semilogy(index, median.to_numpy(), "o", ls=ls, ms=3, lw=1, color=color, label=label)
    ax.fill_between(index, grouped.min().to_numpy(), grouped.max().to_numpy(), color=color,
                    alpha=0.15, lw=0)
    first = runs[runs.sv_index == 1]
    for column, (level_color, level_ls, level_label) in zip(("s1_norm", "s2_norm"), levels,
                                                            strict=True):
        ax.axhline(first[column].median(), color=level_color, lw=1.2, ls=level_ls,
                   label=level_label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index")
    _plain_log_ticks(ax)


def plot_activation_study(df, axes=None, *, n_show=20):
    """Draw :func:`activation_study`: the spectrum per activation and the S1 share.

    One panel per activation: the top ``n_show`` singular values of G (median over seeds, the
    band spans the seeds) with ||S1|| (red) and ||S2|| (blue, dashed) as levels; a last panel
    compares ||S1|| and ||S2|| with ||E||_2, the part of G that is neither (one dot a seed):
    how far each rank-one term stands out of the rest.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.gradients.activation_study` (or its CSV read back).
    axes : array-like of (n_activations + 1) matplotlib Axes, default=None
        Where to draw; None creates a figure.
    n_show : int, default=20
        Singular values shown.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        The Axes drawn on.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklrank.gradients import activation_study, plot_activation_study
    >>> df = activation_study(n_samples=60, n_features=40, n_hidden=50, n_seeds=2, n_top=5)
    >>> plot_activation_study(df).shape
    (1, 5)
    """
    import seaborn as sns

    _check_frame(df, ["activation", "seed", "sv_index", "singular_value", "s1_norm", "s2_norm",
                      "e_norm"], "activation_study")
    activations = _ordered(df.activation)
    axes = _axes_grid(axes, (1, len(activations) + 1), (3.2 * (len(activations) + 1), 3.3))
    for ax, activation in zip(axes[0], activations, strict=False):
        _spectrum_panel(ax, df[df.activation == activation], n_show)
        ax.set_title(activation, fontsize=10)
    axes[0][0].set_ylabel("singular value")
    axes[0][0].legend(fontsize=7)
    runs = df[df.sv_index == 1]
    ratios = pd.concat([
        runs.assign(term="||S1|| / ||E||", ratio=runs.s1_norm / runs.e_norm),
        runs.assign(term="||S2|| / ||E||", ratio=runs.s2_norm / runs.e_norm),
    ])
    ax = axes[0][-1]
    sns.stripplot(data=ratios, x="activation", y="ratio", hue="term", dodge=True, ax=ax,
                  palette=[_S1_COLOR, _S2_COLOR], size=4, order=activations)
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_ylabel("norm / ||E||_2 (one dot a seed)")
    ax.set_xlabel("")
    ax.legend(fontsize=7)
    ax.set_title("rank-one terms above the rest E", fontsize=10)
    return axes


def plot_spike_strength_study(df, axes=None, *, spectrum_nus=None, n_show=20):
    """Draw :func:`spike_strength_study`: spectra at two nu, and the regime measures vs nu.

    Top row, one panel per activation: the top singular values at each of ``spectrum_nus``
    (seed 0's setting, median over seeds) with ||S1|| and ||S2||. Bottom row: ``|cos|`` of the
    top singular vector with the residue direction, ||P_top2 q||, the top-2 share of
    ||G||_F^2 and ||S1||/||S2|| against nu (band: min-max over seeds); the dotted line is
    nu = 1/4.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.gradients.spike_strength_study`.
    axes : array-like of 2 x max(n_activations, 4) Axes, default=None
        Where to draw, in any shape holding that many Axes (panels left over are switched
        off); None creates a figure.
    spectrum_nus : sequence of float, default=None
        The nu values of the spectra; None: the smallest and the largest.
    n_show : int, default=20
        Singular values shown in each spectrum.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (2, max(n_activations, 4))
        The Axes drawn on, as a 2-D array.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklrank.gradients import spike_strength_study, plot_spike_strength_study
    >>> df = spike_strength_study(n_samples=60, n_features=40, n_hidden=50, nus=[0.1, 0.4],
    ...                           activations=["relu"], n_seeds=1, n_top=5)
    >>> plot_spike_strength_study(df).shape
    (2, 4)
    """
    import seaborn as sns

    _check_frame(df, ["nu", "activation", "seed", "sv_index", "singular_value", "s1_norm",
                      "s2_norm", "cos_residue_1", "spike_in_top2", "top2_share"],
                 "spike_strength_study")
    activations = _ordered(df.activation)
    nus = sorted(df.nu.unique())
    spectrum_nus = [nus[0], nus[-1]] if spectrum_nus is None else list(spectrum_nus)
    missing = [v for v in spectrum_nus if v not in nus]
    if missing:
        raise ValueError(f"spectrum_nus {missing} are not in df (its nu values: {nus}).")
    width = max(len(activations), 4)
    axes = _axes_grid(axes, (2, width), (3.3 * width, 6.4))
    styles = ["-", ":", "--", "-."]
    for ax, activation in zip(axes[0], activations, strict=False):
        for k, nu in enumerate(spectrum_nus):
            ls = styles[k % len(styles)]
            _spectrum_panel(ax, df[(df.activation == activation) & (df.nu == nu)], n_show,
                            label=f"G, nu={nu:g}", ls=ls,
                            levels=((_S1_COLOR, ls, f"||S1||, nu={nu:g}"),
                                    (_S2_COLOR, ls, f"||S2||, nu={nu:g}")))
        ax.set_title(activation, fontsize=10)
    for ax in axes[0][len(activations):]:
        ax.set_axis_off()
    axes[0][0].set_ylabel("singular value")
    axes[0][0].legend(fontsize=6)
    runs = df[df.sv_index == 1].assign(s1_over_s2=lambda d: d.s1_norm / d.s2_norm)
    measures = [("cos_residue_1", "|cos(u1, X_B^T r)|"), ("spike_in_top2", "||P_top2 q||"),
                ("top2_share", "top-2 share of ||G||_F^2"), ("s1_over_s2", "||S1|| / ||S2||")]
    for ax, (column, label) in zip(axes[1], measures, strict=False):
        sns.lineplot(data=runs, x="nu", y=column, hue="activation", marker="o", ax=ax,
                     errorbar=("pi", 100), hue_order=activations)
        ax.axvline(0.25, color="gray", lw=0.8, ls=":")
        ax.set_ylabel(label)
        if column == "s1_over_s2":
            ax.set_yscale("log")
            _plain_log_ticks(ax)
            ax.axhline(1.0, color="gray", lw=0.8)
        if ax is not axes[1][0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in axes[1][len(measures):]:
        ax.set_axis_off()
    return axes


def plot_regulariser_study(df, axes=None, *, epoch=None):
    """Draw :func:`regulariser_study`: each claimed effect against the strength.

    One row per regulariser, one column per (setting, scaling): the ratio to the
    unregularised run of the term the paper makes a claim about (weight decay: S1; input
    noise and Jacobian penalty: S2), at initialisation (dashed: the regularised loss's
    gradient along the residue direction / q) and after training (solid: ||S1|| / ||S2|| of
    the data gradient at the weights reached); one line per activation, the band spans the
    seeds. The shaded side of 1 is the side the paper claims. A ratio after training of a run
    that did not train, or whose unregularised run did not (``untrained`` in
    :func:`regulariser_effects`), is left out of the lines and bands and drawn as a red
    cross, counted in its panel's legend.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.gradients.regulariser_study`.
    axes : array-like of n_regularisers x n_columns Axes, default=None
        Where to draw: one row per regulariser in ``df``, one column per (setting, scaling);
        None creates a figure.
    epoch : int or None, default=None
        The "trained" epoch; None: the last recorded.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        The Axes drawn on, shape (n_regularisers, n_columns).

    Warns
    -----
    RuntimeWarning
        When ratios of runs that trained are 0, negative, infinite or NaN (a term that
        vanished, or an unregularised term of 0): the log axes have no place for them, so
        they are not drawn; the warning counts them and names one.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklrank.gradients import regulariser_study, plot_regulariser_study
    >>> df = regulariser_study(n_samples=40, n_features=30, n_hidden=40,
    ...                        settings=[(0.0, 0.35)], strengths={"weight_decay": [0.1, 1.0]},
    ...                        scalings=["ntk"], activations=["tanh"], n_seeds=1,
    ...                        max_epochs=3, record_epochs=[1])
    >>> plot_regulariser_study(df).shape
    (1, 1)
    """
    import seaborn as sns

    effects = regulariser_effects(df, epoch=epoch)
    claimed = effects[effects.claimed != ""].copy()
    # the decaying bulk (the paper's setting) first, NTK before mean field
    claimed = claimed.sort_values(["alpha", "nu", "scaling"], ascending=[False, True, False],
                                  kind="stable")
    claimed["column"] = [
        f"alpha={a:.3g}, nu={n:.3g}, {s}"
        for a, n, s in zip(claimed.alpha, claimed.nu, claimed.scaling, strict=True)
    ]
    regularisers = [r for r in CLAIMS if r in set(claimed.regulariser)]
    columns = list(dict.fromkeys(claimed.column))
    axes = _axes_grid(axes, (len(regularisers), len(columns)),
                      (3.6 * len(columns), 3.0 * len(regularisers)))
    activations = _ordered(claimed.activation)
    off_scale = []  # ratios the log axes cannot show
    for i, regulariser in enumerate(regularisers):
        term, direction = CLAIMS[regulariser]
        for j, column in enumerate(columns):
            ax = axes[i][j]
            sub = claimed[(claimed.regulariser == regulariser) & (claimed.column == column)]
            # the ratios after training of runs that did not train (or whose reference did
            # not): crossed out, not in the lines and bands
            n_runs = int((sub.when == "trained").sum())
            flagged = sub[sub.untrained]
            drawable = np.isfinite(sub.ratio) & (sub.ratio > 0)
            off_scale.append(sub[~sub.untrained & ~drawable])
            sub = sub[~sub.untrained & drawable]
            if not sub.empty:
                sns.lineplot(data=sub, x="strength", y="ratio", hue="activation",
                             style="when", style_order=["trained", "init"], markers=True,
                             errorbar=("pi", 100), hue_order=activations, ax=ax)
            ax.set_xscale("log")
            ax.set_yscale("log")
            cross = (_cross_out(ax, flagged.strength, flagged.ratio, len(flagged), n_runs)
                     if len(flagged) else None)
            ax.axhline(1.0, color="k", lw=0.8)
            low, high = ax.get_ylim()
            low, high = min(low, 0.5), max(high, 2.0)
            ax.set_ylim(low, high)
            _plain_log_ticks(ax, "x")
            _plain_log_ticks(ax, "y")
            if direction == "lower":
                ax.axhspan(low, 1.0, color="tab:green", alpha=0.07)
            else:
                ax.axhspan(1.0, high, color="tab:green", alpha=0.07)
            ax.set_title(f"{regulariser}: {column}", fontsize=8)
            ax.set_xlabel(f"{regulariser} strength")
            ax.set_ylabel(f"{term} / unregularised (claim: {direction})", fontsize=8)
            legend = ax.get_legend()
            if legend is not None and (i, j) != (0, 0):
                legend.remove()
            elif legend is not None:
                for text in legend.get_texts():
                    text.set_fontsize(7)
            if cross is not None:  # counted in its own panel's legend
                _with_entry(ax, cross)
    _warn_off_scale(pd.concat(off_scale) if off_scale else claimed.iloc[:0])
    return axes


def _warn_off_scale(rows):
    """Warn of the ratios of trained runs that the log axes leave out (matplotlib drops
    non-positive values without a word; they were filtered out silently)."""
    if rows.empty:
        return
    row = rows.iloc[0]
    warnings.warn(
        f"plot_regulariser_study: {len(rows)} ratio(s) of 0, below 0, infinite or NaN are not "
        f"drawn (the log axes have no place for them), e.g. {row.regulariser} at strength "
        f"{row.strength:g} ({row.activation}, {row.column}, {row.when}): ratio {row.ratio}. "
        "regulariser_effects(df) lists every ratio.",
        RuntimeWarning,
        stacklevel=3,
    )


def plot_training_study(df, axes=None):
    """Draw :func:`training_study`: the gradient's structure against the epoch.

    Eight panels: the training loss, the top-2 share of ||G||_F^2, the stable rank of G, the
    gap s1/s2 between its top two singular values, ||S1||/||S2||, ``|cos|`` of G's top left
    singular vector with the residue direction and with q, and ||P_top2 q||, each against the
    epoch (symmetric log scale, epoch 0 is the initialisation); colour: nu (its regime), line
    style: activation; the band spans the seeds. The rows after training of a run that did
    not train (a non-empty ``training_warning``) are left out of the lines and bands and drawn
    as red crosses, counted in the first panel's legend.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.gradients.training_study`.
    axes : array-like of 8 Axes, default=None
        Where to draw, in any shape holding eight Axes; None creates a figure.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (2, 4)
        The Axes drawn on.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklrank.gradients import training_study, plot_training_study
    >>> df = training_study(n_samples=40, n_features=30, n_hidden=40, activations=["tanh"],
    ...                     n_seeds=1, max_epochs=4, record_epochs=[2])
    >>> plot_training_study(df).shape
    (2, 4)
    """
    import seaborn as sns

    measures = [("loss", "training loss (MSE)", True),
                ("top2_share", "top-2 share of ||G||_F^2", False),
                ("stable_rank", "stable rank of G", True),
                ("sv1_over_sv2", "s1 / s2 (singular values of G)", True),
                ("s1_over_s2", "||S1|| / ||S2||", True),
                ("cos_residue_1", "|cos(u1, X_B^T r)|", False),
                ("cos_spike_1", "|cos(u1, q)|", False),
                ("spike_in_top2", "||P_top2 q||", False)]
    _check_frame(df, ["nu", "activation", "seed", "epoch"] + [m for m, _, _ in measures],
                 "training_study")
    axes = _axes_grid(axes, (2, 4), (16, 7))
    # every nu with its regime (only nu < 1/4 was named: nu = 3/8 and 0.6 read alike)
    from ._studies import _regime

    data = df.assign(nu=df.nu.map(lambda v: f"nu={v:.3g} ({_regime(v)})"))
    # the rows after training of runs that did not train: crossed out, not in the lines
    flagged = _after_untrained(data)
    n_flagged = _runs_of(data[flagged])
    for ax, (column, label, log) in zip(axes.ravel(), measures, strict=True):
        sns.lineplot(data=data[~flagged], x="epoch", y=column, hue="nu", style="activation",
                     markers=True, errorbar=("pi", 100), ax=ax, markersize=4)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        cross = (_cross_out(ax, data.epoch[flagged], data[column][flagged], n_flagged,
                            _runs_of(data)) if n_flagged else None)
        # after the crosses: set_xlim stops autoscaling, and with no run trained the lines
        # end at epoch 0, which left every cross beyond the axis
        ax.set_xlim(left=0)
        if log:
            _plain_log_ticks(ax)
        if column in ("s1_over_s2", "sv1_over_sv2"):
            ax.axhline(1.0, color="gray", lw=0.8)
        if ax is not axes[0][0] and ax.get_legend() is not None:
            ax.get_legend().remove()
        elif cross is not None:  # counted in the first panel's legend
            _with_entry(ax, cross, fontsize=None)
    return axes


def plot_real_data_study(df, axes=None, *, n_show=20):
    """Draw :func:`real_data_study`: the spectra before and after training, and alignments.

    One row per data set: the top singular values of G at initialisation and after training
    (one colour per activation, median over seeds, the band spans the seeds; ||S1|| and
    ||S2|| of the first activation as levels), and a panel of the top-2 share and the
    largest ``|cos|`` of G's top two left singular vectors with the residue direction and with
    the data's top principal direction. A run that diverged has its initial rows only; where
    every run of a data set diverged, its "after training" panel says so. A run that did not
    train (a non-empty ``training_warning``) is left out after training: its singular values
    are red crosses, counted in the legend, and it is not in the bars.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.gradients.real_data_study`.
    axes : array-like of n_datasets x 3 Axes, default=None
        Where to draw: one row per data set in ``df``; None creates a figure.
    n_show : int, default=20
        Singular values shown in each spectrum.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (n_datasets, 3)
        The Axes drawn on.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklrank.gradients import real_data_study, plot_real_data_study
    >>> df = real_data_study(datasets=["mnist"], n_samples=60, n_hidden=30, n_seeds=1,
    ...                      activations=["relu"], max_epochs=2, n_top=3)  # doctest: +SKIP
    >>> plot_real_data_study(df).shape  # doctest: +SKIP
    (1, 3)
    """
    import seaborn as sns

    _check_frame(df, ["dataset", "activation", "seed", "epoch", "sv_index", "singular_value",
                      "s1_norm", "s2_norm", "top2_share", "max_cos_residue", "max_cos_spike"],
                 "real_data_study")
    datasets = _ordered(df.dataset, ("mnist", "cifar10"))
    activations = _ordered(df.activation)
    axes = _axes_grid(axes, (len(datasets), 3), (14, 3.6 * len(datasets)))
    colors = sns.color_palette("Paired", 2 * len(activations))[1::2]
    palette = dict(zip(activations, colors, strict=True))
    # the trained rows' epoch (a run that diverged has its initial rows only)
    trained = df.epoch[df.epoch > 0]
    final = trained.max() if len(trained) else None
    for row, dataset in zip(axes, datasets, strict=True):
        sub = df[df.dataset == dataset]
        # the rows after training of runs that did not train: crossed out, not in the
        # medians, bands and bars
        flagged = _after_untrained(sub)
        n_features = int(sub.n_features.iloc[0]) if "n_features" in sub else None
        after = "after training" if final is None else f"after {final} epochs"
        for ax, epoch, when in ((row[0], 0, "at initialisation"), (row[1], final, after)):
            at = sub[(sub.epoch == epoch) & ~flagged]
            crossed = sub[(sub.epoch == epoch) & flagged & (sub.sv_index <= n_show)]
            if at.empty:
                # every run of this data set diverged or did not train: no spectrum after
                # training (the panel was blank, or, when no run of df trained, showed the
                # initial spectra as "after 0 epochs")
                why = ("every run diverged" if "diverged" in sub and sub.diverged.all()
                       else "no run trained (training_warning)" if len(crossed)
                       else "df has no rows after training")
                ax.text(0.5, 0.5, f"no trained run:\n{why}", ha="center", va="center",
                        transform=ax.transAxes)
                ax.set(xticks=[], yticks=[])
                ax.set_title(f"{dataset} (d={n_features}): G {when}", fontsize=9)
                continue
            for activation in activations:
                runs = at[at.activation == activation]
                if runs.empty:
                    continue
                color = palette[activation]
                _spectrum_panel(ax, runs, n_show, label=activation, color=color,
                                levels=((color, "--", None), (color, ":", None)))
            if len(crossed):
                _cross_out(ax, crossed.sv_index, crossed.singular_value,
                           _runs_of(crossed), _runs_of(sub))
            ax.set_title(f"{dataset} (d={n_features}): G {when}", fontsize=9)
            ax.set_ylabel("singular value (--: ||S1||, ..: ||S2||)", fontsize=8)
            ax.legend(fontsize=7)
        runs = sub[(sub.sv_index == 1) & ~flagged].assign(
            when=lambda d: np.where(d.epoch == 0, "init", "trained"))
        long = runs.melt(id_vars=["activation", "seed", "when"],
                         value_vars=["top2_share", "max_cos_residue", "max_cos_spike"],
                         var_name="measure", value_name="value")
        long["group"] = long.activation + ", " + long.when
        groups = [f"{a}, {w}" for a in activations for w in ("init", "trained")]
        sns.barplot(data=long, x="measure", y="value", hue="group", ax=row[2],
                    hue_order=groups, palette=sns.color_palette("Paired", len(groups)),
                    errorbar=("pi", 100))
        row[2].set_ylim(0, 1.3)
        row[2].set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        row[2].set_xticks(row[2].get_xticks(),
                          ["top-2 share", "|cos| residue", "|cos| top PC"], fontsize=8)
        row[2].set_xlabel("")
        row[2].legend(fontsize=7, ncol=2, loc="upper center")
        row[2].set_title(f"{dataset}: alignments of G's top-2 left singular vectors", fontsize=9)
    return axes
