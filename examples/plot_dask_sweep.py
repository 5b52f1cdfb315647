"""
===============================
A noise sweep on a Dask cluster
===============================

:func:`~sklrank.experiments.noise_sweep` trains one network per (noise level, seed) and
tabulates the data's and the filters' stable ranks. Its points run through joblib, so they can
run on a Dask cluster: pass ``dask_client=`` a :class:`dask.distributed.Client` (or the
address of a running scheduler). Every random draw of a point is seeded by the point's seed
and each fit runs with a fixed number of torch threads, so the cluster returns the same
numbers as a local run.

Here the cluster is a :class:`~dask.distributed.LocalCluster` on the loopback interface
(``127.0.0.1``, no dashboard), started and closed by the example. On a real cluster, pass the
scheduler's address instead: ``dask_client="tcp://scheduler:8786"`` (or ``sklrank sweep
--scheduler tcp://scheduler:8786`` on the command line). It needs the ``dask`` extra:
``pip install "sklrank[dask]"``.
"""

# %%
# Start a small cluster
# ---------------------
# Two workers of one thread each, in this process (``processes=False``), talking TCP on the
# loopback interface: the scheduler, the task graph and joblib's Dask backend are those of a
# real cluster, without starting new Python processes. Worker processes
# (``processes=True``) re-import the script that starts them, so such a script needs an
# ``if __name__ == "__main__":`` guard; they also set ``OMP_NUM_THREADS`` and friends to 1
# in the calling process's environment (see :doc:`/user_guide/gpu_and_dask`).

import matplotlib.pyplot as plt
import seaborn as sns
from dask.distributed import Client, LocalCluster

from sklrank.experiments import noise_sweep, plot_noise_sweep

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                       host="127.0.0.1", dashboard_address=None)
client = Client(cluster)
print(client)

# %%
# The sweep
# ---------
# The synthetic model of the paper (:data:`~sklrank.experiments.SYNTHETIC_DEFAULTS`: 200
# samples of 8 patches, 2K = 4 signal directions) at three noise levels and two seeds, six
# fits in all. ``classifier_params`` shortens training to 300 steps (the sweep's default is
# 1000, :data:`~sklrank.experiments.CLASSIFIER_DEFAULTS`) so that the example runs in seconds.

settings = dict(noise_levels=[0.0, 0.5, 1.0], classifier_params={"max_epochs": 300},
                verbose=0)
df = noise_sweep("synthetic", n_seeds=2, dask_client=client, **settings)
df[["noise_std", "seed", "data_stable_rank", "patch_stable_rank", "filter_stable_rank",
    "test_accuracy", "fit_time"]].round(3)

# %%
# The same numbers as a local run
# -------------------------------
# Seed 1 again, in this process:

local = noise_sweep("synthetic", seeds=[1], **settings)
on_cluster = df[df.seed == 1].reset_index(drop=True)
columns = ["data_stable_rank", "patch_stable_rank", "filter_stable_rank", "test_accuracy"]
print("identical to the last bit:", local[columns].equals(on_cluster[columns]))

# %%
# Close the cluster.

client.close()
cluster.close()

# %%
# The paper's figure, in a figure of your own
# -------------------------------------------
# :func:`~sklrank.experiments.plot_noise_sweep` draws into the Axes you give it, as seaborn's
# functions do: ``ax=`` takes one Axes for the stable ranks against the noise level (mean over
# seeds, band of one standard deviation, the clean data's rank dashed). The result is a tidy
# DataFrame, so the right panel is one seaborn call: each seed's test accuracy.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
plot_noise_sweep(df, ax=left)
sns.lineplot(data=df, x="noise_std", y="test_accuracy", units="seed", estimator=None,
             marker="o", color="tab:green", ax=right)
right.grid(alpha=0.3)
right.set(xlabel="noise standard deviation", ylabel="test accuracy",
          title="test accuracy (one line a seed)")
fig.suptitle("Synthetic data, 2 seeds, trained on a Dask cluster")
plt.show()
