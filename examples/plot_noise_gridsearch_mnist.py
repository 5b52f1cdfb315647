"""
==========================================
Noise padding on MNIST: accuracy and ranks
==========================================

The paper's experiment on real images: two MNIST digits are reduced to rank K
(:class:`~sklrank.PCARankReducer`), each image is placed in one tile of a 2 x 2 canvas whose
other tiles are Gaussian noise (:class:`~sklrank.BackgroundNoise`), and a two-layer CNN whose
kernel is one image tile is trained by gradient descent (:class:`~sklrank.RankCNNClassifier`).
:func:`~sklrank.make_rank_pipeline` builds the three steps with matching shapes, and
:class:`~sklearn.model_selection.GridSearchCV` over ``noise__noise_std`` reports, per noise
level, the test accuracy, the stable rank of the data the CNN receives and the stable rank of
its filters (section A of :doc:`/science`; :doc:`/results`, section C, has the larger run).

The MNIST files are read from the folder in the ``SKLRANK_DATA`` environment variable (the
docs build sets it to the repository's ``../shared/data`` when that folder exists); without
it, :func:`~sklrank.datasets.fetch_mnist` looks in ``~/scikit_learn_data/sklrank`` and
downloads the files there if they are missing.
"""

# %%
# The data and the Pipeline
# -------------------------
# 300 images of the digits 3 and 8, rank K = 10 after the PCA step, 5 filters per class and
# 200 gradient steps: small enough to run in the docs build.

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklrank import make_rank_pipeline
from sklrank.datasets import fetch_mnist
from sklrank.metrics import data_stable_rank_scorer, filter_stable_rank_scorer

digits, n_components = [3, 8], 10
X, y = fetch_mnist(classes=digits, n_samples=300, random_state=0, return_X_y=True)
pipe = make_rank_pipeline((1, 28, 28), n_components=n_components, grid=(2, 2),
                          random_state=0, n_filters=5, max_epochs=200, lr=2.0,
                          init_std=0.01, rank_every=None)
print(X.shape, "->", pipe["cnn"].input_shape, "canvas, kernel", pipe["cnn"].kernel_size)

# %%
# The grid search
# ---------------
# The rank scorers unwrap the Pipeline: ``filter_stable_rank_scorer`` reads the fitted CNN's
# filters, ``data_stable_rank_scorer`` the test fold after the rank and noise steps (fresh
# noise, as the CNN would receive it).

search = GridSearchCV(
    pipe,
    {"noise__noise_std": [0.0, 1.0, 2.0]},
    scoring={"accuracy": "accuracy", "filter_rank": filter_stable_rank_scorer,
             "data_rank": data_stable_rank_scorer},
    refit="accuracy",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    error_score="raise",
).fit(X, y)

results = pd.DataFrame(search.cv_results_)
results.filter(regex="param_noise|mean_test_").round(3)

# %%
# The figure
# ----------
# Per-fold values in long form, plotted with seaborn: the band is the range over the folds.

scores = pd.concat(
    [
        pd.DataFrame({"noise_std": results["param_noise__noise_std"].astype(float),
                      "score": name, "value": results[f"split{fold}_test_{name}"]})
        for fold in range(search.n_splits_)
        for name in ("accuracy", "filter_rank", "data_rank")
    ],
    ignore_index=True,
)
fig, (ax_acc, ax_rank) = plt.subplots(1, 2, figsize=(10, 3.8))
sns.lineplot(scores[scores.score == "accuracy"], x="noise_std", y="value", marker="o",
             errorbar=("pi", 100), ax=ax_acc)
ax_acc.axhline(0.5, color="grey", ls=":", lw=1)
ax_acc.set(xlabel="background noise std", ylabel="test accuracy", ylim=(0.4, 1.0),
           title=f"MNIST {digits[0]} vs {digits[1]}: accuracy")
ranks = scores[scores.score != "accuracy"].replace(
    {"score": {"data_rank": "data (CNN input)", "filter_rank": "CNN filters"}})
sns.lineplot(ranks, x="noise_std", y="value", hue="score", style="score", markers=True,
             dashes=False, errorbar=("pi", 100), ax=ax_rank)
ax_rank.set(yscale="log", xlabel="background noise std", ylabel="stable rank",
            title=f"stable rank; the clean images have rank K = {n_components}")
# plain numbers at 1, 2, 5 of each decade (ScalarFormatter wrote only "1.0" and "10.0")
ax_rank.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
ax_rank.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
ax_rank.yaxis.set_minor_formatter(NullFormatter())
ax_rank.legend(title=None)
fig.tight_layout()

# %%
# From noise 0 to 2 the stable rank of the data the CNN receives grows from about 4 (the
# stable rank of the rank-10 clean canvases) to about 70, while the filters' grows from about
# 1.2 to under 3; the accuracy falls from 0.91 to about 0.6. The data rank of a test fold is
# bounded by its 100 rows: on larger folds it keeps growing (:doc:`/results`, section C, has
# 400 images and six noise levels).
