"""
=============================
A cross-validated rank report
=============================

:func:`~sklearn.model_selection.cross_validate` takes any number of scorers. With the rank
scorers of :mod:`sklrank.metrics` next to the accuracy it gives, fold by fold, a report of
every rank the papers talk about: the stable and effective rank of the learned filters (all
of them, and each class's bank), of the data the network receives and of the patches its
filters see. ``return_estimator=True`` keeps the fitted Pipelines, so the filters themselves
can be looked at.

The data are MNIST digits 0 and 1, read from the folder in the ``SKLRANK_DATA`` environment
variable (the docs build sets it to the repository's ``../shared/data`` when that folder
exists; see :func:`~sklrank.datasets.get_data_home`).
"""

# %%
# The scorers
# -----------
# :func:`~sklrank.metrics.make_rank_scorer` builds one scorer per (matrix, rank) pair;
# ``bank=`` restricts the filters to one class's bank. All are stable ranks but
# ``filters_eff``, the effective rank of the filters.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.model_selection import StratifiedKFold, cross_validate

from sklrank import make_rank_pipeline
from sklrank.datasets import fetch_mnist
from sklrank.metrics import make_rank_scorer

X, y = fetch_mnist(classes=[0, 1], n_samples=300, random_state=0, return_X_y=True)
scoring = {
    "accuracy": "accuracy",
    "filters": make_rank_scorer("filters", "stable"),
    "filters_eff": make_rank_scorer("filters", "effective"),
    "bank_0": make_rank_scorer("filters", "stable", bank=0),
    "bank_1": make_rank_scorer("filters", "stable", bank=1),
    "data": make_rank_scorer("data", "stable"),
    "patches": make_rank_scorer("patches", "stable"),
}

# %%
# Five folds
# ----------
# Rank K = 10 images on a 2 x 2 canvas with noise of standard deviation 1 in the other three
# tiles; 5 filters per class.

pipe = make_rank_pipeline((1, 28, 28), n_components=10, noise_std=1.0, grid=(2, 2),
                          random_state=0, n_filters=5, max_epochs=200, lr=2.0,
                          rank_every=None)
cv = cross_validate(pipe, X, y, scoring=scoring,
                    cv=StratifiedKFold(5, shuffle=True, random_state=0),
                    return_estimator=True, error_score="raise")
report = pd.DataFrame({name: cv[f"test_{name}"] for name in scoring})
report.index.name = "fold"
report.round(3)

# %%
# Mean and standard deviation over the folds:

report.agg(["mean", "std"]).T.round(3)

# %%
# The ranks side by side
# ----------------------
# The filters' stable rank (all 10, or one bank of 5) stays small; the data's and the
# patches' are an order of magnitude larger. The effective rank counts the spread of the
# whole spectrum rather than its top, so it is larger than the stable rank of the same matrix.

ranks = report.drop(columns="accuracy").melt(var_name="rank", value_name="value")
fig, ax = plt.subplots(figsize=(7, 3.6))
sns.stripplot(ranks, y="rank", x="value", hue="rank", size=6, legend=False, ax=ax)
ax.set(xscale="log", xlabel="rank (one point per fold)", ylabel=None,
       title="MNIST 0 vs 1, noise std 1: cross-validated ranks")
ax.set_xticks([1, 2, 5, 10, 20, 50], ["1", "2", "5", "10", "20", "50"])
fig.tight_layout()

# %%
# The filters of one fold
# -----------------------
# Each filter covers one 28 x 28 tile of the canvas, so it reads as an image. Fold 0's ten
# filters, one row per class's bank: the filters that won look like the digit of their bank;
# the rest is noise they picked up, or their small initialisation.

# sphinx_gallery_thumbnail_number = 2
cnn = cv["estimator"][0]["cnn"]
filters = cnn.filters_.reshape(-1, 28, 28)
fig, axes = plt.subplots(2, cnn.n_filters, figsize=(9, 4))
for ax, image in zip(axes.ravel(), filters):
    limit = np.abs(image).max()
    ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_axis_off()
for row, label in zip(axes, cnn.classes_):
    row[0].set_title(f"bank of digit {label}", loc="left", fontsize=9)
fig.suptitle(f"fold 0: filter stable rank {report.loc[0, 'filters']:.2f}")
fig.tight_layout()
