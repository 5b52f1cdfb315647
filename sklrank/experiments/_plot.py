"""Figures of the experiments: the noise sweep, and the sample-size study.

Both functions take the tidy table their experiment returns (one row per fit) and, as
seaborn's axes-level functions do, draw into the Axes they are given (``ax`` for the main
panel, ``axes`` for all panels) and return the Axes they drew on.
"""

import math
import warnings

import numpy as np
import pandas as pd

__all__ = ["plot_noise_sweep", "plot_sample_size_study"]

_RANKS = {
    "data_stable_rank": "data",
    "patch_stable_rank": "patches",
    "filter_stable_rank": "filters",
}
_ACCURACIES = {"train_accuracy": "train", "test_accuracy": "test"}
# The line styles that tell the data sets of a sample-size figure apart, in order: seaborn's
# default dash sequence (``lineplot(..., style=..., dashes=True)``), first fifteen, as
# (on, off, ...) lengths in line widths; "" is a solid line. Written out here: seaborn makes
# them with a private function (``seaborn._base.unique_dashes``), which may change or go.
_DASHES = (
    "", (4, 1.5), (1, 1), (3, 1.25, 1.5, 1.25), (5, 1, 1, 1),
    (3, 1.25, 1.25, 1.25, 1.25, 1.25), (4, 1, 4, 1, 1, 1), (3, 1.25, 3, 1.25, 1.25, 1.25),
    (4, 1, 1, 1, 1, 1), (3, 1.25, 1.25, 1.25, 1.25, 1.25, 1.25, 1.25),
    (4, 1, 4, 1, 4, 1, 1, 1), (3, 1.25, 3, 1.25, 1.25, 1.25, 1.25, 1.25),
    (4, 1, 4, 1, 1, 1, 1, 1), (3, 1.25, 3, 1.25, 3, 1.25, 1.25, 1.25),
    (4, 1, 1, 1, 1, 1, 1, 1),
)


def _minor_label(value, _):
    if value <= 0:
        return ""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:g}" if any(np.isclose(mantissa, m) for m in (2, 3, 5)) else ""


def _log_scale(ax):
    """A log y scale labelled with plain numbers (2, 5, 20 rather than 2 x 10^0)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))


def _size_axis(ax, sizes, log_x):
    """The training-set sizes as the x ticks, on a log scale when asked."""
    from matplotlib.ticker import NullFormatter

    if log_x:
        ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:g}" for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training samples n")


def _check_frame(df, required, producer):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame from {producer}, got {type(df)}.")
    missing = sorted(required - set(df.columns))
    if missing:
        raise ValueError(f"df lacks the columns {missing}; pass the output of {producer}.")
    if df.empty:
        raise ValueError("df is empty: there is nothing to plot.")
    numeric = sorted(c for c in required if c != "dataset")
    bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise ValueError(f"df's columns {bad} must be numeric; pass the output of {producer}.")
    df = df.copy()
    if "dataset" not in df.columns:
        df["dataset"] = "data"
    return df


def _check_axes(ax, axes, n_panels):
    """The caller's Axes as a list (``ax``: the first panel only), or None to create them."""
    from matplotlib.axes import Axes

    if ax is not None and axes is not None:
        raise ValueError("pass ax (the main panel only) or axes (every panel), not both.")
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}.")
        return [ax]
    if axes is not None:
        flat = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(flat) != n_panels or not all(isinstance(a, Axes) for a in flat):
            raise ValueError(
                f"axes must be {n_panels} matplotlib Axes, got {len(flat)} item(s)."
            )
        return flat
    return None


def _single_dataset(df, given):
    datasets = list(dict.fromkeys(df["dataset"]))
    if given is not None and len(datasets) != 1:
        raise ValueError(
            f"ax / axes draw one data set; df holds {datasets}: select one, e.g. "
            f"df[df['dataset'] == {datasets[0]!r}]."
        )
    return datasets


