"""
===================================
The full-MNIST noise sweep on a GPU
===================================

.. note::

   This example is **not run when the documentation is built**: it trains on all 60,000
   MNIST training images, which takes about a minute on one GPU and much longer on a CPU.
   Its code is shown as it is; run it yourself with ``python noise_sweep_full_mnist_gpu.py``
   (the MNIST files are read from ``SKLRANK_DATA`` or downloaded, see
   :func:`~sklrank.datasets.get_data_home`).

At the toy sizes of the other examples (a few hundred images) the filters of the CNN learn
part of the noise once it is strong, and their stable rank rises with it on all ten digits
(:doc:`/results`, section A.2). The paper's claim is about the population limit: with the
whole training set the filters' stable rank stays flat while the data's grows many-fold.
Measured by the project on an NVIDIA H200 (issue 13, one seed, K = 10, 2 x 2 canvas, all ten
digits): the filter stable rank went from 6.12 at noise 0 to 6.54 at noise 1, while the data's
went from 1.59 to 63.3; at n = 1000 it went from 6.33 to 17.0. The sweep took 46 s.
"""

# %%
# The sweep
# ---------
# :func:`~sklrank.experiments.noise_sweep` on all ten digits with every training image; the
# networks train on the GPU given by ``device`` (``"cpu"`` where there is none; the data, the
# PCA and the data ranks stay on the CPU). ``sklrank sweep --dataset mnist --n-samples 60000
# --device cuda`` does the same from the command line.

import matplotlib.pyplot as plt
import torch

from sklrank.experiments import noise_sweep, plot_noise_sweep

device = "cuda" if torch.cuda.is_available() else "cpu"
df = noise_sweep(
    "mnist",
    noise_levels=[0.0, 0.1, 0.3, 1.0],
    n_seeds=1,
    n_samples=60_000,
    device=device,
)
df[["noise_std", "data_stable_rank", "filter_stable_rank", "test_accuracy", "fit_time"]]

# %%
# The figure
# ----------

# :func:`~sklrank.experiments.plot_noise_sweep` draws into the two Axes given (the ranks and
# the accuracies) and returns them.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
plot_noise_sweep(df, axes=axes, title=f"MNIST, all digits, n = 60000 ({device})")
fig.savefig("sweep_mnist_full.png", dpi=120)
