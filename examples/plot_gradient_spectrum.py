"""
================================================
The spectrum of the first-layer gradient at init
================================================

Sonthalia, Murray and Montúfar (2025) show that the gradient of a two-layer network with
respect to its first-layer weights ``W`` is approximately rank two on spiked data
``X = X_B + n^nu z q^T``: one term ``S1`` along the bulk residue direction ``X_B^T r`` and,
once the spike is strong enough (``1/4 <= nu < 1/2``), a second term ``S2`` along the spike
``q`` (section B of :doc:`/science`).

:func:`~sklrank.gradients.gradient_decomposition` computes ``G`` in closed form (checked
against autograd with ``check_autograd=True``), splits it, and reports the singular values
and the alignments. Here, at the paper's size (n = 750 samples, d = 1000 features, m = 1250
hidden units) and at the initial weights, for a weak (``nu = 0.1``) and a strong
(``nu = 0.4``) spike, with ReLU and tanh.
"""

# %%
# The decomposition in the two regimes
# ------------------------------------

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from sklrank.datasets import make_spiked
from sklrank.gradients import gradient_decomposition
from sklrank.nn import TwoLayerNet

n, d, m = 750, 1000, 1250
results = {}
for nu in (0.1, 0.4):
    X, y, spike = make_spiked(n, d, nu=nu, random_state=0, return_spike=True)
    for activation in ("relu", "tanh"):
        net = TwoLayerNet(d, m, activation=activation, random_state=0)
        results[nu, activation] = gradient_decomposition(net, X, y, spike=spike,
                                                         check_autograd=True)

table = pd.concat(
    [res.to_frame().assign(nu=nu, autograd_error=res.autograd_max_abs_error)
     for (nu, _), res in results.items()],
    ignore_index=True,
)
table[["nu", "activation", "sv1", "sv2", "sv3", "cos_residue_1", "cos_spike_1",
       "cos_spike_2", "spike_in_top2", "residue_in_top2", "top2_share", "autograd_error"]]

# %%
# ``cos_residue_k`` is the ``|cos|`` between ``G``'s k-th left singular vector and the residue
# direction, ``cos_spike_k`` that with ``q``; ``spike_in_top2`` (``residue_in_top2``) is the
# norm of the projection of ``q`` (of the unit residue direction) on the plane of the top two,
# ``top2_share`` the share of ``||G||_F^2`` in the top two singular values.
# ``autograd_error`` is the largest entry-wise difference between the closed form and
# autograd, relative to the largest entry: float64 rounding.
#
# With the weak spike (``nu = 0.1``) the gradient is one rank-one term along the residue: the
# top singular vector is the residue direction (``|cos|`` 0.998 or more), ``q`` is nearly
# absent from the top two (``spike_in_top2`` about 0.1), and ``sv2`` is at the level of the
# bulk. With the strong spike (``nu = 0.4``) the spike term dominates: the top singular vector
# is ``q`` (``|cos|`` 0.99 with ReLU, 0.94 with tanh), the residue direction comes second,
# and both lie close to the top-two plane (``spike_in_top2`` 0.99, ``residue_in_top2`` 0.95
# with ReLU and 0.87 with tanh). The top two singular values carry 96 % of ``||G||_F^2``.
#
# The singular values
# -------------------
# The first 30 singular values of ``G``
# (:meth:`~sklrank.gradients.GradientDecomposition.spectrum_frame`), divided by the largest.
# For ``nu = 0.1`` one value stands out. For ``nu = 0.4`` two do with ReLU; with tanh the
# second (0.059 of the largest, against 0.040 for the third) barely leaves the bulk.

spectra = pd.concat(
    [res.spectrum_frame().assign(nu=nu, activation=activation)
     for (nu, activation), res in results.items()],
    ignore_index=True,
)
spectra["relative"] = spectra["singular_value"] / spectra.groupby(
    ["nu", "activation"])["singular_value"].transform("max")
grid = sns.relplot(spectra[spectra["index"] <= 30], x="index", y="relative", hue="activation",
                   style="activation", col="nu", markers=True, dashes=False, kind="line",
                   height=3.4, aspect=1.3)
grid.set(yscale="log", xlabel="index k", ylabel="s_k / s_1")
grid.set_titles("nu = {col_name}, initial weights")
plt.show()
