"""
==============================================
Which signal direction does each filter learn?
==============================================

Zhang, Gao, Zou and Cao (2025) explain the low stable rank of the trained filters by a
winner-take-all mechanism: each filter ends up aligned with one signal direction of its
class, so the filter matrix has about as many independent rows as there are signal
directions (2K), however many filters there are and however noisy the data.

:meth:`~sklrank.RankCNNClassifier.filter_alignment` reports, for each filter, the signal
direction it is closest to and the ``|cos|`` with it. Here we train the classifier on
:func:`~sklrank.datasets.make_low_rank_patches` data with and without background noise and
look at the full table of cosines between filters and signal directions.
"""

# %%
# Two fits: clean and noisy data
# ------------------------------
# K = 2 directions per class (four in all), four patches of 64 values, the signal in patch 0,
# 10 filters per class so that the picture stays readable. ``return_basis=True`` gives the
# four signal directions and the class each belongs to.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklrank import RankCNNClassifier
from sklrank.datasets import make_low_rank_patches

fits = {}
for noise_std in (0.0, 1.0):
    X, y, basis, basis_class = make_low_rank_patches(
        n_samples=200, noise_std=noise_std, signal_position=0, random_state=0,
        return_basis=True,
    )
    clf = RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=10,
                            lr=12.5, max_epochs=300, random_state=0).fit(X, y)
    fits[noise_std] = clf
    print(f"noise {noise_std}: filter stable rank {clf.filter_stable_rank_:.2f}, "
          f"train accuracy {clf.score(X, y):.3f}")
print("class of each signal direction:", basis_class)

# %%
# The alignment report
# --------------------
# One row per filter: its bank (the class it votes for), the index of the signal direction
# with the largest ``|cos|``, and that ``|cos|``. The learning rate is scaled with the number
# of filters (``lr = 50`` is the default for 40 filters, see the ``lr`` parameter).

report = fits[1.0].filter_alignment(basis)
report.head(12)

# %%
# Summarised per bank and direction: how many filters each direction won and how well they
# align. Every direction is claimed by filters of its own class's bank. A filter that stayed
# near its small random initialisation points nowhere in particular: its largest ``|cos|`` is
# small (about 0.1-0.3 here), and it may be counted against a direction of the other class.

summary = {
    noise_std: clf.filter_alignment(basis)
    .groupby(["bank", "best_basis_index"])["max_abs_cos"]
    .agg(filters="size", mean_abs_cos="mean")
    for noise_std, clf in fits.items()
}
pd.concat(summary, names=["noise_std"]).round(3)

# %%
# All the cosines
# ---------------
# ``|cos|`` between every filter (rows, grouped by bank) and every signal direction
# (columns). A filter aligned with one direction is a row with one bright cell; a filter that
# mixes two directions of its class has two; a dark row is a filter that hardly moved.
#
# In this run the clean fit leaves about half of the filters near their initialisation (dark
# rows): a few filters win each direction and the others stop receiving gradient. With noise
# nearly every filter moves and follows one direction of its class (``|cos|`` about 0.9, the
# rest of the filter being noise of the 200 training samples) or a mix of the two. In both
# fits the filters of a bank stay within the span of their own class's directions (the other
# class's columns are dark), which is why their stable rank stays below 2K = 4.

fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharey=True)
for ax, (noise_std, clf) in zip(axes, fits.items()):
    filters = clf.filters_ / np.linalg.norm(clf.filters_, axis=1, keepdims=True)
    directions = basis / np.linalg.norm(basis, axis=1, keepdims=True)
    cosines = np.abs(filters @ directions.T)
    image = ax.imshow(cosines, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(basis)),
                  [f"{i}\n(class {c})" for i, c in enumerate(basis_class)], fontsize=8)
    ax.axhline(clf.n_filters - 0.5, color="white", lw=1)
    ax.set(title=f"noise std {noise_std:g}\nfilter stable rank {clf.filter_stable_rank_:.2f}",
           xlabel="signal direction")
axes[0].set_yticks([4.5, 14.5], [f"bank {c}" for c in fits[0.0].classes_], rotation=90,
                   va="center")
fig.colorbar(image, ax=axes, label="|cos(filter, direction)|", shrink=0.8)
plt.show()
