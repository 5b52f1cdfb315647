"""The figure of the noise sweep: stable ranks and accuracy against the noise level."""

import numpy as np
import pandas as pd

__all__ = ["plot_noise_sweep"]

_RANKS = {
    "data_stable_rank": "data",
    "patch_stable_rank": "patches",
    "filter_stable_rank": "filters",
}
_ACCURACIES = {"train_accuracy": "train", "test_accuracy": "test"}


def _minor_label(value, _):
    if value <= 0:
        return ""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:g}" if any(np.isclose(mantissa, m) for m in (2, 3, 5)) else ""


def plot_noise_sweep(df, axes=None, *, log_y="auto", title=None):
    """Draw the paper's figure from a :func:`noise_sweep` result.

    Left panel: the stable rank of the data, of the patches and of the learned filters
    against the noise level (mean over seeds, the band is +/- one standard deviation), with
    the clean data's rank as a dashed reference line. Right panel: train and test accuracy.
    A result holding several data sets gets one row of panels per data set.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`~sklrank.experiments.noise_sweep` (or its CSV read back), with
        columns ``noise_std``, ``seed``, ``data_stable_rank``, ``filter_stable_rank``,
        ``clean_rank``, ``train_accuracy`` and ``test_accuracy``; ``patch_stable_rank``
        and ``dataset`` are used when present.
    axes : array-like of 2 matplotlib Axes, default=None
        Where to draw (rank panel, accuracy panel), for a single data set. None creates a
        new figure.
    log_y : bool or "auto", default="auto"
        Log scale for the ranks; "auto" uses it when they span more than a factor of 5.
    title : str, default=None
        Figure title; None names the data set(s).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.

    Examples
    --------
    >>> from sklrank.experiments import noise_sweep, plot_noise_sweep
    >>> df = noise_sweep(noise_levels=[0.0, 1.0], n_seeds=2, verbose=0)  # doctest: +SKIP
    >>> fig = plot_noise_sweep(df)  # doctest: +SKIP
    >>> fig.savefig("sweep.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import FuncFormatter

    required = {"noise_std", "data_stable_rank", "filter_stable_rank", "clean_rank",
                "train_accuracy", "test_accuracy"}
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame from noise_sweep, got {type(df)}.")
    missing = sorted(required - set(df.columns))
    if missing:
        raise ValueError(f"df lacks the columns {missing}; pass the output of noise_sweep.")
    if df.empty:
        raise ValueError("df is empty: there is nothing to plot.")
    df = df.copy()
    if "dataset" not in df.columns:
        df["dataset"] = "data"
    datasets = list(dict.fromkeys(df["dataset"]))
    if axes is None:
        fig, axes = plt.subplots(
            len(datasets), 2, figsize=(11, 4.2 * len(datasets)), squeeze=False
        )
    else:
        if len(datasets) != 1:
            raise ValueError(
                f"axes can only be given for a single data set; df holds {datasets}."
            )
        axes = np.asarray(axes, dtype=object).reshape(1, 2)
        fig = axes[0, 0].figure

    palette = dict(zip(_RANKS.values(), sns.color_palette("deep", len(_RANKS))))
    for row, name in enumerate(datasets):
        part = df[df["dataset"] == name]
        ax_rank, ax_acc = axes[row]
        rank_cols = [c for c in _RANKS if c in part.columns]
        ranks = part.melt(
            id_vars=["noise_std"], value_vars=rank_cols, var_name="matrix", value_name="rank"
        )
        ranks["matrix"] = ranks["matrix"].map(_RANKS)
        sns.lineplot(
            data=ranks, x="noise_std", y="rank", hue="matrix", palette=palette,
            errorbar="sd", marker="o", ax=ax_rank,
        )
        clean = float(part["clean_rank"].median())
        ax_rank.axhline(clean, color="black", ls="--", lw=1.2,
                        label=f"clean data rank ({clean:g})")
        values = ranks["rank"].to_numpy(dtype=float)
        use_log = log_y if log_y != "auto" else values.max() > 5 * max(values.min(), 1e-12)
        if use_log:
            ax_rank.set_yscale("log")
            # plain numbers (2, 5, 20) rather than 2 x 10^0; minor ticks labelled at 2, 3, 5
            ax_rank.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax_rank.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
        ax_rank.set_xlabel("noise standard deviation")
        ax_rank.set_ylabel("stable rank")
        ax_rank.set_title(f"{name}: stable rank (mean ± sd over seeds)")
        ax_rank.legend(title=None, loc="best")
        ax_rank.grid(True, which="both", alpha=0.3)

        accs = part.melt(
            id_vars=["noise_std"], value_vars=list(_ACCURACIES), var_name="split",
            value_name="accuracy",
        )
        accs["split"] = accs["split"].map(_ACCURACIES)
        sns.lineplot(
            data=accs, x="noise_std", y="accuracy", hue="split", errorbar="sd", marker="o",
            ax=ax_acc,
        )
        ax_acc.set_ylim(0.0, 1.02)
        ax_acc.set_xlabel("noise standard deviation")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title(f"{name}: accuracy (mean ± sd over seeds)")
        ax_acc.legend(title=None, loc="best")
        ax_acc.grid(True, alpha=0.3)
    if title is None:
        title = "Noise sweep: " + ", ".join(str(d) for d in datasets)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