def plot_noise_sweep(df, *, ax=None, axes=None, log_y="auto", title=None):
    """Draw the paper's figure from a :func:`noise_sweep` result.

    Rank panel: the stable rank of the data, of the patches and of the learned filters
    against the noise level (mean over seeds, the band is +/- one standard deviation), with
    the clean data's rank as a dashed reference line. Accuracy panel: train and test accuracy.
    A fit that did not train (a non-empty ``training_warning``) is left out of the means and
    bands of the filter stable rank and the accuracies, and its own values are drawn as red
    crosses, counted in the legend (its filters are the initial ones).

    Parameters
    ----------
    df : pandas.DataFrame
        The tidy output of :func:`~sklrank.experiments.noise_sweep` (or its CSV read back):
        one row per fit, with columns ``noise_std``, ``data_stable_rank``,
        ``filter_stable_rank``, ``clean_rank``, ``train_accuracy`` and ``test_accuracy``;
        ``patch_stable_rank`` and ``dataset`` are used when present. The same frame works
        with seaborn directly, e.g. ``sns.relplot(data=df, x="noise_std",
        y="filter_stable_rank", hue="dataset", kind="line")``.
    ax : matplotlib Axes, default=None
        Draw the rank panel (the paper's claim) only, into this Axes.
    axes : array-like of 2 matplotlib Axes, default=None
        Draw the rank panel and the accuracy panel into these.
    log_y : bool or "auto", default="auto"
        Log scale for the ranks; "auto" uses it when the positive ones span more than a
        factor of 5. A log scale cannot show a rank of 0 (all-zero filters): such points are
        not drawn, with a warning (see Warns); ``log_y=False`` draws them.
    title : str, default=None
        The figure's title when this function creates the figure (None names the data
        sets); with ``ax`` or ``axes``, the rank panel's title (None: a description).

    Returns
    -------
    ax : matplotlib Axes or ndarray of Axes
        ``ax`` when given; else the Axes drawn on, (rank, accuracy): the given ``axes``, or
        those of a new figure (``ax[0].figure``), of shape (2,) for one data set and
        (n_datasets, 2) for several (one row each).

    Warns
    -----
    RuntimeWarning
        When the rank panel is on a log scale and some of its points (a mean over the seeds,
        or a fit crossed out as untrained) are 0 or below: matplotlib leaves them out; the
        warning counts them and names one.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklrank.experiments import noise_sweep, plot_noise_sweep
    >>> df = noise_sweep(noise_levels=[0.0, 1.0], n_seeds=2, verbose=0)  # doctest: +SKIP
    >>> fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))  # doctest: +SKIP
    >>> plot_noise_sweep(df, ax=left)  # doctest: +SKIP
    >>> fig.savefig("sweep.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    df = _check_frame(
        df,
        {"noise_std", "data_stable_rank", "filter_stable_rank", "clean_rank", "train_accuracy",
         "test_accuracy"},
        "noise_sweep",
    )
    if "n_train" in df.columns and df.groupby("dataset")["n_train"].nunique().max() > 1:
        sizes = sorted(int(n) for n in df["n_train"].unique())
        raise ValueError(
            f"df holds several training-set sizes (n_train {sizes}), which one band per noise "
            "level would mix; select one (df[df['n_train'] == n]) or draw them with "
            "plot_sample_size_study."
        )
    given = _check_axes(ax, axes, 2)
    datasets = _single_dataset(df, given)
    if given is None:
        fig, grid = plt.subplots(len(datasets), 2, figsize=(11, 4.2 * len(datasets)),
                                 squeeze=False)
        panels = [list(row) for row in grid]
    else:
        panels = [given]
    for row, name in zip(panels, datasets):
        part = df[df["dataset"] == name]
        _rank_panel(part, row[0], name, log_y)
        if len(row) > 1:
            _accuracy_panel(part, row[1], name)
        if given is not None and title is not None:
            row[0].set_title(title)
    if given is None:
        # (wrapped to the figure's width: a long title was cut off at both sides)
        fig.suptitle(title if title is not None
                     else "Noise sweep: " + ", ".join(str(d) for d in datasets), wrap=True)
        fig.tight_layout()
        return grid[0] if len(datasets) == 1 else grid
    return ax if ax is not None else np.asarray(given, dtype=object)


def _spread(df, keys):
    """What a panel's points show: the mean ± sd over seeds, or, with one fit a point (one
    seed), that fit alone (the title said "mean ± sd" where no band is drawn)."""
    return "one seed" if df.groupby(keys).size().max() == 1 else "mean ± sd over seeds"


def _err_style(x):
    """seaborn's error band, or bars where every point has the same x (one noise level, one
    size): a band over one x value has no width, and the spread over the seeds was not drawn
    at all."""
    return "bars" if pd.Series(x).nunique() == 1 else "band"


def _mark_untrained(ax, part, x, columns=("filter_stable_rank",)):
    """Cross out the learned numbers (``columns``) of the fits that did not train (a
    non-empty ``training_warning``: their loss never moved (or rose)), which the means and
    bands leave out (:func:`_learned_only`): those ranks are the initial filters', and the
    figure showed them as learned ones. The legend counts them."""
    from .._base import did_not_train

    flagged = part[did_not_train(part)]
    if flagged.empty:
        return
    label = (f"did not train: {len(flagged)} of {len(part)} fits (training_warning; not in "
             "the mean)")
    for column in columns:
        ax.scatter(flagged[x], flagged[column], marker="x", s=70, color="red", linewidths=1.5,
                   zorder=5, label=label)
        label = "_nolegend_"  # one entry, whatever the columns


def _learned_only(df):
    """``df`` with the learned numbers (the filter stable rank, the accuracies) of the fits
    that did not train set to NaN, which seaborn's means and bands skip, as
    ``sklrank sweep``'s table does."""
    from .._base import did_not_train

    untrained = did_not_train(df)
    learned = [c for c in ("filter_stable_rank", "train_accuracy", "test_accuracy") if c in df]
    return df.assign(**{column: df[column].mask(untrained) for column in learned})


