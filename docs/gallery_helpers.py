"""sphinx-gallery helpers named in docs/conf.py (by module path, so that the configuration
stays picklable)."""

from pathlib import Path

# The order of the gallery: from one fit to searches and sweeps, then the gradients, then
# what runs only on request. An example missing here comes after these, by file name.
ORDER = [
    "plot_classifier_defaults.py",
    "plot_filter_alignment.py",
    "plot_grid_search_rank_scorers.py",
    "plot_noise_gridsearch_mnist.py",
    "plot_cross_validated_rank_report.py",
    "plot_dask_sweep.py",
    "plot_gradient_spectrum.py",
    "plot_low_rank_gradients.py",
    "noise_sweep_full_mnist_gpu.py",
]


class ExampleOrder:
    """sphinx-gallery's ``within_subsection_order``: the examples in :data:`ORDER`."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)

    def __repr__(self):
        return f"{type(self).__name__}()"


def torch_threads(gallery_conf, fname):
    """One torch thread for every example (sphinx-gallery's ``reset_modules``).

    The examples' networks are small: one thread runs them about as fast as two on an idle
    2-core machine, and several times faster on a busy one (measured: a 300-step fit of
    RankCNNClassifier took 3 s on one thread against 35 s on two, while other jobs used the
    cores), so the build's time does not depend on what else the machine does. It also undoes
    a thread count an earlier example may have set.
    """
    import torch

    torch.set_num_threads(1)
