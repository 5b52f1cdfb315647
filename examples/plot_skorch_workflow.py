"""
=======================================
A skorch workflow with the rank CNN
=======================================

:class:`~sklrank.RankCNNClassifier` is a :class:`skorch.NeuralNet`: skorch's validation split,
its callbacks and its history work as for any skorch net, and the filters' stable rank is one
more history column. This example holds out a validation set with
:class:`~skorch.dataset.ValidSplit`, scores the training accuracy every epoch with
:class:`~skorch.callbacks.EpochScoring`, draws the learning curves next to the filter rank,
and saves the weights with ``save_params`` and loads them into a fresh estimator with
``initialize()`` + ``load_params``. The user guide's :doc:`/user_guide/skorch` page has the
details.
"""

# %%
# Train with a validation split and a scoring callback
# ----------------------------------------------------
# The paper's synthetic data (:func:`~sklrank.datasets.make_low_rank_patches`): 400 samples of
# 4 patches of 64 values, one patch holding one of 2K = 4 signal directions, the others
# Gaussian noise. ``ValidSplit(0.25)`` holds out a stratified quarter for ``valid_loss`` and
# ``valid_acc``; the callback adds ``train_acc``.

import os
import tempfile

import matplotlib.pyplot as plt
import pandas as pd
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit

from sklrank import RankCNNClassifier
from sklrank.datasets import make_low_rank_patches

X, y = make_low_rank_patches(n_samples=400, noise_std=1.0, random_state=0)
params = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=10, lr=10.0)
clf = RankCNNClassifier(
    **params, max_epochs=150, random_state=0,
    train_split=ValidSplit(0.25, random_state=0),
    callbacks=[EpochScoring("accuracy", on_train=True, name="train_acc",
                            lower_is_better=False)],
)
clf = clf.fit(X, y)

# %%
# The history as a table
# ----------------------
# skorch's history holds one row an epoch; the columns below are skorch's own
# (``train_loss``, ``valid_loss``, ``valid_acc``), the callback's (``train_acc``) and the
# classifier's rank callback's (``filter_stable_rank``).

history = pd.DataFrame(clf.history)[
    ["epoch", "train_loss", "valid_loss", "train_acc", "valid_acc", "filter_stable_rank"]
]
history.iloc[[0, 9, 49, 99, 149]].round(3)

# %%
# Learning curves and the filter rank
# -----------------------------------

fig, (losses, rank) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
losses.plot(history.epoch, history.train_loss, label="train loss")
losses.plot(history.epoch, history.valid_loss, label="validation loss")
losses.set(xlabel="epoch", ylabel="cross-entropy", title="losses (ValidSplit(0.25))")
losses.legend()
losses.grid(alpha=0.3)
rank.plot(history.epoch, history.filter_stable_rank, color="tab:green")
rank.axhline(4, color="black", linestyle="--", label="clean data rank 2K = 4")
rank.set(xlabel="epoch", ylabel="stable rank", title="stable rank of the 20 filters")
rank.legend()
rank.grid(alpha=0.3)

# %%
# Save the weights, load them into a fresh estimator
# --------------------------------------------------
# ``save_params`` writes the module's weights; a new estimator with the same parameters,
# initialised, takes them with ``load_params``. ``classes`` gives it the labels (an
# initialised classifier without them predicts class indices, as in skorch). Its
# predictions and its fitted attributes (read from the network) are those of the trained one.

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "params.pt")
    clf.save_params(f_params=path)
    loaded = RankCNNClassifier(**params, classes=clf.classes_).initialize()
    loaded.load_params(f_params=path)

print("same predictions:", (loaded.predict(X) == clf.predict(X)).all())
print("same filter stable rank:", loaded.filter_stable_rank_ == clf.filter_stable_rank_)
print(f"accuracy on all 400 samples: {loaded.score(X, y):.3f}")