def _one_level_tick(ax, x):
    """Where every point has the same x (one noise level), that level as the only tick:
    matplotlib centred the axis on it, so a sweep at noise 0 showed noise levels -0.04 ..."""
    levels = pd.Series(x).unique()
    if len(levels) == 1:
        ax.set_xticks(levels)


def _rank_panel(part, ax, name, log_y):
    import seaborn as sns

    palette = dict(zip(_RANKS.values(), sns.color_palette("deep", len(_RANKS))))
    rank_cols = [c for c in _RANKS if c in part.columns]
    ranks = _learned_only(part).melt(
        id_vars=["noise_std"], value_vars=rank_cols, var_name="matrix", value_name="rank"
    )
    ranks["matrix"] = ranks["matrix"].map(_RANKS)
    sns.lineplot(
        data=ranks, x="noise_std", y="rank", hue="matrix", palette=palette,
        errorbar="sd", err_style=_err_style(ranks["noise_std"]), marker="o", ax=ax,
    )
    clean = float(part["clean_rank"].median())
    ax.axhline(clean, color="black", ls="--", lw=1.2, label=f"clean data rank ({clean:g})")
    _mark_untrained(ax, part, "noise_std")
    values = ranks["rank"].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    use_log = (
        log_y if log_y != "auto"
        else values.size > 0 and values.max() > 5 * values.min()
    )
    if use_log:
        _log_scale(ax)
        _warn_off_log_scale(ranks, part, name, log_y)
    _one_level_tick(ax, ranks["noise_std"])
    ax.set_xlabel("noise standard deviation")
    ax.set_ylabel("stable rank")
    ax.set_title(f"{name}: stable rank ({_spread(part, 'noise_std')})")
    ax.legend(title=None, loc="best")
    ax.grid(True, which="both", alpha=0.3)


