"""Run before each gallery example (sphinx-gallery's ``reset_modules``, see docs/conf.py)."""


def torch_threads(gallery_conf, fname):
    """One torch thread for every example.

    The examples' networks are small: one thread runs them about as fast as two on an idle
    2-core machine, and several times faster on a busy one (measured: a 300-step fit of
    RankCNNClassifier took 3 s on one thread against 35 s on two, while other jobs used the
    cores), so the build's time does not depend on what else the machine does. It also undoes
    a thread count an earlier example may have set.
    """
    import torch

    torch.set_num_threads(1)