def _warn_off_log_scale(ranks, part, name, log_y):
    """Warn of the rank panel's points at or below 0, which a log scale has no place for:
    matplotlib leaves them out without a word (a mean rank of 0, all-zero filters at every
    seed, vanished from the figure)."""
    means = ranks.groupby(["matrix", "noise_std"], sort=False)["rank"].mean()
    off = [f"{matrix} at noise_std={noise:g}" for (matrix, noise), value in means.items()
           if value <= 0]
    from .._base import did_not_train

    flagged = part[did_not_train(part)]  # the crosses of _mark_untrained
    off += [f"a fit that did not train at noise_std={noise:g}"
            for noise in flagged.loc[flagged["filter_stable_rank"] <= 0, "noise_std"]]
    if off:
        why = (f"log_y={log_y!r}" if log_y != "auto"
               else 'log_y="auto": the ranks span more than a factor of 5')
        warnings.warn(
            f"plot_noise_sweep: {len(off)} point(s) of {name!r} with a stable rank of 0 or "
            f"below are not drawn: the log y scale ({why}) has no place for them, e.g. "
            f"{off[0]}. Pass log_y=False to draw them on a linear scale.",
            RuntimeWarning,
            stacklevel=4,
        )


def _accuracy_panel(part, ax, name):
    import seaborn as sns

    accs = _learned_only(part).melt(
        id_vars=["noise_std"], value_vars=list(_ACCURACIES), var_name="split",
        value_name="accuracy",
    )
    accs["split"] = accs["split"].map(_ACCURACIES)
    sns.lineplot(
        data=accs, x="noise_std", y="accuracy", hue="split", errorbar="sd",
        err_style=_err_style(accs["noise_std"]), marker="o", ax=ax,
    )
    _mark_untrained(ax, part, "noise_std", columns=list(_ACCURACIES))
    ax.set_ylim(0.0, 1.02)
    _one_level_tick(ax, accs["noise_std"])
    ax.set_xlabel("noise standard deviation")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{name}: accuracy ({_spread(part, 'noise_std')})")
    ax.legend(title=None, loc="best")
    ax.grid(True, alpha=0.3)


def _growth(df):
    """Per (dataset, n_train, seed): the filter and data stable ranks at the data set's
    largest noise level over those at its smallest, in long form. A group without a row at
    either level (e.g. the rows of fits that did not train dropped) has no growth: its own
    extremes would be another ratio than the panel's. A rank of 0 or below at either level
    (all-zero filters, which have no stable rank) leaves the growth undefined: NaN, with one
    RuntimeWarning naming such a row (it was numpy's "divide by zero encountered")."""
    rows, undefined = [], []
    extremes = df.groupby("dataset")["noise_std"].agg(["min", "max"])
    for (dataset, n, seed), group in df.groupby(["dataset", "n_train", "seed"], sort=True):
        smallest, largest = extremes.loc[dataset]
        low, high = (group[group["noise_std"] == level] for level in (smallest, largest))
        if low.empty or high.empty:
            continue
        low, high = low.iloc[0], high.iloc[0]
        for column, matrix in (("filter_stable_rank", "filters"), ("data_stable_rank", "data")):
            ranks = float(low[column]), float(high[column])
            if all(rank > 0 for rank in ranks):
                growth = ranks[1] / ranks[0]
            else:  # NaN where either is NaN (a fit that failed); undefined where one is <= 0
                growth = math.nan
                if not any(math.isnan(rank) for rank in ranks):
                    level = smallest if ranks[0] <= 0 else largest
                    undefined.append(f"{column}={ranks[0] if ranks[0] <= 0 else ranks[1]:g} "
                                     f"at noise_std={level:g} (dataset={dataset!r}, "
                                     f"n_train={n}, seed={seed})")
            rows.append({"dataset": dataset, "n_train": n, "seed": seed, "matrix": matrix,
                         "growth": growth})
    if undefined:
        warnings.warn(
            f"{len(undefined)} growth ratio(s) are undefined, set to NaN and left out of the "
            f"growth panel: a stable rank of 0 or below (all-zero filters have none) at the "
            f"smallest or the largest noise level, e.g. {undefined[0]}.",
            RuntimeWarning,
            stacklevel=3,
        )
    return pd.DataFrame(rows, columns=["dataset", "n_train", "seed", "matrix", "growth"])


def plot_sample_size_study(df, *, ax=None, axes=None, log_x=True, title=None):
    """Draw the sample-size study from a :func:`sample_size_study` result.

    Left panel: the filter stable rank against the training-set size, one line per noise
    level (mean over seeds, the band is +/- one standard deviation), with the clean data's
    rank as a dashed black line. Right panel: its growth from the smallest to the largest
    noise level (the ratio of the two, per seed), next to the data stable rank's growth,
    against the training-set size: the paper's claim holds where the filters' ratio stays
    near 1 while the data's is large. Several data sets in ``df`` (at most 15) are told apart
    by the line style (seaborn's default dashes), in both panels and on their clean-rank lines
    (black, one a data set, in its line style: the first data set's is solid); data sets of
    the same clean rank share one line.
    A fit that did not train (a non-empty ``training_warning``) is left out of the left
    panel's means and bands (its filter rank drawn as a red cross, counted in the legend)
    and has no filter growth.

    Parameters
    ----------
    df : pandas.DataFrame
        The tidy output of :func:`~sklrank.experiments.sample_size_study` (or its CSV read
        back), with columns ``n_train``, ``noise_std``, ``seed``, ``filter_stable_rank``,
        ``data_stable_rank`` and ``clean_rank`` (``dataset`` is used when present): one row
        per fit, ready for seaborn too, e.g. ``sns.relplot(data=df, x="n_train",
        y="filter_stable_rank", hue="noise_std", kind="line")``.
    ax : matplotlib Axes, default=None
        Draw the left panel (filter stable rank against n) only, into this Axes.
    axes : array-like of 2 matplotlib Axes, default=None
        Draw both panels into these.
    log_x : bool, default=True
        Log scale for the training-set size.
    title : str, default=None
        The figure's title when this function creates the figure; with ``ax`` or ``axes``,
        the left panel's title.

    Returns
    -------
    ax : matplotlib Axes or ndarray of 2 Axes
        ``ax`` when given; else the Axes drawn on (left, right): the given ``axes``, or those
        of a new figure (``ax[0].figure``).

    Warns
    -----
    RuntimeWarning
        When a stable rank of 0 or below (all-zero filters have none) at a data set's
        smallest or largest noise level leaves a growth ratio undefined: it is NaN and left
        out of the growth panel; the warning names such a row.

    Examples
    --------
    >>> from sklrank.experiments import sample_size_study, plot_sample_size_study
    >>> df = sample_size_study(n_samples=[1000, 4000], n_seeds=1)  # doctest: +SKIP
    >>> axes = plot_sample_size_study(df)  # doctest: +SKIP
    >>> axes[0].figure.savefig("sample_size.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = _check_frame(
        df, {"n_train", "noise_std", "seed", "filter_stable_rank", "data_stable_rank",
             "clean_rank"},
        "sample_size_study",
    )
    given = _check_axes(ax, axes, 2)
    levels = sorted(df["noise_std"].unique())
    # each data set's growth runs from its own smallest to its own largest level
    extremes = df.groupby("dataset", sort=False)["noise_std"].agg(["min", "max"])
    if given is None or len(given) == 2:
        if len(levels) < 2:
            raise ValueError(
                f"df holds one noise level ({levels[0]:g}); the growth panel needs two or "
                "more (or draw the left panel only, with ax=...)."
            )
        alone = [str(name) for name, row in extremes.iterrows() if row["min"] == row["max"]]
        if alone:  # its growth was its one row over itself: 1, "no growth", for every n
            raise ValueError(
                f"the data set(s) {alone} of df hold one noise level; the growth panel needs "
                "two or more for each (select the others, or draw the left panel only, with "
                "ax=...)."
            )
    if given is None:
        fig, panels = plt.subplots(1, 2, figsize=(11, 4.2))
        panels = list(panels)
    else:
        panels = given
    datasets = list(dict.fromkeys(df["dataset"]))
    several = len(datasets) > 1
    if len(datasets) > len(_DASHES):
        raise ValueError(
            f"df holds {len(datasets)} data sets, more than the {len(_DASHES)} line styles "
            "that tell them apart; select fewer, e.g. df[df['dataset'].isin([...])]."
        )
    # one order for both panels: the growth table is sorted by data set, and each panel drew
    # its first data set solid (two data sets swapped line styles from panel to panel); the
    # clean-rank lines take the same dashes (they were all "--": one could not tell whose
    # clean rank a line was)
    dashes = dict(zip(datasets, _DASHES))
    style = ({"style": "dataset", "style_order": datasets, "dashes": dashes} if several
             else {})

    left = panels[0]
    # (the fits that did not train: crossed out, not in the means and bands)
    data = _learned_only(df).assign(**{"noise std": df["noise_std"].map(lambda v: f"{v:g}")})
    order = [f"{v:g}" for v in levels]
    sns.lineplot(
        data=data, x="n_train", y="filter_stable_rank", hue="noise std", hue_order=order,
        palette=sns.color_palette("viridis", len(order)), errorbar="sd",
        err_style=_err_style(df["n_train"]), marker="o", ax=left, **style,
    )
    # one black line a clean rank (2K synthetic, K images), in the line style of its data
    # set; data sets of the same clean rank share the line (drawn in the style of the
    # first), its label names them all
    cleans = df.groupby("dataset", sort=False)["clean_rank"].median()
    for clean, names in cleans.groupby(cleans, sort=False).groups.items():
        names = list(names)
        if several:
            label = f"clean data rank, {', '.join(str(n) for n in names)} ({clean:g})"
            line = {"ls": (0, dashes[names[0]]) if dashes[names[0]] else "-"}
        else:
            label, line = f"clean data rank ({clean:g})", {"ls": "--"}
        left.axhline(clean, color="black", lw=1.2, label=label, **line)
    _mark_untrained(left, df, "n_train")
    sizes = sorted(df["n_train"].unique())
    _size_axis(left, sizes, log_x)
    left.set_ylabel("filter stable rank")
    left.set_title(
        f"filter stable rank against n ({_spread(df, ['dataset', 'n_train', 'noise_std'])})")
    # several data sets: seaborn's legend heads its hue and style entries itself
    left.legend(title=None if several else "noise std", loc="best")
    left.grid(True, which="both", alpha=0.3)

    if len(panels) > 1:
        right = panels[1]
        growth = _growth(_learned_only(df))  # (a fit that did not train: no filter growth)
        sns.lineplot(
            data=growth, x="n_train", y="growth", hue="matrix", hue_order=["filters", "data"],
            errorbar="sd", err_style=_err_style(df["n_train"]), marker="o", ax=right,
            **style,
        )
        right.axhline(1.0, color="black", ls=":", lw=1.0)
        values = growth["growth"].to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        if values.size and values.max() > 5 * values.min():
            _log_scale(right)
        _size_axis(right, sizes, log_x)
        if len(extremes.drop_duplicates()) == 1:
            right.set_ylabel(f"stable rank at noise {levels[-1]:g} / at noise {levels[0]:g}")
            right.set_title(f"growth from noise {levels[0]:g} to {levels[-1]:g} (per seed)")
        else:  # (it named the extremes of all the rows, those of no data set)
            right.set_ylabel("stable rank at the largest / at the smallest noise")
            right.set_title("growth from each data set's smallest to largest noise (per seed)")
        right.legend(title=None, loc="best")
        right.grid(True, which="both", alpha=0.3)

    if given is None:
        names = ", ".join(str(d) for d in datasets)
        fig.suptitle(title if title is not None else f"Sample-size study: {names}", wrap=True)
        fig.tight_layout()
        return np.asarray(panels, dtype=object)
    if title is not None:
        left.set_title(title)
    return ax if ax is not None else np.asarray(given, dtype=object)
